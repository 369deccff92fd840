"""``populace run / whatif / compare`` with a fake model (patched into experiments.common.model_from_args)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import experiments.common
from experiments.cli import main
from populace_lm.fakes import KnownDistributionModel
from populations.persona import Persona, Population

REPO = Path(__file__).resolve().parents[2]


TREATMENT = "Everyone around you is outgoing."


def _weights(messages, answers):
    w = np.linspace(1.0, 2.0, answers.size)
    if any(TREATMENT in m.content for m in messages):
        w = w * np.linspace(0.2, 3.0, answers.size)  # the treatment moves answers up
    return w


@pytest.fixture
def fake(monkeypatch):
    model = KnownDistributionModel(_weights, valid_mass=0.95)
    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: model)
    monkeypatch.setenv("POPULACE_QUIET", "1")  # the global --quiet lives in experiments/cli.py
    return model


def _pop_file(tmp_path):
    pop = Population(
        personas=(Persona(id="a", text="You are kind."), Persona(id="b", text="You are shy.")),
        weights=np.array([0.3, 0.7]),
        construction="test",
    )
    return str(pop.save(tmp_path / "pop.json"))


def test_run_writes_parquet_manifest_and_report(tmp_path, fake, capsys):
    args = [
        "run",
        "--population",
        _pop_file(tmp_path),
        "--scenario",
        "public_goods",
        "--agents",
        "20",
        "--rounds",
        "2",
        "--network",
        "watts_strogatz:k=4,p=0.1",
        "--seed",
        "5",
    ]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "20 agents, 40 decisions from" in out and "backend calls" in out and "cache hits" in out
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = (tmp_path / d / "records.parquet" for d in "ab")
    assert a.read_bytes() == b.read_bytes()
    rec = pd.read_parquet(a)
    assert len(rec) == 40 and set(rec["persona_id"]) <= {"a", "b"}
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["config"]["network"]["kind"] == "watts_strogatz"
    assert "populace run" in manifest["command"]
    assert (tmp_path / "a" / "report.md").is_file()


def test_run_fixed_population_survey(tmp_path, fake):
    assert (
        main(
            [
                "run",
                "--population",
                "fixed",
                "--scenario",
                "bigfive:E",
                "--agents",
                "10",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    rec = pd.read_parquet(tmp_path / "records.parquet")
    assert len(rec) == 100 and set(rec["persona_id"]) == {"fixed"}


def test_bad_input_is_one_line_and_makes_no_call(tmp_path, fake, capsys):
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"kind": "populace.run"}))
    edges = tmp_path / "edges.txt"
    edges.write_text("0 1\n1 2\n")
    cases = [
        (["run", "--population", str(wrong), "--scenario", "dictator"], "not a population file"),
        (["run", "--population", str(tmp_path / "nope.json"), "--scenario", "dictator"], "does not exist"),
        (["run", "--population", "fixed", "--scenario", "public_goods", "--param", "tax=3"], "unknown parameter"),
        (
            [
                "run",
                "--population",
                "fixed",
                "--scenario",
                "public_goods",
                "--agents",
                "4",
                "--rounds",
                "2",
                "--network",
                f"edge_list:path={edges}",
            ],
            r"isolated agent(s) in the network (3)",
        ),
        (
            [
                "whatif",
                "--population",
                "fixed",
                "--scenario",
                "public_goods",
                "--baseline",
                "multiplier=1.6",
                "--intervention",
                "multiplier=240",
            ],
            "out of range",
        ),
        (
            ["whatif", "--population", "fixed", "--scenario", "public_goods", "--intervention", "bonus=1"],
            "unknown parameter 'bonus'",
        ),
        (["compare", str(tmp_path / "missing.toml")], "does not exist"),
        (
            ["whatif", "--population", "fixed", "--scenario", "bigfive:E", "--treatment", ""],
            "the treatment text is empty",
        ),
        (
            ["whatif", "--population", "fixed", "--scenario", "bigfive:E", "--treatment", "  "],
            "the treatment text is empty",
        ),
        (["whatif", "--population", "fixed", "--scenario", "bigfive:E"], "--intervention NAME=VALUE"),
        (
            ["whatif", "--population", "fixed", "--scenario", "bigfive:E", "--intervention", "stakes=3"],
            "use --treatment TEXT",
        ),
        (
            [
                "whatif",
                "--population",
                "fixed",
                "--scenario",
                "dictator",
                "--intervention",
                "stakes=3",
                "--treatment",
                "x",
            ],
            "not both",
        ),
        (["run", "--population", "fixed", "--scenario", "bigfive:Q"], "'Q'"),  # names the unknown dimension
    ]
    for argv, message in cases:
        assert main([*argv, "--out", str(tmp_path / "o")]) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert fake.calls == 0


def test_compare_config_naming_a_missing_file_fails_before_any_call(tmp_path, fake, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('scenarios = ["dictator"]\n[[constructions]]\nname = "x"\nkind = "file"\npath = "nope/pop.json"\n')
    assert main(["compare", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "population file" in err and str(tmp_path / "nope" / "pop.json") in err
    cfg.write_text('scenarios = ["dictator"]\n[[constructions]]\nname = "x"\nkind = "pool"\npool = "no_such_pool"\n')
    assert main(["compare", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "no_such_pool" in capsys.readouterr().err
    cfg.write_text('scenarios = ["dictator"]\ncolour = 1\n[[constructions]]\nname = "x"\nkind = "fixed"\n')
    assert main(["compare", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "unknown key(s) ['colour']" in capsys.readouterr().err
    assert fake.calls == 0


def test_compare_end_to_end_with_a_fake(tmp_path, fake, data_dir, capsys):
    pop = _pop_file(tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'agents = 60\nscenarios = ["dictator"]\ndata = "{data_dir}"\n'
        '[[constructions]]\nname = "fixed"\nkind = "fixed"\n'
        '[[constructions]]\nname = "file"\nkind = "file"\npath = "pop.json"\n'
    )
    assert Path(pop).parent == tmp_path
    assert main(["compare", str(cfg), "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "table.csv")
    assert set(table["construction"]) == {"fixed", "file"}
    assert (tmp_path / "out" / "grid.png").stat().st_size > 1000
    assert "floor_mean" in capsys.readouterr().out


def test_whatif_end_to_end_with_a_fake(tmp_path, fake, capsys):
    assert (
        main(
            [
                "whatif",
                "--population",
                "fixed",
                "--scenario",
                "public_goods",
                "--baseline",
                "multiplier=1.6",
                "--intervention",
                "multiplier=2.4",
                "--rounds",
                "2",
                "--seeds",
                "3",
                "--agents",
                "8",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    diff = pd.read_csv(tmp_path / "differences.csv")
    assert {"mean_decision", "cooperation_rate", "gini_payoff"} <= set(diff["outcome"])
    assert (tmp_path / "gini_payoff.png").is_file()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["baseline"] == {"multiplier": "1.6"} and manifest["seeds"]["paired"] is True


def test_survey_whatif_with_a_treatment_end_to_end(tmp_path, fake, capsys):
    pop = _pop_file(tmp_path)
    argv = ["whatif", "--population", pop, "--scenario", "bigfive:E", "--treatment", TREATMENT, "--seeds", "4",
            "--agents", "12", "--seed", "3"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert "LLM cost:" in printed and "effects.png" in printed
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    a, b = (tmp_path / d for d in "ab")
    assert (a / "records.parquet").read_bytes() == (b / "records.parquet").read_bytes()
    diff = pd.read_csv(a / "differences.csv")
    items = diff[diff["kind"] == "item"]
    assert len(items) == 10 and (items["ci_low"] > 0).all()
    assert set(diff["kind"]) == {"item", "score"} and "exact_difference" in diff
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["treatment"] == {"text": TREATMENT, "where": "question"}
    assert manifest["config"]["rounds"] == 1 and manifest["seeds"]["paired"] is True
    assert manifest["decisions"]["distinct_prompts"] == 2 * 2 * 10
    assert (a / "effects.png").stat().st_size > 1000
    rec = pd.read_parquet(a / "records.parquet")
    assert set(rec["condition"]) == {"baseline", "intervention"} and len(rec) == 2 * 4 * 12 * 10


def test_system_treatment_and_run_of_a_survey_print_scores(tmp_path, fake, capsys):
    argv = ["whatif", "--population", "fixed", "--scenario", "bigfive:E", "--treatment", TREATMENT, "--where",
            "system", "--seeds", "2", "--agents", "5", "--out", str(tmp_path / "w")]  # fmt: skip
    assert main(argv) == 0
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert manifest["treatment"]["where"] == "system"
    assert "after the persona's system prompt" in (tmp_path / "w" / "report.md").read_text()
    capsys.readouterr()
    assert main(["run", "--population", "fixed", "--scenario", "bigfive:N", "--agents", "6",
                 "--out", str(tmp_path / "r")]) == 0  # fmt: skip
    assert "score_N: mean" in capsys.readouterr().out
    scores = pd.read_csv(tmp_path / "r" / "scores.csv")
    assert len(scores) == 6 and scores["score_N"].between(10, 50).all()


USER_SURVEY = """\
kind = "survey"
name = "civic"
[scale]
type = "range"
low = 1
high = 5
labels = { 1 = "disagree", 5 = "agree" }
[[items]]
id = "t1"
text = "I trust my neighbours."
dimension = "trust"
[[items]]
id = "t2"
text = "People mostly look out for themselves."
dimension = "trust"
reverse = true
[dimensions.trust]
scoring = "sum"
[data]
path = "answers.csv"
"""
USER_DECISION = """\
kind = "decision"
name = "donation"
[decision]
instruction = "You received 10 tokens. How many do you donate to charity, from 0 to 10?"
answer_stem = "I donate "
low = 0
high = 10
[data]
path = "answers.csv"
column = "donation"
"""


def _user_files(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["t1,t2,donation"] + [f"{a},{b},{c}" for a, b, c in rng.integers([1, 1, 0], [6, 6, 11], size=(40, 3))]
    (tmp_path / "answers.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "civic.toml").write_text(USER_SURVEY)
    (tmp_path / "donation.toml").write_text(USER_DECISION)


def test_user_survey_and_decision_files_in_run_and_whatif(tmp_path, fake, capsys):
    pytest.importorskip("scenarios.loader", reason="scenario files need the scenarios protocol (issue 12 item 2)")
    _user_files(tmp_path)
    for scenario, n_items in ((f"{tmp_path}/civic.toml:trust", 2), (f"{tmp_path}/donation.toml", 1)):
        out = tmp_path / f"run_{n_items}"
        assert main(["run", "--population", "fixed", "--scenario", scenario, "--agents", "6", "--out", str(out)]) == 0
        assert len(pd.read_parquet(out / "records.parquet")) == 6 * n_items
        assert "score_" in capsys.readouterr().out
        out = tmp_path / f"whatif_{n_items}"
        argv = [
            "whatif",
            "--population",
            "fixed",
            "--scenario",
            scenario,
            "--treatment",
            TREATMENT,
            "--seeds",
            "6",
            "--agents",
            "8",
            "--out",
            str(out),
        ]  # fmt: skip  (6 seeds: the t interval is honest, so wider)
        assert main(argv) == 0
        diff = pd.read_csv(out / "differences.csv")
        assert (diff["kind"] == "item").sum() == n_items and (diff["kind"] == "score").sum() == 1
        assert (diff[diff["kind"] == "item"]["ci_low"] > 0).all()  # the fake's treatment moves answers up


def test_run_on_a_survey_reports_items_not_rounds(tmp_path, fake, capsys):
    """Issue 18 item 7: items labelled by id, no game lines or columns, scores named, every written file counted."""
    _user_files(tmp_path)
    out = tmp_path / "survey"
    argv = ["run", "--population", "fixed", "--scenario", f"{tmp_path}/civic.toml:trust", "--agents", "4",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    outcomes = pd.read_csv(out / "outcomes.csv")
    assert list(outcomes.columns) == ["replicate", "item", "mean_answer", "parse_failure_rate"]
    assert outcomes["item"].tolist() == ["t1", "t2"]
    report = (out / "report.md").read_text()
    assert "game parameters" not in report and "network:" not in report and "round" not in report.lower()
    assert "cooperation_rate" not in report and "score_trust" in report
    files = json.loads((out / "manifest.json").read_text())["files"]
    assert len(files) == 5 and sorted(files) == sorted(p.name for p in out.iterdir())
    assert f"wrote {len(files)} files to {out}" in printed and "score_trust: mean" in printed
