import numpy as np
import pandas as pd
import pytest

from experiments.reporting import write_whatif
from simulator.decisions import DecisionService
from simulator.runner import RunConfig
from simulator.whatif import paired_differences, parse_assignments, run_whatif
from tests.simulator.fakes import fake_model, two_personas


def test_parse_assignments():
    assert parse_assignments(["multiplier=1.6", " endowment = 20"]) == {"multiplier": "1.6", "endowment": "20"}
    with pytest.raises(ValueError, match="name=value"):
        parse_assignments(["multiplier"])


def test_paired_differences_by_hand():
    rows = []
    for rep, (b, i) in enumerate([(1.0, 2.0), (2.0, 2.5), (3.0, 5.0)]):
        for rnd in (1, 2):
            rows.append({"condition": "baseline", "replicate": rep, "round": rnd, "mean_decision": b})
            rows.append({"condition": "intervention", "replicate": rep, "round": rnd, "mean_decision": i})
    d = paired_differences(pd.DataFrame(rows), seed=0).set_index("outcome").loc["mean_decision"]
    assert d["difference"] == pytest.approx((1.0 + 0.5 + 2.0) / 3)
    assert d["baseline"] == pytest.approx(2.0)
    # the paired t interval by hand: d = (1, 0.5, 2), sd 0.763763, t(2, 0.975) = 4.302653 -> 7/6 ± 1.897291
    assert d["ci_low"] == pytest.approx(7 / 6 - 1.897291, abs=1e-5)
    assert d["ci_high"] == pytest.approx(7 / 6 + 1.897291, abs=1e-5)
    assert d["ci_method"] == "t"
    boot = paired_differences(pd.DataFrame(rows), seed=0, ci_method="bootstrap").set_index("outcome")
    assert 0.5 <= boot.loc["mean_decision", "ci_low"] <= boot.loc["mean_decision", "ci_high"] <= 2.0  # min–max
    assert d["n_replicates"] == 3


def test_whatif_public_goods_pairs_seeds_and_writes_plots(tmp_path):
    fake = fake_model()
    pop = two_personas()
    config = RunConfig(scenario="public_goods", n_agents=16, seed=2, rounds=3, replicates=4)
    res = run_whatif(
        config, pop, DecisionService(fake), baseline={"multiplier": "1.6"}, intervention={"multiplier": "2.4"}
    )
    diff = res.differences.set_index("outcome")
    # the fake contributes more when the text says "multiplied by 2.4"
    assert diff.loc["mean_decision", "difference"] > 0
    assert diff.loc["mean_decision", "ci_low"] > 0
    # pairing: the same persona draw in both conditions
    rec = res.records
    a = rec[(rec.condition == "baseline")][["replicate", "agent", "persona_id"]].drop_duplicates()
    b = rec[(rec.condition == "intervention")][["replicate", "agent", "persona_id"]].drop_duplicates()
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    out = write_whatif(tmp_path, res, llm_model=fake, population=pop, population_source="test")
    for f in (
        "mean_decision.png",
        "cooperation_rate.png",
        "gini_payoff.png",
        "differences.csv",
        "report.md",
        "manifest.json",
        "records.parquet",
        "per_round.csv",
    ):
        assert (out / f).is_file(), f
    assert "paired Student-t 95% CI" in (out / "report.md").read_text()


def test_whatif_validates_before_any_call():
    fake = fake_model()
    config = RunConfig(scenario="public_goods", n_agents=8, seed=0, rounds=2, replicates=2)
    with pytest.raises(Exception, match="unknown parameter 'tax'"):
        run_whatif(config, two_personas(), DecisionService(fake), baseline={}, intervention={"tax": "1"})
    with pytest.raises(Exception, match="out of range"):
        run_whatif(config, two_personas(), DecisionService(fake), baseline={}, intervention={"multiplier": "500"})
    with pytest.raises(ValueError, match="at least 2 seeds"):
        run_whatif(
            RunConfig(scenario="public_goods", n_agents=8, replicates=1),
            two_personas(),
            DecisionService(fake),
            baseline={},
            intervention={"multiplier": "3"},
        )
    assert fake.calls == 0
    assert np.isfinite(0.0)


def test_small_n_t_interval_covers_the_true_effect_where_the_bootstrap_does_not():
    """Issue 18 item 7: with 2-3 seeds the percentile bootstrap is the seeds' min-max and under-covers."""
    from simulator import paired_effect

    rng = np.random.default_rng(0)
    cover = {"t": 0, "bootstrap": 0}
    trials = 300
    for _ in range(trials):
        d = rng.normal(1.0, 1.0, size=3)  # three seeds; true effect 1
        for method in cover:
            r = paired_effect(np.zeros(3), d, rng=np.random.default_rng(1), ci_method=method, n_resamples=999)
            cover[method] += r["ci_low"] <= 1.0 <= r["ci_high"]
    assert cover["t"] / trials > 0.9  # nominal 95%
    assert cover["bootstrap"] / trials < 0.8  # the min-max of 3 seeds covers 75% at best
    with pytest.raises(ValueError, match="ci_method must be one of"):
        paired_effect(np.zeros(3), d, rng=rng, ci_method="percentile")
