"""Issue 18 item 5: ``compare --save-populations`` writes each construction's population, so ``select`` can
narrow a decision task's subgroups (``align`` refuses decision tasks and points here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import experiments.common
from experiments.cli import main
from populace_lm.fakes import KnownDistributionModel
from populations import subgroups
from populations.io import load_population_file
from tests.populations.encoders import HashEncoder

TASK = """\
kind = "decision"
name = "donation"
[decision]
instruction = "You received $10. How many dollars, from 0 to 10, do you donate?"
low = 0
high = 10
[data]
path = "gave.csv"
column = "gave"
"""

FARMERS = [f"You are a retired farmer number {i} who grows wheat." for i in range(4)]
NURSES = [f"You are a young city nurse number {i} who works nights." for i in range(4)]


@pytest.fixture
def setup(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    (tmp_path / "gave.csv").write_text("gave\n" + "".join(f"{v}\n" for v in rng.integers(0, 11, 120)))
    (tmp_path / "donation.toml").write_text(TASK)
    pool = [{"id": f"p{i}", "text": t} for i, t in enumerate(FARMERS + NURSES)]
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pool))
    (tmp_path / "study.toml").write_text(
        'scenarios = ["donation.toml"]\nagents = 20\nrepeats = 2\n'
        '[[constructions]]\nname = "fixed"\nkind = "fixed"\n'
        '[[constructions]]\nname = "pool"\nkind = "pool"\npool = "pool.jsonl"\nn_personas = 8\n'
    )
    model = KnownDistributionModel(
        lambda m, a: np.where(np.asarray(a.values) <= 3, 3.0, 1.0) if "farmer" in m[0].content else np.ones(a.size),
        model_id="gift-fake",
    )
    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: model)
    monkeypatch.setattr(subgroups, "MiniLMEncoder", HashEncoder)
    return tmp_path


def test_compare_saves_populations_that_select_narrows(setup, capsys):
    out = setup / "out"
    assert main(["compare", str(setup / "study.toml"), "--out", str(out), "--save-populations", "--quiet"]) == 0
    assert "wrote 2 population files" in capsys.readouterr().out
    files = sorted(p.name for p in (out / "populations").iterdir())
    assert files == ["donation--fixed.json", "donation--pool.json"]
    pop = load_population_file(out / "populations" / "donation--pool.json")
    assert sorted(p.text.split("person. ")[-1] for p in pop.personas) == sorted(FARMERS + NURSES)
    assert pop.metadata["scenario"] == "donation" and pop.metadata["split"] == {"seed": 0, "fit_fraction": 0.5}
    sub = setup / "farmers.jsonl"
    argv = ["select", "--population", str(out / "populations" / "donation--pool.json"), "--query",
            "retired farmer wheat", "--k", "4", "--out", str(sub)]  # fmt: skip
    assert main(argv) == 0
    chosen = load_population_file(sub)
    assert {p.text.split("person. ")[-1] for p in chosen.personas} == set(FARMERS)


def test_without_the_flag_no_population_is_written(setup):
    out = setup / "out"
    assert main(["compare", str(setup / "study.toml"), "--out", str(out), "--quiet"]) == 0
    assert not (out / "populations").exists()


def test_align_points_decision_tasks_to_save_populations(setup, capsys):
    argv = ["align", "--pool", str(setup / "pool.jsonl"), "--scenario", str(setup / "donation.toml"),
            "--out", str(setup / "a.jsonl")]  # fmt: skip
    assert main(argv) == 2
    assert "--save-populations" in capsys.readouterr().err
