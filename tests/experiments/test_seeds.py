"""The one seed contract: the same ``--seed`` gives the same split and the same floor in every command."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from experiments.cli import main
from populace_lm.fakes import KnownDistributionModel
from populace_lm.seeds import seed_int, seed_rng, seed_stream


def _uniform(msgs, answers):
    return np.full(answers.size, 1 / answers.size)


def test_named_streams_are_stable_and_distinct():
    a = seed_int(4, "floor", "dictator")
    assert a == seed_int(4, "floor", "dictator") == seed_int(seed_stream(4, "floor", "dictator"))
    assert len({a, seed_int(5, "floor", "dictator"), seed_int(4, "floor", "bigfive:E"), seed_int(4, "split")}) == 4
    np.testing.assert_array_equal(seed_rng(4, "split").random(3), seed_rng(4, "split").random(3))
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_stream(-1, "split")


def _demo_floor(tmp_path, data_dir, seed):
    from experiments.demo import run_demo

    records = run_demo(
        KnownDistributionModel(_uniform),
        tmp_path / "demo",
        source=str(data_dir),
        seed=seed,
        scenarios=["dictator"],
        constructions=["fixed"],
        progress=False,
    )
    return records[0]


def _compare_floor(tmp_path, data_dir, seed, monkeypatch):
    study = tmp_path / "study.toml"
    study.write_text(
        f'seed = 99\nscenarios = ["dictator"]\ndata = "{data_dir}"\n\n'
        '[split]\nseed = 98\n\n[[constructions]]\nname = "fixed"\nkind = "fixed"\n'
    )
    monkeypatch.setattr("experiments.common.model_from_args", lambda args: KnownDistributionModel(_uniform))
    assert main(["compare", str(study), "--out", str(tmp_path / "cmp"), "--seed", str(seed), "--quiet"]) == 0
    payload = json.loads((tmp_path / "cmp" / "scores.json").read_text())
    assert payload["settings"]["seed"] == payload["settings"]["split"]["seed"] == seed  # --seed overrides the file
    return payload["scores"][0]


def _fit_floor(tmp_path, data_dir, seed, monkeypatch):
    from experiments import cmd_fit

    monkeypatch.setattr(cmd_fit, "model_from_args", lambda args: KnownDistributionModel(_uniform))
    monkeypatch.setattr(cmd_fit, "crafter_from_args", lambda args: None)
    out = tmp_path / "fit.json"
    argv = ["fit", "--builder", "gb", "--scenario", "dictator", "--out", str(out), "--data", str(data_dir)]
    assert main([*argv, "--rounds", "1", "--seed", str(seed)]) == 0
    return json.loads(out.read_text())["fit"]["scores"]


def _seed000_floor(tmp_path, data_dir, seed, monkeypatch, personas_dir):
    import experiments.exp_seed000 as exp
    from tests.experiments.test_cmd_fit import small_seed000_study

    monkeypatch.setenv("POPULACE_PERSONAS", str(personas_dir))
    study = exp.load_seed000(study=small_seed000_study(tmp_path / "s0.toml", data_dir, repeats=10), seed=seed)
    result = exp.run_seed000(KnownDistributionModel(_uniform), tmp_path / "s0", study, log=lambda *_: None)
    return next(r for r in result.scores if r["construction"] == "fixed")


@pytest.mark.parametrize("seed", [0, 4])
def test_same_seed_same_split_and_floor_in_demo_fit_compare_and_seed000(
    tmp_path, data_dir, personas_dir, monkeypatch, seed
):
    from populace_lm.seeds import seed_rng as rng_of
    from populations.evaluation import seeded_floor
    from scenarios.registry import get_scenario
    from scenarios.split import split_indices

    demo = _demo_floor(tmp_path, data_dir, seed)
    compare = _compare_floor(tmp_path, data_dir, seed, monkeypatch)
    fit = _fit_floor(tmp_path, data_dir, seed, monkeypatch)
    seed000 = _seed000_floor(tmp_path, data_dir, seed, monkeypatch, personas_dir)
    floors = {(r["floor_mean"], r["floor_sd"], r["floor_n"]) for r in (demo, compare, fit, seed000)}
    assert len(floors) == 1, floors
    # ...and that floor is the contract's: stream ("floor", scenario) on the test half of stream ("split",)
    scenario = get_scenario("dictator", source=str(data_dir))
    test = scenario.human_values("test", seed=seed, source=str(data_dir))
    assert demo["n_test"] == compare["n_test"] == test.size
    expected = seeded_floor(scenario, test, seed=seed)
    assert floors == {(round(expected.mean, 6), round(expected.sd, 6), expected.n)}
    other = seeded_floor(scenario, test, seed=seed + 1)
    assert other.mean != expected.mean  # the floor follows the seed
    perm = rng_of(seed, "split").permutation(101)
    fit_idx, test_idx = split_indices(101, seed=seed)
    np.testing.assert_array_equal(fit_idx, np.sort(perm[:50]))  # round(0.5 * 101) = 50 fit rows
    np.testing.assert_array_equal(test_idx, np.sort(perm[50:]))
    # the same construction gets the same sampled score in demo and compare (stream ("score", scenario, "fixed"))
    assert demo["w1_sampled_mean"] == compare["w1_sampled_mean"] and demo["w1_exact"] == compare["w1_exact"]


def test_seed000_demographic_personas_come_from_the_fit_half_only(monkeypatch, data_dir, tmp_path):
    """Held-out humans never become personas: seed000's demographic row draws BIG5 rows of the fit half."""
    import experiments.exp_seed000 as exp
    from populations import baselines
    from populations.constructions.baselines import big5_fit_rows
    from scenarios.registry import get_scenario

    seen = {}

    class Stop(Exception):
        pass

    def spy(self, n_personas=50, *, source=None, rows=None, random_state=0):
        seen["rows"] = rows
        raise Stop

    monkeypatch.setattr(baselines.DemographicPersonaBuilder, "__init__", spy)
    study = exp.load_seed000(scenarios=["bigfive:E"], seed=3)
    study = replace(
        study, data=str(data_dir), constructions=tuple(c for c in study.constructions if c.kind == "demographic")
    )
    with pytest.raises(Stop):
        exp.run_seed000(KnownDistributionModel(_uniform), tmp_path, study, log=lambda *a: None)
    scenario = get_scenario("bigfive:E", source=str(data_dir))
    expected = big5_fit_rows(scenario, seed=3, fit_fraction=0.5, source=str(data_dir))
    assert seen["rows"] is not None and np.array_equal(seen["rows"], expected)
