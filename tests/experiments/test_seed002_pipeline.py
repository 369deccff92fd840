"""``experiment seed002`` end to end on a fake model and tiny inputs: table shapes, the floor stream, determinism."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

import populations.subgroups as subgroups
from populace_lm.cache import CachedModel
from populace_lm.fakes import KnownDistributionModel
from tests.populations.encoders import HashEncoder

ITEMS = "E1,E2,N1,N2"
ROWS = ["Raw", "RandomSelect", "Resample", "IS-only", "OT-only"]


def _dist(messages, answers):
    """Answer distribution driven by a hash of the persona and the item (deterministic, persona-dependent)."""
    system = messages[0].content if messages and messages[0].role == "system" else ""
    h = int(hashlib.sha256((system + messages[-1].content).encode()).hexdigest()[:8], 16)
    centre = (h % 1000) / 1000 * (answers.size - 1)
    return np.exp(-0.5 * ((np.arange(answers.size) - centre) / 0.8) ** 2)


@pytest.fixture()
def run(monkeypatch, tmp_path, data_dir):
    """``run(name, *extra)``: one seed002 run with its own response cache, matrix folder and output folder."""
    from experiments.exp_seed002 import main

    inner = KnownDistributionModel(_dist, model_id="known-seed002")
    where = {}
    monkeypatch.setattr("experiments.common.model_from_args", lambda args: CachedModel(inner, where["cache"]))
    monkeypatch.setattr(subgroups, "MiniLMEncoder", HashEncoder)

    def go(name, *extra):
        where["cache"] = tmp_path / name / "cache.sqlite"
        out = tmp_path / name / "out"
        argv = [*_argv(tmp_path / name / "m", data_dir), "--out", str(out), *extra]
        assert main(argv) == 0
        return out

    go.inner = inner
    return go


def _argv(matrix_dir, data_dir):
    return [
        "--pools", "personagym:30,agent_trust:20", "--n-select", "10", "--ood-n", "5", "--subgroup-k", "5",
        "--items", ITEMS, "--cfcs-items", "Q1,Q3", "--grit-items", "GS1,GS2", "--eval-humans", "200",
        "--repeats", "2", "--workers", "1", "--no-wvs", "--matrix-dir", str(matrix_dir), "--data", str(data_dir),
    ]  # fmt: skip


def test_tables_have_the_paper_shape_and_the_same_seed_gives_the_same_files(run, data_dir, tmp_path):
    from experiments.seed002_pipeline import VECTOR_COLUMNS
    from experiments.seed002_tables import SUBGROUP_COLUMNS

    a = run("a")
    results = json.loads((a / "results.json").read_text())
    assert results["backend_calls_this_run"] == run.inner.calls >= 50 * 4  # the IPIP matrix, then CFCS and Grit
    t_in = pd.read_csv(a / "table_in_domain.csv")
    assert list(t_in.columns) == ["set", "n", *VECTOR_COLUMNS]
    assert t_in["set"].tolist() == ["pool: personagym", "pool: agent_trust", *ROWS]
    assert t_in.set_index("set")["n"].to_dict() == {
        "pool: personagym": 30, "pool: agent_trust": 20, "Raw": 50, **dict.fromkeys(ROWS[1:], 10)
    }  # fmt: skip
    t_ood = pd.read_csv(a / "table_out_of_domain.csv")
    assert list(t_ood.columns) == ["survey", "set", "n", *VECTOR_COLUMNS]
    assert list(zip(t_ood["survey"], t_ood["set"], strict=True)) == [(s, r) for s in ("CFCS", "Grit") for r in ROWS]
    assert list(pd.read_csv(a / "subgroups.csv").columns) == SUBGROUP_COLUMNS
    assert np.isfinite(t_in[VECTOR_COLUMNS].to_numpy()).all() and (t_in[["AMW sampled", "AMW floor"]] > 0).all().all()

    b = run("b")  # a fresh cache and matrix folder: the same seed gives the same files (timings aside)
    names = sorted(p.name for p in a.iterdir() if p.name != "timings.json")
    assert names == sorted(p.name for p in b.iterdir() if p.name != "timings.json")
    assert {"report.md", "results.json", "trait_scatter.png", "aligned_resample.jsonl", "pool_raw.jsonl"} <= set(names)
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name

    c = run("c", "--seed", "5")
    assert (c / "table_in_domain.csv").read_bytes() != (a / "table_in_domain.csv").read_bytes()


def test_the_floor_is_the_scenarios_floor_stream_and_the_same_for_every_set_of_one_size(run, data_dir, tmp_path):
    from experiments.exp_seed002 import _parser
    from experiments.seed002_pipeline import prepare_humans
    from experiments.seed002_study import resolve_settings
    from populace_lm.seeds import seed_rng
    from populations.evaluation import score_vectors

    out = run("a", "--seed", "3")
    t_in = pd.read_csv(out / "table_in_domain.csv").set_index("set")
    floors = t_in.filter(like=" floor")
    np.testing.assert_array_equal(floors.loc[ROWS[1:]].to_numpy(), np.repeat(floors.loc[["Resample"]].to_numpy(), 4, 0))
    assert not np.array_equal(floors.loc["Raw"].to_numpy(), floors.loc["Resample"].to_numpy())  # another n

    s = resolve_settings(_parser().parse_args([*_argv(tmp_path / "m", data_dir), "--seed", "3"]))
    humans = prepare_humans(s)
    direct = score_vectors(
        humans.eval_traits[:10] + 1.0,
        humans.eval_traits,
        n=10,
        repeats=2,
        rng=0,
        floor_rng=seed_rng(3, "floor", "bigfive"),
    )
    for m, label in (("amw", "AMW"), ("frechet", "FD"), ("sliced_w", "SW"), ("mmd", "MMD"), ("corr_mae", "MAE-corr")):
        assert t_in.loc["Resample", f"{label} floor"] == pytest.approx(round(direct[m]["floor_mean"], 6), abs=1e-9)
