import json

import numpy as np
import pytest

from alignment import fit_mixture_weights, pmf_from_samples, wasserstein_1d
from populace_lm.fakes import ScriptedModel
from populations.base import NotFittedError
from populations.baselines import DEFAULT_SYSTEM_PROMPT
from populations.evaluation import floor_size, score_distribution, split_humans
from populations.mixture import PromptMixtureBuilder
from populations.persona import Population
from tests.populations.mixture_fakes import FakeScenario, bimodal, crafter_reply, make_models


@pytest.fixture(scope="module")
def dictator():
    return FakeScenario()


@pytest.fixture(scope="module")
def humans():
    fit, test = split_humans(bimodal(20000), seed=0)
    return fit, test


def build(method, **kw):
    crafter, respondent = make_models()
    params = {"forbid_target_number": False, "random_state": 0, **kw}
    return PromptMixtureBuilder(method, crafter=crafter, respondent=respondent, **params)


@pytest.mark.parametrize(("method", "kw"), [("em", {"n_components": 15}), ("gb", {"patience": 5})])
def test_recovers_a_bimodal_target(dictator, humans, method, kw):
    # Sampled-vs-floor comparisons (like with like) are in test_builders_known.py; here the exact fit itself.
    fit, _ = humans
    b = build(method, **kw).fit(dictator, fit)
    assert b.fit_loss_ < 0.05 * b.baseline_loss_  # the default prompt (peaked at 50) is far off
    mix = b.weights_ @ b.component_pmfs_
    assert mix[:50].sum() == pytest.approx(0.6, abs=0.03)  # the two modes keep their mass


@pytest.mark.parametrize("method", ["em", "gb"])
def test_never_worse_than_the_fixed_prompt_on_the_fit_split(dictator, humans, method):
    # A respondent that ignores the prompt: crafting cannot help; the mixture must still match the baseline.
    fit, _ = humans
    crafter, respondent = make_models()
    respondent.dist_fn = lambda m, a: np.exp(-0.5 * ((np.asarray(a.values) - 50) / 10.0) ** 2)
    b = PromptMixtureBuilder(
        method,
        n_components=3,
        crafter=crafter,
        respondent=respondent,
        max_iter=2,
        n_rounds=3,
        forbid_target_number=False,
    ).fit(dictator, fit)
    target = pmf_from_samples(fit, dictator.support)
    baseline = fit_mixture_weights(b.component_pmfs_[:1], dictator.support, target).loss
    assert b.prompts_[0] == DEFAULT_SYSTEM_PROMPT
    assert b.fit_loss_ <= baseline + 1e-9
    assert b.baseline_loss_ == pytest.approx(baseline)


def test_fitted_attributes_population_and_sampling(dictator, humans):
    fit, _ = humans
    b = build("em", n_components=4, max_iter=3).fit(dictator, fit)
    k = len(b.prompts_)
    assert b.weights_.shape == (k,) and b.component_pmfs_.shape == (k, 101)
    assert b.weights_.sum() == pytest.approx(1.0) and (b.weights_ >= 0).all()
    assert 1 <= b.n_iter_ <= 3 and isinstance(b.converged_, bool)
    assert b.history_[0]["iteration"] == 0 and len(b.history_) == b.n_iter_ + 1
    assert b.cost_["total"]["requests"] == b.cost_["crafter"]["requests"] + b.cost_["respondent"]["requests"]
    assert b.cost_["crafter"]["backend_calls"] > 0
    pop = b.population_
    assert isinstance(pop, Population) and pop.construction == "em"
    assert pop.metadata["fit_w1"] == b.fit_loss_
    s1, s2 = b.sample(500, rng=3), b.sample(500, rng=3)
    assert s1.construction == "em" and np.array_equal(s1.weights, s2.weights)
    json.dumps(b.to_dict())  # plain JSON


def test_em_iteration_record(dictator, humans):
    fit, _ = humans
    b = build("em", n_components=3, max_iter=1).fit(dictator, fit)
    it = b.history_[1]
    mass = np.asarray(it["responsibility_mass"])
    assert mass.shape == (3,) and mass.sum() == pytest.approx(1.0)  # the crafted components only
    assert {"changed", "weights", "fit_w1", "weight_shift", "crafting", "prompts"} <= set(it)
    assert b.temperature_ > 0 and b.n_crafted_ == 3 + 3 and b.n_failed_ == 0 and b.failure_reasons_ == {}


def test_same_seed_same_fit_different_seed_differs(dictator, humans):
    fit, _ = humans
    a = build("gb", n_rounds=6).fit(dictator, fit)
    b = build("gb", n_rounds=6).fit(dictator, fit)
    c = build("gb", n_rounds=6, random_state=1).fit(dictator, fit)
    assert a.prompts_ == b.prompts_ and np.array_equal(a.weights_, b.weights_)
    assert a.prompts_ != c.prompts_


def test_gb_stops_when_w1_stops_improving(dictator, humans):
    fit, _ = humans
    crafter, respondent = make_models()
    respondent.dist_fn = lambda m, a: np.ones(a.size)  # every prompt gives the same answers
    b = PromptMixtureBuilder(
        "gb", crafter=crafter, respondent=respondent, n_rounds=50, patience=3, forbid_target_number=False
    ).fit(dictator, fit)
    assert b.converged_ and b.n_iter_ == 3
    assert [h["improved"] for h in b.history_[1:]] == [False, False, False]


def test_em_converges_when_prompts_and_weights_stop_changing(dictator):
    # A one-point target: every re-crafted prompt equals the old one, so EM stops after one iteration.
    crafter, respondent = make_models()
    values = np.full(50, 30.0)
    b = PromptMixtureBuilder(
        "em", n_components=2, crafter=crafter, respondent=respondent, max_iter=20, forbid_target_number=False
    ).fit(dictator, values)
    assert b.converged_ and b.n_iter_ == 1 and b.history_[1]["changed"] == []


@pytest.mark.parametrize(
    ("values", "kw", "match"),
    [
        ([10.0, 200.0], {}, r"target_values\[1\] = 200 is not on the answer scale of scenario 'fake_gift'"),
        ([], {}, "target_values is empty"),
        ([10.0, float("nan")], {}, r"target_values\[1\] is not a finite number"),
        ([10.0, 20.0], {"n_components": 3}, "n_components=3 is larger than the 2 human values"),
        ([10.0, 20.0], {"method": "xx"}, "method must be 'em' or 'gb'"),
        ([10.0, 20.0], {"weight_method": "nnls"}, "weight_method must be 'lp' or 'slsqp'"),
        ([10.0, 20.0], {"e_step": "hard"}, r"unknown e_step 'hard'; valid E-steps: \['posterior', 'literal'\]"),
        ([10.0, 20.0], {"temperature": 0.0}, "temperature must be a positive number"),
        ([10.0, 20.0], {"weight_floor": 1.5}, r"weight_floor must be in \[0, 1\)"),
    ],
)
def test_bad_input_raises_clear_errors(dictator, values, kw, match):
    crafter, respondent = make_models()
    params = {"method": "em", "n_components": 1, **kw}
    with pytest.raises(ValueError, match=match):
        PromptMixtureBuilder(crafter=crafter, respondent=respondent, **params).fit(dictator, values)


def test_missing_respondent_and_unfitted_use_raise(dictator):
    with pytest.raises(ValueError, match="needs a respondent model"):
        PromptMixtureBuilder("gb").fit(dictator, [10.0])
    with pytest.raises(NotFittedError, match="PromptMixtureBuilder is not fitted"):
        PromptMixtureBuilder("gb").sample(10, rng=0)


@pytest.mark.parametrize("method", ["em", "gb"])
def test_total_crafting_failure_returns_the_fixed_prompt_population(dictator, humans, method):
    fit, _ = humans
    _, respondent = make_models()
    b = PromptMixtureBuilder(
        method, n_components=2, crafter=ScriptedModel(["no idea"]), respondent=respondent, max_retries=1, n_rounds=5
    ).fit(dictator, fit)
    assert b.fallback_ == "no usable crafted prompt"
    assert b.prompts_ == [DEFAULT_SYSTEM_PROMPT] and b.weights_.tolist() == [1.0]
    assert b.fit_loss_ == b.baseline_loss_ and b.n_crafted_ == 0
    assert b.n_failed_ == (2 if method == "em" else 3) and b.failure_reasons_ == {"no_prompt": b.n_failed_}
    assert b.population_.metadata["fallback"] == "no usable crafted prompt"
    assert b.history_[-1]["fallback"] == "no usable crafted prompt"
    assert b.to_dict()["n_failed"] == b.n_failed_
    # Every other reply is unusable: failures land in the history, the fit still completes.
    calls = []

    def flaky(request):
        calls.append(1)
        return crafter_reply(request) if len(calls) % 2 else "no idea"

    b = PromptMixtureBuilder(
        "gb",
        crafter=ScriptedModel(flaky),
        respondent=respondent,
        n_rounds=4,
        max_retries=0,
        forbid_target_number=False,
        patience=10,
    ).fit(dictator, fit)
    logs = [c for h in b.history_[1:] for c in h["crafting"]]
    assert sum("failed" in c for c in logs) == 2 and sum("prompt" in c for c in logs) == 2
    assert len(b.prompts_) == 3 and b.fallback_ is None
    assert (b.n_crafted_, b.n_failed_, b.failure_reasons_) == (2, 2, {"no_prompt": 2})


def test_separate_crafter_and_respondent_costs(dictator, humans):
    fit, _ = humans
    crafter, respondent = make_models()
    b = PromptMixtureBuilder("gb", crafter=crafter, respondent=respondent, n_rounds=3, forbid_target_number=False).fit(
        dictator, fit
    )
    assert b.cost_["crafter"]["requests"] == crafter.calls
    assert b.cost_["respondent"]["requests"] == respondent.calls


def test_evaluation_protocol_shapes_and_floor(humans):
    fit, test = humans
    assert fit.size == test.size == 10000
    s = np.arange(101.0)
    pmf = pmf_from_samples(fit, s)
    ev = score_distribution(pmf, s, test, n=floor_size(test.size), repeats=5, rng=0)
    assert ev["w1_exact"] == pytest.approx(wasserstein_1d(fit, test))
    assert ev["w1_sampled_sd"] > 0 and ev["repeats"] == 5 and ev["n_sampled"] == 1000
    with pytest.raises(ValueError, match="leaves an empty half"):
        split_humans([1.0, 2.0], seed=0, fit_fraction=0.1)
    with pytest.raises(ValueError, match="non-empty vector"):
        score_distribution(pmf, s, [], n=10, rng=0)


@pytest.mark.parametrize("method", ["em", "gb"])
def test_rerun_through_the_cache_makes_zero_backend_calls(dictator, humans, tmp_path, method):
    from populace_lm.cache import CachedModel

    fit, _ = humans
    runs = []
    for _ in range(2):
        crafter, respondent = make_models()
        b = PromptMixtureBuilder(
            method,
            n_components=3,
            max_iter=2,
            n_rounds=4,
            crafter=CachedModel(crafter, tmp_path / "c.sqlite"),
            respondent=CachedModel(respondent, tmp_path / "r.sqlite"),
            forbid_target_number=False,
        ).fit(dictator, fit)
        runs.append((b, crafter.calls + respondent.calls))
    (first, calls1), (second, calls2) = runs
    assert calls1 > 0 and calls2 == 0
    assert second.cost_["total"]["backend_calls"] == 0
    assert second.cost_["total"]["cached"] == second.cost_["total"]["requests"] > 0
    assert second.prompts_ == first.prompts_ and np.array_equal(second.weights_, first.weights_)


def test_default_temperature_is_the_mad_over_k_floored_at_one_step():
    from populations.mixture import default_temperature

    support = np.arange(101.0)
    values = np.r_[np.zeros(5), np.full(5, 100.0)]  # median 50, mean absolute deviation 50
    assert default_temperature(values, support, 4) == 12.5
    assert default_temperature(values, support, 100) == 1.0  # 0.5 < one answer step
    assert default_temperature([0, 0, 10, 10], [0, 5, 10], 1) == 5.0
    assert default_temperature([0, 0, 10, 10], [0, 5, 10], 2) == 5.0  # 2.5 < the step of 5
    assert default_temperature([0, 0, 10, 10], [0, 2, 10], 2) == 2.5
    assert default_temperature([3.0, 3.0], [3.0], 1) == 1.0  # one-point support: one unit
    assert default_temperature(values, support, 0) == 50.0  # K < 1 counts as 1
