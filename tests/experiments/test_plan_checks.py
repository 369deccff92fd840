"""Issue 18 item 3: ``--plan`` runs every check the run makes before its first LLM call and costs every request.

Each command's ``--plan`` goes through the same prepare step as its run (:mod:`experiments.plan`): broken human
data, ``em`` on unordered categories and missing inputs are refused in the run's own one line; the
``[treatment]`` requests are costed; no model is ever loaded.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import experiments.common
from experiments.cli import main
from experiments.study import load_study, plan_study, run_study
from populace_lm.fakes import KnownDistributionModel
from tests.experiments.test_study_multidim import _write as write_moods
from tests.experiments.test_study_treatment import MESSAGE, _weights

SURVEY = """\
kind = "survey"
name = "civic"
[scale]
type = "range"
low = 1
high = 5
labels = { 1 = "no", 5 = "yes" }
[[items]]
id = "t1"
text = "I trust my neighbours."
[data]
path = "civic.csv"
"""

CATEGORIES = """\
kind = "survey"
name = "vote"
[scale]
type = "categorical"
categories = [{ label = "Red", code = "r" }, { label = "Blue", code = "b" }]
[[items]]
id = "party"
text = "Which party do you vote for?"
[data]
path = "vote.csv"
"""

BROKEN = {
    "non-number": ("t1\n1\n2\nlots\n3\n", r"row 4, column 't1'.*'lots' is not a number"),
    "empty": ("", r"cannot read .*civic\.csv"),
    "header only": ("t1\n", r"civic\.csv has no respondent left \(0 rows read"),
    "missing column": ("other\n1\n2\n", r"column 't1' is not in"),
}


@pytest.fixture(autouse=True)
def no_model(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("--plan must not load a model")

    monkeypatch.setattr(experiments.common, "model_from_args", refuse)
    monkeypatch.setattr("experiments.cmd_fit.model_from_args", refuse)
    monkeypatch.setattr("experiments.cmd_align.model_from_args", refuse)


def _study(tmp_path, scenario: str, kind: str = "fixed") -> str:
    p = tmp_path / "study.toml"
    p.write_text(
        f'scenarios = ["{scenario}"]\nagents = 10\nrepeats = 2\n[[constructions]]\nname = "c"\nkind = "{kind}"\n'
    )
    return str(p)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_plan_reads_the_data_and_refuses_a_broken_csv(tmp_path, capsys, case):
    text, match = BROKEN[case]
    (tmp_path / "civic.toml").write_text(SURVEY)
    (tmp_path / "civic.csv").write_text(text)
    toml = str(tmp_path / "civic.toml")
    assert main(["compare", _study(tmp_path, toml), "--plan"]) == 2
    captured = capsys.readouterr()
    assert "estimated" not in captured.out and len(captured.err.strip().splitlines()) == 1, captured.err
    assert re.search(match, captured.err), captured.err
    assert main(["fit", "--builder", "em", "--scenario", toml, "--out", str(tmp_path / "p.json"), "--plan"]) == 2
    captured = capsys.readouterr()
    assert "estimated" not in captured.out
    assert re.search(match, captured.err), captured.err


def test_plan_refuses_em_on_unordered_categories_as_the_run_does(tmp_path, capsys):
    (tmp_path / "vote.toml").write_text(CATEGORIES)
    (tmp_path / "vote.csv").write_text("party\n" + "r\nb\n" * 20)
    toml = str(tmp_path / "vote.toml")
    assert main(["compare", _study(tmp_path, toml, "em"), "--plan"]) == 2
    assert "needs ordered answers" in capsys.readouterr().err
    assert main(["compare", _study(tmp_path, toml, "fixed"), "--plan"]) == 0
    assert main(["fit", "--builder", "em", "--scenario", toml, "--out", str(tmp_path / "p.json"), "--plan"]) == 2
    assert "needs ordered answers" in capsys.readouterr().err


class Recorder(KnownDistributionModel):
    """The fake, remembering each distinct distribution request (its messages)."""

    def __init__(self):
        prompts = ("You are upbeat and outgoing, and you love company.", "You are reserved and quiet.")
        self.seen: set[tuple] = set()

        def weights(messages, answers):
            self.seen.add(tuple((m.role, m.content) for m in messages))
            return _weights(messages, answers)

        super().__init__(weights, model_id="rec", generate_fn=lambda r: prompts[r.seed % 2])


@pytest.mark.parametrize(("scenario", "q"), [("moods.toml:a", 1), ("moods.toml", 3)])
def test_plan_costs_the_treatment_requests_the_run_makes(tmp_path, scenario, q):
    write_moods(tmp_path)
    (tmp_path / "study.toml").write_text(
        f'scenarios = ["{scenario}"]\nagents = 20\nrepeats = 2\n[[constructions]]\nname = "fixed"\nkind = "fixed"\n'
        f'[treatment]\ntext = "{MESSAGE}"\nseeds = 3\nagents = 6\n'
    )
    study = load_study(tmp_path / "study.toml")
    rows = plan_study(study)
    treated = [r for r in rows if r["scenario"].endswith("[treatment]")]
    assert len(treated) == 1 and treated[0]["est_requests"] == q  # one fixed prompt × Q questions
    model = Recorder()
    run_study(study, model, progress=False)
    made_treated = sum(1 for msgs in model.seen if any(MESSAGE in c for _, c in msgs))
    assert made_treated == treated[0]["est_requests"]
    assert len(model.seen) == sum(r["est_requests"] for r in rows)


def test_every_command_has_a_plan_that_loads_no_model(tmp_path, capsys):
    write_moods(tmp_path)
    toml = str(tmp_path / "moods.toml")
    pop = tmp_path / "pop.json"
    from populations.persona import Persona, Population

    Population(
        personas=tuple(Persona(id=f"p{i}", text=f"You are person {i}.") for i in range(5)),
        weights=np.full(5, 0.2),
        construction="test",
    ).save(pop)
    commands = {
        "fit": ["fit", "--builder", "em", "--scenario", toml + ":a", "--out", str(tmp_path / "f.json"),
                "--n-components", "3", "--improve-rounds", "0"],
        "run": ["run", "--scenario", toml, "--population", str(pop), "--agents", "4", "--out", str(tmp_path / "r")],
        "whatif": ["whatif", "--scenario", toml, "--population", str(pop), "--agents", "4", "--seeds", "2",
                   "--treatment", "Hello.", "--out", str(tmp_path / "w")],
        "align": ["align", "--pool", str(tmp_path / "pool.jsonl"), "--scenario", toml, "--out",
                  str(tmp_path / "a.jsonl"), "--matrix-dir", str(tmp_path / "m")],
        "select": ["select", "--population", str(pop), "--query", "tall people", "--k", "2", "--revise",
                   "--out", str(tmp_path / "s.jsonl")],
    }  # fmt: skip
    # run: min(5 personas, 4 agents) × 3 items; whatif: min(5, 4 × 2) × 3 per condition; align: 12 × 3; select: k
    expected = {"fit": None, "run": 4 * 3, "whatif": 2 * 5 * 3, "align": 12 * 3, "select": 2}
    for name, argv in commands.items():
        assert main([*argv, "--plan"]) == 0, (name, capsys.readouterr().err)
        out = capsys.readouterr().out
        assert f"{name} --plan: every check" in out and "no model loaded" in out
        total = int(out.split("estimated distinct LLM requests: ")[1].split(",")[0])
        if expected[name] is not None:
            assert total == expected[name], (name, out)
        else:
            assert total > 0
        assert not (tmp_path / argv[argv.index("--out") + 1]).exists()
    bad_run = [a if a != str(pop) else str(tmp_path / "nope.json") for a in commands["run"]]
    assert main([*bad_run, "--plan"]) == 2  # the population file is read by the plan
    assert main([*commands["align"], "--items", "zz", "--plan"]) == 2
    assert "no item 'zz'" in capsys.readouterr().err
