"""The main job: ``populace demo`` and ``populace probe`` (fakes for unit tests, the embedded model end to end)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.cli import main
from experiments.demo import run_demo
from populace_lm.cache import CachedModel
from populace_lm.fakes import KnownDistributionModel
from scenarios.registry import get_scenario


def _uniform(msgs, answers):
    return np.full(answers.size, 1 / answers.size)


def test_run_demo_with_a_known_model_writes_all_files(tmp_path, data_dir):
    model = CachedModel(KnownDistributionModel(_uniform), tmp_path / "c.sqlite")
    records = run_demo(model, tmp_path / "out", source=str(data_dir), seed=3, constructions=["fixed"])
    for name in ("scores.json", "report.md", "histograms.png", "run.json", "details.json"):
        assert (tmp_path / "out" / name).is_file()
    keys = {"w1_exact", "w1_sampled_mean", "w1_sampled_sd", "floor_mean", "floor_sd", "floor_n", "n_sampled"}
    assert all(keys <= set(r) for r in records)
    assert all(r["floor_n"] == r["n_sampled"] == 1000 for r in records)
    row = {r["scenario"]: r for r in records}
    assert list(row) == ["bigfive:E", "dictator"] and {r["construction"] for r in records} == {"fixed"}
    # Uniform Likert answers give a trait-sum mean of 30 (humans: 30.1): the spread mismatch puts the sampled W1
    # well above the floor of 1,000 test humans; the uniform 0–100 dictator is far from the humans' mean of 25.7.
    assert row["bigfive:E"]["w1_sampled_mean"] > 2 * row["bigfive:E"]["floor_mean"]
    assert row["bigfive:E"]["mean_exact"] == pytest.approx(30.0) and row["dictator"]["mean_exact"] == pytest.approx(
        50.0
    )
    assert row["dictator"]["llm_calls"] == 1 and row["bigfive:E"]["llm_calls"] == 10
    twins = json.loads((tmp_path / "out" / "run.json").read_text())["inference"]["twins"]["bigfive:E"]
    assert twins["requests"] == 10 * twins["profiles"]  # [inference]: each distinct twin answers each E item once
    assert model.stats()["misses"] == 11 + twins["requests"]
    again = run_demo(model, tmp_path / "out2", source=str(data_dir), seed=3, constructions=["fixed"])
    assert again == records and model.stats()["misses"] == 11 + twins["requests"]  # the rerun: all from the cache
    assert (tmp_path / "out" / "scores.json").read_bytes() == (tmp_path / "out2" / "scores.json").read_bytes()
    assert (tmp_path / "out" / "report.md").read_bytes() == (tmp_path / "out2" / "report.md").read_bytes()
    run = json.loads((tmp_path / "out2" / "run.json").read_text())
    assert run["seed"] == 3 and run["constructions"] == ["fixed"] and run["cache_misses"] == 11 + twins["requests"]


def test_the_demo_is_the_shipped_study_file():
    from experiments.demo import DEMO_STUDY, demo_study
    from experiments.study import load_study

    shipped = load_study(DEMO_STUDY)
    assert shipped.scenarios == ("bigfive:E", "dictator") and (shipped.agents, shipped.repeats) == (1000, 10)
    assert [(c.name, c.kind) for c in shipped.constructions] == [("fixed", "fixed"), ("em", "em"), ("gb", "gb")]
    em, gb = shipped.constructions[1].params, shipped.constructions[2].params
    assert (em["n_components"], em["max_iter"], em["improve_rounds"]) == (3, 2, 1)  # the fast sizes
    assert (gb["n_rounds"], gb["patience"], gb["improve_rounds"]) == (5, 2, 1)
    study = demo_study(seed=7, constructions=["gb", "fixed"], scenarios=["dictator"])
    assert study.seed == study.split_seed == 7 and all(c.seed == 7 for c in study.constructions)
    assert [c.name for c in study.constructions] == ["gb", "fixed"] and study.scenarios == ("dictator",)


def test_demo_uses_the_one_split_and_seed_changes_it(tmp_path, data_dir, monkeypatch):
    import populations.evaluation as evaluation

    seen = []
    original = evaluation.scenario_floor

    def spy(scenario, test, **kw):
        seen.append(test)
        return original(scenario, test, **kw)

    monkeypatch.setattr(evaluation, "scenario_floor", spy)
    model = KnownDistributionModel(_uniform)
    kw = {"source": str(data_dir), "scenarios": ["dictator"], "constructions": ["fixed"], "progress": False}
    a = run_demo(model, tmp_path / "a", seed=1, **kw)
    b = run_demo(model, tmp_path / "b", seed=2, **kw)
    assert a != b and a[0]["floor_mean"] != b[0]["floor_mean"]
    test = get_scenario("dictator", source=str(data_dir)).human_values("test", seed=1, source=str(data_dir))
    np.testing.assert_array_equal(seen[0], test)  # the floor and scores use the test half of the one row split


def test_a_builder_that_cannot_craft_falls_back_and_the_report_says_why(tmp_path, data_dir):
    # The uniform fake never writes a "You are …" prompt: every craft fails; the demo still finishes.
    model = KnownDistributionModel(_uniform)
    records = run_demo(
        model, tmp_path / "o", source=str(data_dir), seed=0, scenarios=["dictator"], constructions=["fixed", "gb"]
    )
    gb = next(r for r in records if r["construction"] == "gb")
    assert gb["fallback"] is True and gb["n_crafted"] == 0 and gb["n_failed"] >= 1
    assert gb["failure_reasons"].get("no_prompt", 0) >= 1 and gb["status"].startswith("fallback: ")
    fixed = next(r for r in records if r["construction"] == "fixed")
    assert fixed["n_crafted"] is None and fixed["fallback"] is None and fixed["status"] == "ok"
    report = (tmp_path / "o" / "report.md").read_text()
    crafting = report.split("## Crafting per row")[1].split("##")[0]
    assert (
        "| dictator | gb | 0 |" in crafting
        and "| yes: no usable crafted prompt |" in crafting
        and "You are" in crafting
    )
    assert "| dictator | fixed |" not in crafting  # a construction that crafts nothing has no crafting row


def test_tables_set_the_floor_beside_sampled_w1_only(tmp_path, data_dir):
    run_demo(
        KnownDistributionModel(_uniform),
        tmp_path / "o",
        source=str(data_dir),
        seed=0,
        scenarios=["dictator"],
        constructions=["fixed"],
    )
    report = (tmp_path / "o" / "report.md").read_text()
    sampled = report.split("## W1 to held-out humans, sampled, beside the human floor")[1].split("##")[0]
    exact = report.split("## W1 exact")[1].split("##")[0]
    assert "human floor" in sampled and "w1_sampled_mean" in sampled
    assert "**human floor**" not in exact and "floor_mean" not in exact
    header = report.split("## Scores (test half): all columns")[1].strip().split("\n")[0]
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols.index("floor_mean") == cols.index("w1_sampled_sd") + 1
    floor = cols.index("floor_mean")
    assert all("exact" not in cols[i] for i in (floor - 1, floor + 1))  # neither neighbour of the floor is exact


def test_plan_prints_settings_and_an_estimate_without_a_model(capsys, monkeypatch, tmp_path):
    def no_model(args):
        raise AssertionError("--plan must not load a model")

    monkeypatch.setattr("experiments.common.model_from_args", no_model)
    assert main(["demo", "--out", str(tmp_path), "--plan"]) == 0
    out = capsys.readouterr().out
    assert '"n_components": 3' in out and "distinct LLM requests" in out
    assert "| fixed | fixed | bigfive:E | 1 | 10 | 1 | 10 |" in out and "| gb | gb | dictator |" in out


def test_unknown_scenario_or_construction_is_a_one_line_error(capsys, tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--scenarios", "chess"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("populace: error: unknown scenario 'chess'") and "Traceback" not in err
    assert main(["demo", "--out", str(tmp_path), "--constructions", "fixed,magic"]) == 2
    err = capsys.readouterr().err
    assert "unknown construction(s) ['magic']; use ['em', 'fixed', 'gb']" in err
    assert len(err.strip().splitlines()) == 1


def test_bad_scale_and_missing_gguf_are_one_line_errors(capsys, tmp_path):
    assert main(["probe", "--question", "Q?", "--scale", "likert", "--model-path", str(tmp_path / "x.gguf")]) == 2
    assert "unknown scale 'likert'" in capsys.readouterr().err
    assert main(["probe", "--question", "Q?", "--scale", "likert5", "--model-path", str(tmp_path / "x.gguf")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.model
def test_probe_prints_five_probabilities(capsys):
    assert main(["probe", "--question", "I am the life of the party.", "--scale", "likert5"]) == 0
    system, *lines = capsys.readouterr().out.strip().splitlines()
    assert system.startswith("system prompt: the fixed construction's baseline")  # as `fixed` sends it
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
        "fixed",
    ]
    assert main(args) == 0
    first = json.loads((tmp_path / "d1" / "run.json").read_text())
    twins = first["inference"]["twins"]["bigfive:E"]["requests"]  # [inference]: the twins' requests
    assert first["backend_requests"] == 11 + twins and first["cache_hits"] == 0
    args[2] = str(tmp_path / "d2")
    assert main(args) == 0
    second = json.loads((tmp_path / "d2" / "run.json").read_text())
    assert second["backend_requests"] == 0 and second["cache_hits"] == 11 + twins
    assert (tmp_path / "d1" / "scores.json").read_bytes() == (tmp_path / "d2" / "scores.json").read_bytes()
    assert "backend requests made: 0" in capsys.readouterr().out


def test_missing_data_directory_and_missing_key_are_one_line_errors(capsys, tmp_path, monkeypatch):
    assert main(["demo", "--out", str(tmp_path), "--data", str(tmp_path / "nowhere")]) == 2
    assert "does not exist; pass --data" in capsys.readouterr().err
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["probe", "--question", "Q?", "--scale", "likert5", "--backend", "openai", "--model", "m"]) == 2
    err = capsys.readouterr().err
    assert "OPENAI_API_KEY" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_probe_a_scenario_prints_every_question_and_the_exact_score(capsys, tmp_path, monkeypatch):
    import experiments.common
    from populace_lm.fakes import KnownDistributionModel
    from tests.experiments.test_cmd_sim import _user_files

    _user_files(tmp_path)

    def weights(messages, answers):  # every item answered 4 with certainty, whatever is asked
        return (np.asarray(answers.values) == 4).astype(float) + 1e-12

    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: KnownDistributionModel(weights))
    monkeypatch.setenv("POPULACE_QUIET", "1")
    assert main(["probe", "--scenario", f"{tmp_path}/civic.toml:trust", "--system", "You are kind."]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == 'system prompt: "You are kind."'  # probe says which prompt it sent
    rows = [line.split("\t") for line in lines[2:4]]
    assert [r[0] for r in rows] == ["t1", "t2"] and all(float(r[3]) == pytest.approx(4.0) for r in rows)
    score = lines[lines.index("score\tlabel\tmean (exact)\tsd (exact)") + 1].split("\t")
    assert score[0] == "civic:trust" and float(score[2]) == pytest.approx(4 + (6 - 4), abs=1e-6)  # t2 reversed
    assert float(score[3]) == pytest.approx(0.0, abs=1e-5)


def test_probe_flags_are_checked_before_the_model(capsys):
    assert main(["probe", "--scenario", "dictator", "--question", "Q?"]) == 2
    assert "give either --scenario or --question" in capsys.readouterr().err
    assert main(["probe", "--question", "Q?"]) == 2
    assert "give --question TEXT and --scale SCALE, or --scenario NAME" in capsys.readouterr().err
    assert main(["probe", "--scenario", "chess"]) == 2
    assert "unknown scenario 'chess'" in capsys.readouterr().err
