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
    rows = list(csv.DictReader((out / "rounds.csv").read_text().splitlines()))
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


def test_the_whatif_command_writes_paired_effects(tmp_path, monkeypatch, capsys, data_dir):
    from tests.simulator.influence_fakes import fake_degroot_model

    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: fake_degroot_model(0.3))
    monkeypatch.setenv("POPULACE_QUIET", "1")
    from tests.simulator.test_influence_model import TOY

    toy = tmp_path / "toy.toml"
    toy.write_text(TOY)
    out = tmp_path / "w"
    assert main(["influence", "--whatif", "--scenario", f"{toy}:Q", "--control", "none", "--treated", "all",
                 "--groups", "3", "--bootstrap", "50", "--population", _population3(tmp_path),
                 "--out", str(out)]) == 0  # fmt: skip
    import json

    facts = json.loads((out / "effects.json").read_text())
    div = next(e for e in facts["effects"] if e["outcome"] == "diversity_ratio")
    assert (
        div["control"] == pytest.approx(1.0)
        and div["treated"] < 1.0
        and facts["answer_grid"] == "exact integers 1..3000"
    )


def _population3(tmp_path):
    from tests.simulator.influence_fakes import three_personas

    return str(three_personas().save(tmp_path / "pop3.json"))
