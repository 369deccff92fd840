"""The ``worth_k`` column of ``compare`` (k̂, Huang, Wu & Wang 2025) on a user survey with known answers (issue 20).

The humans answer four items independently from one distribution P on 1–5. A fake that answers exactly P is worth
the whole simulation budget; a fake shifted by one scale point is worth a handful of humans at most; a game (one
calibration task) gets no k̂.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import experiments.common
from experiments.cli import main
from populace_lm.fakes import KnownDistributionModel

P = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
SURVEY = """\
kind = "survey"
name = "mood"
[scale]
type = "range"
low = 1
high = 5
labels = { 1 = "never", 5 = "always" }
[[items]]
id = "m1"
text = "I feel calm."
dimension = "mood"
[[items]]
id = "m2"
text = "I feel cheerful."
dimension = "mood"
[[items]]
id = "m3"
text = "I feel rested."
dimension = "mood"
[[items]]
id = "m4"
text = "I feel hopeful."
dimension = "mood"
[dimensions.mood]
scoring = "sum"
[data]
path = "answers.csv"
"""
STUDY = """\
seed = 0
scenarios = ["mood.toml"]
agents = 200
repeats = 3
[[constructions]]
name = "fixed"
kind = "fixed"
[[constructions]]
name = "fixed_again"
kind = "fixed"
"""


def _run(tmp_path, monkeypatch, shift: int) -> dict:
    rng = np.random.default_rng(11)
    answers = {f"m{i}": rng.choice(np.arange(1, 6), size=4000, p=P) for i in range(1, 5)}
    pd.DataFrame(answers).to_csv(tmp_path / "answers.csv", index=False)
    (tmp_path / "mood.toml").write_text(SURVEY)
    (tmp_path / "study.toml").write_text(STUDY)
    target = np.roll(P, shift)

    def weights(messages, options):
        return target[np.asarray(options.values, dtype=int) - 1]

    fake = KnownDistributionModel(weights, model_id=f"worth-fake-{shift}")
    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: fake)
    monkeypatch.setenv("POPULACE_QUIET", "1")
    out = tmp_path / f"out{shift}"
    assert main(["compare", str(tmp_path / "study.toml"), "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out / "table.csv")
    a, b = (table.iloc[i].to_dict() for i in (0, 1))
    # the same distribution under two names gets the same k̂: constructions share the draws (common random numbers)
    assert [a[k] for k in ("worth_k", "worth_k_lo", "worth_k_hi")] == [
        b[k] for k in ("worth_k", "worth_k_lo", "worth_k_hi")
    ]
    return a


def test_a_population_equal_to_the_humans_is_worth_the_budget(tmp_path, monkeypatch):
    row = _run(tmp_path, monkeypatch, shift=0)
    assert row["worth_tasks"] == 5  # the score and four items
    assert row["worth_k"] == 2000 and row["worth_k_lo"] == 2000


def test_a_population_one_point_off_is_worth_few_humans(tmp_path, monkeypatch):
    row = _run(tmp_path, monkeypatch, shift=1)
    assert 0 <= row["worth_k"] <= 10
    assert row["worth_k_lo"] <= row["worth_k"] <= row["worth_k_hi"]


def test_the_k_column_is_in_the_printed_table(tmp_path, monkeypatch, capsys):
    _run(tmp_path, monkeypatch, shift=0)
    assert "worth_k" in capsys.readouterr().out


def test_a_game_has_one_task_and_no_k():
    """A decision task is one calibration task: one human mean would decide k̂, so the columns stay empty."""
    from types import SimpleNamespace

    from populations.worth_tasks import worth_record

    part = SimpleNamespace(name="game", ordered=True, support=np.arange(0.0, 11.0))
    pop = SimpleNamespace(weights=np.array([1.0]))
    pmfs = np.full((1, 11), 1 / 11)
    humans = np.random.default_rng(0).integers(0, 11, size=500).astype(float)
    rec = worth_record(part, pop, None, pmfs, test_values=humans, test_rows=None, seed=0)
    assert rec == {"worth_k": None, "worth_k_lo": None, "worth_k_hi": None, "worth_tasks": 1}
