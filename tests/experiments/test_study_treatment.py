"""A study's ``[treatment]`` table: the same paired what-if on every fitted population of ``populace compare``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from experiments.reporting import write_study
from experiments.study import StudyError, load_study, run_study
from populace_lm.fakes import KnownDistributionModel
from tests.experiments.test_study_multidim import HIGH, LOW, _write

MESSAGE = "Your town has just opened a lively new social club."
SEEN: set[str] = set()  # roles of the messages that carried the treatment


def _weights(messages, answers):
    """Outgoing personas answer 7..10 on a and b, reserved ones 0..3; the message pushes every answer up."""
    system = " ".join(m.content for m in messages if m.role == "system")
    v = np.asarray(answers.values, dtype=float)
    up = ("alone" in messages[-1].content) != ("outgoing" in system)
    if "outgoing" in system or "reserved" in system:
        w = np.where(v >= 7, 1.0, 1e-3) if up else np.where(v <= 3, 1.0, 1e-3)
    else:
        w = np.ones_like(v)
    if any(MESSAGE in m.content for m in messages):
        SEEN.update(m.role for m in messages if MESSAGE in m.content)
        w = w * np.exp(0.5 * v)
    return w


@pytest.fixture
def fake():
    prompts = (HIGH, LOW)
    return KnownDistributionModel(_weights, model_id="moods-fake", generate_fn=lambda r: prompts[r.seed % 2])


def _study(tmp_path, treatment: str) -> str:
    return (
        'scenarios = ["moods.toml:a", "moods.toml"]\nagents = 40\nrepeats = 2\n'
        '[[constructions]]\nname = "fixed"\nkind = "fixed"\n'
        '[[constructions]]\nname = "pool"\nkind = "pool"\npool = "pool.jsonl"\nn_personas = 4\n'
        '[[constructions]]\nname = "em"\nkind = "em"\nn_components = 2\nmax_iter = 1\nimprove_rounds = 0\n'
        f"{treatment}"
    )


@pytest.mark.parametrize("where", ["question", "system"])
def test_treatment_runs_paired_on_every_chosen_construction(tmp_path, fake, where):
    _write(tmp_path)
    t = f'[treatment]\ntext = "{MESSAGE}"\nwhere = "{where}"\nseeds = 3\nagents = 6\nconstructions = ["fixed", "em"]\n'
    (tmp_path / "study.toml").write_text(_study(tmp_path, t))
    study = load_study(tmp_path / "study.toml")
    assert study.settings()["treatment"]["where"] == where
    SEEN.clear()
    result = run_study(study, fake, progress=False)
    expected_roles = {"system" if where == "system" else "user"}
    assert expected_roles == SEEN
    rows = pd.DataFrame(result.treatment)
    assert set(rows["construction"]) == {"fixed", "em"}  # "pool" is not treated
    assert set(rows["scenario"]) == {"moods:a", "moods"}
    one = rows[rows["scenario"] == "moods:a"]
    assert set(one["outcome"]) == {"a", "score"} and (one["n_replicates"] == 3).all()
    three = rows[(rows["scenario"] == "moods") & (rows["kind"] == "score")]
    assert sorted(three["outcome"]) == sorted(["score:a", "score:b", "score:c"] * 2)
    assert three["exact_difference"].notna().all()  # per dimension, from the answer distributions
    items = rows[rows["kind"] == "item"]
    assert (items["difference"] > 0).all()  # the message moves every answer up, in every population
    assert (items["ci_high"] > 0).all() and (items["ci_method"] == "t").all()  # 3 seeds: a wide, honest t interval
    assert (rows["exact_difference"].dropna() > 0).all() and rows["exact_difference"].notna().any()
    treated_cost = [c for c in result.cost if c["scenario"].endswith("[treatment]")]
    assert [(c["construction"], c["scenario"]) for c in treated_cost] == [
        ("fixed", "moods:a [treatment]"),
        ("em", "moods:a [treatment]"),
        ("fixed", "moods [treatment]"),
        ("em", "moods [treatment]"),
    ]
    assert all(c["requests"] > 0 for c in treated_cost)

    out = write_study(tmp_path / "out", result, model_id="moods-fake")
    assert pd.read_csv(out / "treatment.csv").shape[0] == len(rows)
    assert (out / "treatment.png").stat().st_size > 0
    assert "## Treatment" in (out / "report.md").read_text()
    assert json.loads((out / "scores.json").read_text())["treatment"] == result.treatment


def test_treatment_effects_are_reproducible(tmp_path, fake):
    _write(tmp_path)
    t = f'[treatment]\ntext = "{MESSAGE}"\nseeds = 2\nagents = 4\n'
    (tmp_path / "study.toml").write_text(_study(tmp_path, t).replace('"moods.toml:a", ', ""))
    a = run_study(load_study(tmp_path / "study.toml"), fake, progress=False).treatment
    b = run_study(load_study(tmp_path / "study.toml"), fake, progress=False).treatment
    assert a == b and {r["construction"] for r in a} == {"fixed", "pool", "em"}


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ('[treatment]\ntext = "  "\n', r"treatment\.text: expected a non-empty string"),
        ('[treatment]\nwhere = "question"\n', r"treatment\.text: missing required key"),
        ('[treatment]\ntext = "x"\nwhere = "persona"\n', r"treatment\.where = 'persona' must be one of question"),
        ('[treatment]\ntext = "x"\nseeds = 1\n', r"treatment\.seeds = 1 must be >= 2"),
        ('[treatment]\ntext = "x"\nconstructions = ["gb"]\n', r"treatment\.constructions: 'gb' is not a construction"),
        ('[treatment]\ntext = "x"\nmessage = "y"\n', r"treatment\.message: unknown key"),
    ],
)
def test_bad_treatment_tables_are_one_line_errors(tmp_path, table, match):
    _write(tmp_path)
    (tmp_path / "study.toml").write_text(_study(tmp_path, table))
    with pytest.raises(StudyError, match=match) as err:
        load_study(tmp_path / "study.toml")
    assert "\n" not in str(err.value) and "study.toml" in str(err.value)
