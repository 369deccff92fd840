"""``populace run --influence``: opinion dynamics of a survey item (or an influence item) on a graph, with a fake."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import experiments.common
from experiments.cli import main
from populace_lm.fakes import KnownDistributionModel

SURVEY = """
kind = "survey"
name = "opinions"
[scale]
type = "range"
low = 1
high = 5
labels = { 1 = "disagree", 5 = "agree" }
[[items]]
id = "trust"
text = "Most people can be trusted."
[[items]]
id = "fair"
text = "Most people try to be fair."
"""


def _toward_neighbours(messages, answers):
    """Round 1: 1 or 5 by persona; later: the rounded mean of what was shown (a consensus-seeking fake)."""
    system, user = messages[0].content, messages[-1].content
    vals = np.asarray(answers.values, dtype=float)
    if "Your last answer was" not in user:
        target = 1.0 if "low" in system else 5.0
    else:
        shown = user.split(" was ")[-1].split(".")[0]
        target = float(shown)
    w = np.zeros(vals.size)
    w[int(np.argmin(np.abs(vals - target)))] = 1.0
    return w


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: KnownDistributionModel(_toward_neighbours))
    monkeypatch.setenv("POPULACE_QUIET", "1")


def _population(tmp_path):
    from populations.persona import Persona, Population

    pop = Population(personas=(Persona(id="low", text="You are low."), Persona(id="high", text="You are high.")),
                     weights=np.array([0.5, 0.5]), construction="test")  # fmt: skip
    return str(pop.save(tmp_path / "pop.json"))


def test_a_survey_item_runs_as_opinion_dynamics_on_a_small_world(tmp_path, fake, capsys):
    f = tmp_path / "opinions.toml"
    f.write_text(SURVEY)
    out = tmp_path / "run"
    assert main(["run", "--scenario", f"{f}:trust", "--influence", "neighbours", "--rounds", "4", "--agents", "60",
                 "--network", "watts_strogatz:k=4,p=0.1", "--population", _population(tmp_path),
                 "--out", str(out)]) == 0  # fmt: skip
    rows = list(csv.DictReader(open(out / "rounds.csv")))
    assert [r["round"] for r in rows] == ["1", "2", "3", "4"]
    var = [float(r["variance"]) for r in rows]
    assert var[0] > 3.0 and var[-1] < var[0]  # neighbours' means pull the two camps together
    assert float(rows[0]["bimodality"]) > 0.9  # round 1: two camps
    assert all(np.isfinite(float(r["assortativity"])) for r in rows[1:])
    est = np.loadtxt(out / "estimates.csv", delimiter=",", skiprows=1)
    assert est.shape == (60, 4) and set(np.unique(est[:, 0])) == {1.0, 5.0}
    assert "exact integers 1..5" in (out / "report.md").read_text()


def test_several_items_are_refused_in_one_line(tmp_path, fake, capsys):
    f = tmp_path / "opinions.toml"
    f.write_text(SURVEY.replace('id = "fair"', 'id = "fair"\ndimension = "trust"').replace(
        'id = "trust"\n', 'id = "trust"\ndimension = "trust"\n'))  # fmt: skip
    assert main(["run", "--scenario", str(f), "--influence", "mean", "--agents", "6", "--population",
                 _population(tmp_path), "--out", str(tmp_path / "r")]) == 2  # fmt: skip
    assert "asks one question over rounds" in capsys.readouterr().err
