import json

import numpy as np
import pandas as pd
import pytest

from experiments.reporting import write_run
from populace_lm.seeds import seed_int
from scenarios.errors import ScenarioError
from simulator.decisions import DecisionService
from simulator.networks import NetworkSpec
from simulator.runner import RunConfig, run_simulation
from tests.simulator.fakes import fake_model, two_personas


def _config(**kw):
    base = dict(
        scenario="public_goods",
        n_agents=20,
        seed=3,
        rounds=3,
        network=NetworkSpec.parse("watts_strogatz:k=4,p=0.2"),
        replicates=2,
    )
    return RunConfig(**{**base, **kw})


def test_child_seeds_are_named_and_stable():
    a = seed_int(1, "replicate", 0, "model")
    assert a == seed_int(1, "replicate", 0, "model")
    assert a != seed_int(1, "replicate", 1, "model")
    assert a != seed_int(2, "replicate", 0, "model")
    assert a != seed_int(1, "replicate", 0, "network")


def test_same_seed_gives_identical_parquet_bytes(tmp_path):
    fake = fake_model()
    pop = two_personas()
    paths = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        result = run_simulation(_config(seed=seed), pop, DecisionService(fake))
        out = write_run(tmp_path / name, result, llm_model=fake, population=pop, population_source="test")
        paths.append(out / "records.parquet")
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b
    assert a != c
    rec = pd.read_parquet(paths[0])
    assert set(rec["replicate"]) == {0, 1}
    assert len(rec) == 2 * 3 * 20
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["model_id"] == "known"
    assert manifest["config"]["params"]["multiplier"] == 2.0
    assert manifest["seeds"]["replicates"][0].keys() == {"population", "network", "model"}
    assert manifest["packages"]["mesa"].startswith("3.3")
    assert manifest["decisions"]["distinct_prompts"] > 0
    assert manifest["networks"][0]["nodes"] == 20
    report = (tmp_path / "a" / "report.md").read_text()
    assert "distinct prompts" in report and "| round |" in report


def test_replicates_differ_and_survey_runs():
    fake = fake_model()
    res = run_simulation(_config(), two_personas(), DecisionService(fake))
    r0 = res.records[res.records.replicate == 0].drop(columns="replicate").reset_index(drop=True)
    r1 = res.records[res.records.replicate == 1].drop(columns="replicate").reset_index(drop=True)
    assert not r0.equals(r1)
    survey = run_simulation(RunConfig(scenario="bigfive:E", n_agents=15, seed=0), two_personas(), DecisionService(fake))
    assert survey.scores[0].shape == (15,)
    assert len(survey.records) == 15 * 10


def test_config_validation_and_round_trip():
    with pytest.raises(ScenarioError, match="unknown parameter 'tax'"):
        _config(params={"tax": 1})
    with pytest.raises(ScenarioError, match="out of range"):
        _config(params={"multiplier": -1})
    with pytest.raises(ScenarioError, match="unknown scenario"):
        _config(scenario="chess")
    with pytest.raises(ValueError, match="survey"):
        RunConfig(scenario="bigfive:E", n_agents=5, rounds=2)
    c = _config(params={"multiplier": "2.4"})
    assert c.params["multiplier"] == 2.4
    assert RunConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


def test_population_draws_follow_weights():
    pop = two_personas()
    res = run_simulation(RunConfig(scenario="dictator", n_agents=400, seed=1), pop, DecisionService(fake_model()))
    share = (res.records.drop_duplicates("agent")["persona_id"] == "gen").mean()
    assert share == pytest.approx(0.5, abs=0.08)
    assert np.isfinite(res.records["payoff"]).all()
