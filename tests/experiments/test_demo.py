"""The main job: ``populace demo`` and ``populace probe`` (fakes for unit tests, the embedded model end to end)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.cli import main
from experiments.demo import run_demo
from populace_lm.cache import CachedModel
from populace_lm.fakes import KnownDistributionModel


def _uniform(msgs, answers):
    return np.full(answers.size, 1 / answers.size)


def test_run_demo_with_a_known_model_writes_all_files(tmp_path, data_dir):
    model = CachedModel(KnownDistributionModel(_uniform), tmp_path / "c.sqlite")
    records = run_demo(model, tmp_path / "out", source=str(data_dir), seed=3)
    for name in ("scores.json", "report.md", "histograms.png", "run.json"):
        assert (tmp_path / "out" / name).is_file()
    keys = {"scenario", "population", "metric", "value", "n_agents", "valid_mass", "parse_failure_rate", "llm_calls"}
    assert all(keys <= set(r) for r in records)
    w1 = {(r["scenario"], r["population"]): r["value"] for r in records if r["metric"] == "w1"}
    # Uniform Likert answers give a trait-sum mean of 30 (humans: 30.1): W1 is the spread mismatch, well above
    # the 1,000-human floor; the uniform 0–100 dictator is far from the humans' mean of 25.7.
    assert w1[("bigfive:E", "human_1000")] < 1.0 < w1[("bigfive:E", "fixed_prompt")]
    mean = {r["scenario"]: r["value"] for r in records if r["metric"] == "mean" and r["population"] == "fixed_prompt"}
    assert mean["bigfive:E"] == pytest.approx(30.0) and mean["dictator"] == pytest.approx(50.0)
    again = run_demo(model, tmp_path / "out2", source=str(data_dir), seed=3)
    assert again == records and model.stats()["misses"] == 11


def test_demo_seed_changes_the_split(tmp_path, data_dir):
    model = KnownDistributionModel(_uniform)
    a = run_demo(model, tmp_path / "a", source=str(data_dir), seed=1, scenarios=["dictator"])
    b = run_demo(model, tmp_path / "b", source=str(data_dir), seed=2, scenarios=["dictator"])
    assert a != b


def test_unknown_scenario_or_construction_is_a_one_line_error(capsys, tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--scenarios", "chess"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("populace: error: unknown scenario 'chess'") and "Traceback" not in err
    assert main(["demo", "--out", str(tmp_path), "--constructions", "fixed_prompt,magic"]) == 2
    assert "unknown construction(s) ['magic']" in capsys.readouterr().err


def test_bad_scale_and_missing_gguf_are_one_line_errors(capsys, tmp_path):
    assert main(["probe", "--question", "Q?", "--scale", "likert", "--model-path", str(tmp_path / "x.gguf")]) == 2
    assert "unknown scale 'likert'" in capsys.readouterr().err
    assert main(["probe", "--question", "Q?", "--scale", "likert5", "--model-path", str(tmp_path / "x.gguf")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.model
def test_probe_prints_five_probabilities(capsys):
    assert main(["probe", "--question", "I am the life of the party.", "--scale", "likert5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    probs = [float(line.split("\t")[1]) for line in lines[:5]]
    assert [line.split("\t")[0] for line in lines[:5]] == ["1", "2", "3", "4", "5"]
    assert sum(probs) == pytest.approx(1.0, abs=1e-5)
    assert lines[5].startswith("valid_mass\t") and 0 < float(lines[5].split("\t")[1]) <= 1


@pytest.mark.model
def test_demo_end_to_end_rerun_makes_no_backend_calls(tmp_path, data_dir, capsys):
    cache = str(tmp_path / "cache.sqlite")
    args = [
        "demo",
        "--out",
        str(tmp_path / "d1"),
        "--data",
        str(data_dir),
        "--cache",
        cache,
        "--constructions",
        "fixed_prompt",
    ]
    assert main(args) == 0
    first = json.loads((tmp_path / "d1" / "run.json").read_text())
    assert first["backend_requests"] == 11 and first["cache_hits"] == 0
    args[2] = str(tmp_path / "d2")
    assert main(args) == 0
    second = json.loads((tmp_path / "d2" / "run.json").read_text())
    assert second["backend_requests"] == 0 and second["cache_hits"] == 11
    assert (tmp_path / "d1" / "scores.json").read_bytes() == (tmp_path / "d2" / "scores.json").read_bytes()
    assert "backend requests made: 0" in capsys.readouterr().out


def test_missing_data_directory_and_missing_key_are_one_line_errors(capsys, tmp_path, monkeypatch):
    assert main(["demo", "--out", str(tmp_path), "--data", str(tmp_path / "nowhere")]) == 2
    assert "does not exist; pass --data" in capsys.readouterr().err
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["probe", "--question", "Q?", "--scale", "likert5", "--backend", "openai", "--model", "m"]) == 2
    err = capsys.readouterr().err
    assert "OPENAI_API_KEY" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
