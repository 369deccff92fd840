"""``populace influence`` / ``populace compare`` on an influence study: the human table by command, the study's
tables and plot with a fake model, held-out groups only, and one-line errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from experiments.cli import main
from experiments.influence_run import InfluenceStudyError, load_influence_study, run_influence_study, write_influence
from scenarios.influence import get_influence
from simulator.influence_study import split_groups
from tests.simulator.influence_fakes import fake_degroot_model

STUDY = """
kind = "influence"
scenario = "lorenz2011"
seed = 3
items = ["Q1"]
groups_per_cell = 1
bootstrap = 50
[[constructions]]
name = "fixed"
kind = "fixed"
"""


def test_the_human_table_is_printed_by_a_command(data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("POPULACE_DATA", str(data_dir))
    assert main(["influence", "--scenario", "lorenz2011", "--humans-only", "--bootstrap", "100",
                 "--out", str(tmp_path / "h")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    lines = {ln.split()[1]: ln.split() for ln in out.splitlines() if ln.startswith("humans")}
    assert lines["no"][3] == "1.000" and lines["aggregated"][3] == "0.219" and lines["full"][3] == "0.256"
    rows = list(csv.DictReader((tmp_path / "h" / "table.csv").read_text().splitlines()))
    assert [r["condition"] for r in rows] == ["no", "aggregated", "full"]
    assert (tmp_path / "h" / "trajectory.png").stat().st_size > 1000


def test_split_is_stratified_seeded_and_disjoint(data_dir):
    humans = get_influence("lorenz2011").human_rounds(data_dir)
    a = split_groups(humans, seed=1, name="lorenz2011")
    assert np.array_equal(a, split_groups(humans, seed=1, name="lorenz2011"))
    assert not np.array_equal(a, split_groups(humans, seed=2, name="lorenz2011"))
    cond = np.asarray(humans.conditions)
    assert [int(a[cond == c].sum()) for c in ("no", "aggregated", "full")] == [12, 12, 12]


def test_a_study_scores_every_source_on_the_same_held_out_groups(data_dir, tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(STUDY)
    study = load_influence_study(p)
    study = type(study)(**{**study.__dict__, "data": str(data_dir)})
    result = run_influence_study(study, fake_degroot_model(0.4))
    rows = result["rows"]
    sources = list(dict.fromkeys(r["source"] for r in rows))
    assert sources == ["humans", "degroot", "friedkin_johnsen", "bounded_confidence", "fixed"]
    assert {r["groups"] for r in rows} == {1}
    by = {(r["source"], r["condition"]): r for r in rows}
    # every source starts from the same held-out humans' round 1 (the LLM's snapped to the answer grid)
    assert by[("degroot", "full")]["error_first"] == pytest.approx(by[("humans", "full")]["error_first"])
    assert by[("fixed", "full")]["error_first"] == pytest.approx(by[("humans", "full")]["error_first"], abs=0.15)
    assert by[("degroot", "no")]["diversity_ratio"] == pytest.approx(1.0)
    assert result["params"]["fixed"]["answer_grid"].startswith("log-grid (21 options")
    assert 0 <= result["params"]["degroot"]["full"]["alpha"] <= 1
    names = write_influence(tmp_path / "out", result, title="t")
    assert all((tmp_path / "out" / n).exists() for n in names)
    assert "log-grid" in (tmp_path / "out" / "params.json").read_text()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('kind = "fixed"', 'kind = "em"'), "'em' fits a one-distribution target; an influence study takes"),
        (("seed = 3", 'seed = 3\nclassical = ["voter"]'), "classical: unknown model 'voter'"),
        (("seed = 3", 'seed = 3\nstart = "later"'), "start = 'later' must be one of humans, model"),
        (("seed = 3", "seed = 3\nsede = 1"), "unknown key"),
    ],
)
def test_bad_study_files_fail_in_one_line(tmp_path, edit, message):
    p = tmp_path / "s.toml"
    p.write_text(STUDY.replace(*edit))
    with pytest.raises(InfluenceStudyError, match=message):
        load_influence_study(p)


def test_the_shipped_study_plans(capsys):
    assert main(["compare", str(Path("experiments/configs/lorenz2011.toml")), "--plan"]) == 0
    assert "influence study" in capsys.readouterr().out
