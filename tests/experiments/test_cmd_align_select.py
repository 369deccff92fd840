"""populace align / select / experiment seed002 end to end with a fake LLM and a fake sentence encoder."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import populations.subgroups as subgroups
from experiments import cli
from populace_lm.cache import CachedModel
from populace_lm.fakes import KnownDistributionModel
from populations.aligned import load_weighted_jsonl
from tests.populations.encoders import HashEncoder


def _dist(messages, answers):
    """Answer distribution driven by a number hidden in the persona text (deterministic)."""
    system = messages[0].content if messages and messages[0].role == "system" else ""
    h = int(hashlib.sha256((system + messages[-1].content).encode()).hexdigest()[:8], 16)
    centre = (h % 1000) / 1000 * (answers.size - 1)
    return np.exp(-0.5 * ((np.arange(answers.size) - centre) / 0.8) ** 2)


@pytest.fixture()
def fakes(monkeypatch, tmp_path):
    cache = tmp_path / "cache.sqlite"
    inner = KnownDistributionModel(_dist, model_id="known-test")

    def model(args):
        return CachedModel(inner, cache)

    monkeypatch.setattr("experiments.cmd_align.model_from_args", model)
    monkeypatch.setattr("experiments.common.model_from_args", model)
    monkeypatch.setattr(subgroups, "MiniLMEncoder", HashEncoder)
    return inner


@pytest.fixture()
def pool_file(tmp_path):
    p = tmp_path / "pool.jsonl"
    lines = []
    for i in range(60):
        place = ["Sweden", "India", "Texas"][i % 3]
        lines.append(
            json.dumps({"id": f"p{i}", "text": f"A {20 + i}-year-old teacher from {place} who likes item{i}."})
        )
    p.write_text("\n".join(lines) + "\n")
    return p


def test_align_then_select(fakes, pool_file, tmp_path, data_dir, capsys):
    out = tmp_path / "aligned.jsonl"
    mdir = tmp_path / "matrices"
    argv = [
        "align",
        "--pool",
        str(pool_file),
        "--scenario",
        "bigfive",
        "--items",
        "E1,E2,N1,N2",
        "--n-select",
        "20",
        "--out",
        str(out),
        "--matrix-dir",
        str(mdir),
        "--data",
        str(data_dir),
    ]
    assert cli.main(argv) == 0
    pop = load_weighted_jsonl(out)
    assert len(pop) <= 20 and pop.construction == "aligned"
    assert pop.weights.sum() == pytest.approx(1.0)
    calls = fakes.calls
    assert calls == 60 * 4
    assert cli.main(argv) == 0  # rerun: matrix loaded from Parquet, no LLM call
    assert fakes.calls == calls
    assert "0 backend calls" in capsys.readouterr().out

    sub = tmp_path / "sub.jsonl"
    assert (
        cli.main(["select", "--population", str(out), "--query", "teacher from Sweden", "--k", "5", "--out", str(sub)])
        == 0
    )
    got = load_weighted_jsonl(sub)
    assert 1 <= len(got) <= 5
    assert all("Sweden" in p.text for p in got.personas[:1])
    assert (tmp_path / "aligned.jsonl.index" / "index.faiss").is_file()


def test_select_errors(fakes, pool_file, tmp_path, capsys):
    # a plain pool (no weights) is rejected with the fix
    assert (
        cli.main(
            ["select", "--population", str(pool_file), "--query", "x", "--k", "3", "--out", str(tmp_path / "s.jsonl")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("populace: error: ") and str(pool_file) in err and err.count("\n") == 1
    # a Population JSON file (e.g. populace fit output) is read like any population file
    from populations.persona import Persona, Population

    pj = tmp_path / "pop.json"
    Population(personas=(Persona(id="a", text="t"),), weights=np.ones(1), construction="x").save(pj)
    out = tmp_path / "s.jsonl"
    argv = ["select", "--population", str(pj), "--query", "x", "--k", "3", "--min-score", "-1", "--out", str(out)]
    assert cli.main(argv) == 0
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["a"]


def test_select_no_match(fakes, tmp_path, capsys):
    from populations.aligned import save_weighted_jsonl
    from populations.persona import Persona, Population

    f = tmp_path / "a.jsonl"
    save_weighted_jsonl(
        Population(
            personas=(Persona(id="a", text="a nurse"), Persona(id="b", text="a pilot")),
            weights=np.array([0.5, 0.5]),
            construction="aligned",
        ),
        f,
    )
    assert (
        cli.main(
            ["select", "--population", str(f), "--query", "zzz qqq", "--k", "2", "--out", str(tmp_path / "s.jsonl")]
        )
        == 2
    )
    assert "no persona matches" in capsys.readouterr().err
    assert not (tmp_path / "s.jsonl").exists()


def test_align_errors(fakes, pool_file, tmp_path, data_dir, capsys):
    base = [
        "align",
        "--pool",
        str(pool_file),
        "--scenario",
        "bigfive",
        "--out",
        str(tmp_path / "o.jsonl"),
        "--matrix-dir",
        str(tmp_path / "m"),
        "--data",
        str(data_dir),
    ]
    assert cli.main([*base, "--n-select", "61"]) == 2
    assert "fewer than --n-select 61" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert (
        cli.main(
            [
                "align",
                "--pool",
                str(empty),
                "--scenario",
                "bigfive",
                "--out",
                str(tmp_path / "o.jsonl"),
                "--data",
                str(data_dir),
            ]
        )
        == 2
    )
    assert "empty" in capsys.readouterr().err
    assert cli.main([*base, "--items", "E1,Z9"]) == 2
    assert "Z9" in capsys.readouterr().err


def test_seed002_smoke(fakes, tmp_path, data_dir, monkeypatch):
    from experiments.exp_seed002 import main
    from populations.aligned import AlignedPersonaBuilder
    from scenarios.big5 import ITEM_IDS, load_big5
    from scenarios.split import split_indices

    aligned_to, original = [], AlignedPersonaBuilder.fit_vectors

    def spy(self, pool_responses, human_responses, **kw):
        aligned_to.append((np.asarray(pool_responses), np.asarray(human_responses)))
        return original(self, pool_responses, human_responses, **kw)

    monkeypatch.setattr(AlignedPersonaBuilder, "fit_vectors", spy)

    out = tmp_path / "d"
    argv = [
        "--out",
        str(out),
        "--pools",
        "personagym:60,agent_trust:40",
        "--n-select",
        "20",
        "--ood-n",
        "10",
        "--subgroup-k",
        "5",
        "--items",
        "E1,E2,N1,N2,A1,A2",
        "--cfcs-items",
        "Q1,Q3",
        "--grit-items",
        "GS1,GS2",
        "--eval-humans",
        "400",
        "--workers",
        "1",  # worker processes would not see the fakes
        "--matrix-dir",
        str(tmp_path / "m"),
        "--data",
        str(data_dir),
    ]
    assert main(argv) == 0
    # Alignment sees only fit-half humans, and persona vectors are integer draws (not expected values).
    big5 = load_big5(str(data_dir))
    cols = [ITEM_IDS.index(i) for i in ("E1", "E2", "N1", "N2", "A1", "A2")]
    fit_rows, _ = split_indices(big5.n, seed=0)
    fit_h = big5.items[fit_rows][:, cols]
    fit_h = fit_h[~np.isnan(fit_h).any(axis=1)]
    assert len(aligned_to) == 5
    for pool_x, human in aligned_to:
        np.testing.assert_array_equal(human, fit_h)
        assert np.array_equal(pool_x, np.rint(pool_x)) and pool_x.shape == (100, 6)
    res = json.loads((out / "results.json").read_text())
    sets = [r["set"] for r in res["in_domain"]]
    for label in ("Raw", "RandomSelect", "Resample", "IS-only", "OT-only", "pool: personagym", "pool: agent_trust"):
        assert label in sets
    assert {r["survey"] for r in res["out_of_domain"]} == {"CFCS", "Grit"}
    assert not any("Human sample" in r["set"] for r in res["in_domain"] + res["out_of_domain"])
    assert all(r["AMW floor"] > 0 and r["AMW sampled"] > 0 for r in res["in_domain"] + res["out_of_domain"])
    assert (out / "trait_scatter.png").stat().st_size > 10_000
    assert load_weighted_jsonl(out / "aligned_resample.jsonl").construction == "aligned"
    assert "persona-following" in (out / "report.md").read_text()
    calls = fakes.calls
    assert main(argv) == 0  # rerun: everything cached
    assert fakes.calls == calls
    assert json.loads((out / "results.json").read_text())["backend_calls_this_run"] == 0


def test_seed002_respondent_personas_come_from_the_fit_half(data_dir):
    from experiments.exp_seed002 import seed002_pool
    from scenarios.big5 import load_big5
    from scenarios.split import split_indices

    n = load_big5(str(data_dir)).n
    fit_rows, test_rows = split_indices(n, seed=7)
    pool = seed002_pool(["big5_respondents:50"], source=str(data_dir), fit_rows=fit_rows, seed=7)
    rows = {p.attributes["row"] for p in pool}
    assert len(rows) == 50 and rows <= set(fit_rows.tolist()) and not rows & set(test_rows.tolist())
