"""Survey what-ifs: a treatment message, paired seeded replicates, per-item and score effects with bootstrap CIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.reporting import write_whatif
from populace_lm.fakes import KnownDistributionModel
from populations.persona import Persona, Population
from simulator import DecisionService, RunConfig, Treatment, run_whatif
from tests.simulator.fakes import two_personas

SHIFT = "You just won a prize and feel great."
NULL = "Take your time."


def _weights(messages, answers):
    """Uniform, except: SHIFT anywhere moves answers up; NULL spreads them symmetrically (same mean)."""
    text = " ".join(m.content for m in messages)
    x = np.linspace(0.0, 1.0, answers.size)
    w = np.ones(answers.size)
    if "generous" in text:
        w = 0.5 + x
    if SHIFT in text:
        w = w * (0.2 + x) ** 2
    if NULL in text:
        w = w * (1.0 + 4.0 * (x - 0.5) ** 2)  # symmetric about the middle answer: keeps a symmetric mean
    return w


def _fake():
    return KnownDistributionModel(_weights, valid_mass=0.95)


def _neutral() -> Population:
    return Population(personas=(Persona(id="n", text="You are a person."),), weights=np.ones(1), construction="test")


def _study(treatment, population=None, *, seed=0, replicates=8, n=60, model=None):
    config = RunConfig(scenario="bigfive:E", n_agents=n, seed=seed, replicates=replicates)
    return run_whatif(
        config, population or two_personas(), DecisionService(model or _fake()), treatment=treatment, n_resamples=2000
    )


def test_a_real_shift_has_a_ci_that_excludes_zero():
    res = _study(Treatment(text=SHIFT))
    d = res.differences.set_index("outcome")
    items = d[d["kind"] == "item"]
    assert len(items) == 10 and list(items.index) == [f"E{i}" for i in range(1, 11)]
    assert (items["ci_low"] > 0).all(), items
    assert (items["difference"] > 0.3).all()
    # the exact (distribution) effect agrees in sign and lies near the sampled one
    assert (items["exact_difference"] > 0.3).all()
    np.testing.assert_allclose(items["difference"], items["exact_difference"], atol=0.15)
    assert d.loc["score", "kind"] == "score" and d.loc["score", "n_replicates"] == 8


def test_a_null_treatment_has_cis_that_include_zero_at_the_nominal_rate():
    # NULL really changes the answers (a symmetric spread, same mean), so differences are noisy, not zero
    res = _study(Treatment(text=NULL), _neutral(), replicates=4, n=30)
    rec = res.records
    a = rec[rec.condition == "baseline"]["decision"].to_numpy()
    b = rec[rec.condition == "intervention"]["decision"].to_numpy()
    assert (a != b).mean() > 0.1
    np.testing.assert_allclose(res.differences["exact_difference"], 0.0, atol=1e-12)
    # ten independent studies: 95% CIs cover 0 about 95% of the time (percentile bootstrap: a little less)
    studies = [_study(Treatment(text=NULL), _neutral(), seed=s, replicates=12, n=30).differences for s in range(10)]
    d = pd.concat(studies)
    covers = (d["ci_low"] <= 0) & (d["ci_high"] >= 0)
    score_misses = int((~covers[d["kind"] == "score"]).sum())
    item_misses = int((~covers[d["kind"] == "item"]).sum())
    assert score_misses <= 3, d[d["kind"] == "score"]  # P(>= 4 of 10 | 7% miss rate) ~ 0.3%
    assert item_misses <= 16, item_misses  # 100 item CIs: ~5-7 expected, P(> 16) < 0.1%
    # the same design detects a real shift in every study
    shifted = pd.concat(
        [_study(Treatment(text=SHIFT), _neutral(), seed=s, replicates=12, n=30).differences for s in range(3)]
    )
    assert (shifted[shifted["kind"] == "item"]["ci_low"] > 0).all()


def test_conditions_are_paired_on_the_same_seeds():
    res = _study(Treatment(text="An unrelated sentence."), _neutral())
    rec = res.records
    cols = ["replicate", "round", "agent", "persona_id", "question", "decision"]
    base = rec[rec.condition == "baseline"][cols].reset_index(drop=True)
    treat = rec[rec.condition == "intervention"][cols].reset_index(drop=True)
    # the fake ignores this text: common random numbers make every answer identical, every difference exactly 0
    pd.testing.assert_frame_equal(base, treat)
    assert (res.differences["difference"] == 0).all() and (res.differences["ci_low"] == 0).all()


@pytest.mark.parametrize("where", ["question", "system"])
def test_the_treatment_goes_where_it_is_asked(where):
    seen = []

    def spy(messages, answers):
        seen.append(messages)
        return _weights(messages, answers)

    res = _study(Treatment(text=SHIFT, where=where), n=10, replicates=2, model=KnownDistributionModel(spy))
    treated = [m for m in seen if any(SHIFT in x.content for x in m)]
    assert treated
    for messages in treated:
        system, user = messages[0], messages[-1]
        assert system.role == "system"
        if where == "system":
            assert system.content.endswith(SHIFT) and SHIFT not in user.content
        else:
            assert user.content.startswith(SHIFT) and SHIFT not in system.content
    assert (res.differences.set_index("outcome").loc["E1", "difference"]) > 0
    assert res.stats["distinct_prompts"] == 2 * 2 * 10  # 2 personas × 2 conditions × 10 items


def test_empty_treatment_is_refused():
    for text in ("", "   \n"):
        with pytest.raises(ValueError, match="the treatment text is empty"):
            Treatment(text=text)
    with pytest.raises(ValueError, match="where='user' is not 'question' or 'system'"):
        Treatment(text="x", where="user")
    assert Treatment.from_dict(Treatment(text=" Hi ", where="system").to_dict()) == Treatment(text="Hi", where="system")


@pytest.mark.parametrize("where", ["question", "system"])
def test_the_simulation_and_the_exact_means_ask_the_same_treated_prompts(where):
    """One place applies a treatment: the agents and the exact expectation send identical requests."""
    from scenarios import get_scenario
    from simulator import exact_survey_means, run_simulation

    def spying(seen):
        def weights(messages, answers):
            seen.add(tuple((m.role, m.content) for m in messages))
            return _weights(messages, answers)

        return KnownDistributionModel(weights)

    treatment = Treatment(text=SHIFT, where=where)
    by_agents, by_exact = set(), set()
    config = RunConfig(scenario="bigfive:E", n_agents=40, seed=3)  # 40 draws: both personas answer
    run_simulation(config, two_personas(), DecisionService(spying(by_agents)), treatment=treatment)
    exact_survey_means(get_scenario("bigfive:E"), two_personas(), DecisionService(spying(by_exact)), treatment)
    assert by_agents == by_exact and len(by_exact) == 2 * 10
    assert all(any(SHIFT in content for _, content in m) for m in by_exact)
    control = set()
    exact_survey_means(get_scenario("bigfive:E"), two_personas(), DecisionService(spying(control)), None)
    assert not control & by_exact and not any(SHIFT in c for m in control for _, c in m)


def test_the_conditions_are_checked_in_one_place_with_one_line_errors():
    from scenarios.errors import ScenarioError
    from simulator import WhatIfConditions

    survey = RunConfig(scenario="bigfive:E", n_agents=5, replicates=2)
    game = RunConfig(scenario="public_goods", n_agents=4, replicates=2)
    cases = [
        ({"config": RunConfig(scenario="bigfive:E", n_agents=5)}, "what-if needs at least 2 seeds"),
        ({"config": survey}, r"needs an intervention: game parameters \(--intervention NAME=VALUE\) or a treatment"),
        ({"config": survey, "intervention": {"stakes": "3"}}, r"its what-if is a treatment message \(use --treatment"),
        ({"config": survey, "baseline": {"x": 1}, "treatment": Treatment(text="t")}, "not game parameters"),
        ({"config": game, "intervention": {"multiplier": 2}, "treatment": Treatment(text="t")}, "not both"),
        ({"config": game, "intervention": {"tax": 2}}, "unknown parameter 'tax'"),
        ({"config": game, "baseline": {"multiplier": 500}, "intervention": {"multiplier": 2}}, "out of range"),
    ]
    for kwargs, message in cases:
        with pytest.raises((ValueError, ScenarioError), match=message) as info:
            WhatIfConditions(**kwargs)
        assert "\n" not in str(info.value)
    params = WhatIfConditions(config=game, baseline={"multiplier": 1.6}, intervention={"multiplier": 2.4}).runs()
    assert params == {
        "baseline": {"overrides": {"multiplier": 1.6}, "treatment": None},
        "intervention": {"overrides": {"multiplier": 2.4}, "treatment": None},  # does not inherit the baseline's
    }
    message = Treatment(text="Most people give half.")
    treated = WhatIfConditions(config=game, baseline={"multiplier": 1.6}, treatment=message).runs()
    assert treated == {  # a treatment on a game: the baseline parameters hold in both conditions
        "baseline": {"overrides": {"multiplier": 1.6}, "treatment": None},
        "intervention": {"overrides": {"multiplier": 1.6}, "treatment": message},
    }


def test_survey_whatif_validates_before_any_call():
    fake = _fake()
    config = RunConfig(scenario="bigfive:E", n_agents=5, replicates=2)
    with pytest.raises(ValueError, match="survey or decision task: its what-if is a treatment message"):
        run_whatif(config, two_personas(), DecisionService(fake), intervention={"stakes": "3"})
    with pytest.raises(ValueError, match="not both"):
        run_whatif(
            RunConfig(scenario="dictator", n_agents=4, replicates=2),
            two_personas(),
            DecisionService(fake),
            intervention={"stakes": "3"},
            treatment=Treatment(text="x"),
        )
    with pytest.raises(ValueError, match="at least 2 seeds"):
        run_whatif(RunConfig(scenario="bigfive:E", n_agents=5), two_personas(), DecisionService(fake),
                   treatment=Treatment(text="x"))  # fmt: skip
    assert fake.calls == 0


def test_same_seed_gives_identical_files_twice(tmp_path):
    paths = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        fake = _fake()
        res = _study(Treatment(text=SHIFT), seed=seed, replicates=3, n=20, model=fake)
        out = write_whatif(tmp_path / name, res, llm_model=fake, population=two_personas(), population_source="t")
        paths.append(out)
    a, b, c = ((p / "records.parquet").read_bytes() for p in paths)
    assert a == b and a != c
    assert (paths[0] / "differences.csv").read_text() == (paths[1] / "differences.csv").read_text()
    assert (paths[0] / "effects.png").stat().st_size > 1000
    report = (paths[0] / "report.md").read_text()
    assert "treatment message (before each question)" in report and "backend calls" in report


def test_treatment_on_a_game_uses_the_baseline_parameters_in_both_conditions():
    res = run_whatif(
        RunConfig(scenario="public_goods", n_agents=8, rounds=2, replicates=3, seed=1),
        two_personas(),
        DecisionService(_fake()),
        baseline={"multiplier": "1.6"},
        treatment=Treatment(text=SHIFT),
        n_resamples=1000,
    )
    d = res.differences.set_index("outcome")
    assert d.loc["mean_decision", "ci_low"] > 0
    assert res.treatment == Treatment(text=SHIFT)


def test_exact_effects_are_skipped_when_they_would_cost_more_than_the_simulation():
    fake = _fake()
    personas = tuple(Persona(id=f"p{i}", text=f"You are person {i}.") for i in range(50))
    pop = Population(personas=personas, weights=np.full(50, 1 / 50), construction="test")
    config = RunConfig(scenario="bigfive:E", n_agents=4, replicates=2, seed=0)
    res = run_whatif(config, pop, DecisionService(fake), treatment=Treatment(text=SHIFT), n_resamples=200)
    assert res.differences["exact_difference"].isna().all()
    assert res.stats["distinct_prompts"] <= 2 * 8 * 10  # only the drawn personas were asked
    forced = run_whatif(config, pop, DecisionService(fake), treatment=Treatment(text=SHIFT), exact=True)
    assert forced.differences["exact_difference"].notna().all()
