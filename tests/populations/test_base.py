import json

import numpy as np
import pytest

from populace_lm.fakes import KnownDistributionModel
from populations.aligned import AlignedPersonaBuilder
from populations.base import BaseBuilder, NotFittedError, WeightSolverError, check_is_fitted
from populations.baselines import DEFAULT_SYSTEM_PROMPT, FixedPromptBuilder, RandomPersonaBuilder
from populations.mixture import PromptMixtureBuilder
from populations.mop import MixtureOfPersonasBuilder
from populations.persona import Persona, Population
from tests.populations.mixture_fakes import FakeScenario, make_models


def test_not_fitted_error_is_a_value_and_attribute_error():
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    assert issubclass(WeightSolverError, ValueError)
    with pytest.raises(NotFittedError, match=r"FixedPromptBuilder is not fitted \(no population_\): call fit"):
        check_is_fitted(FixedPromptBuilder())
    b = FixedPromptBuilder().fit()
    check_is_fitted(b)
    with pytest.raises(NotFittedError, match="no weights_"):
        check_is_fitted(b, ["population_", "weights_"])
    assert not hasattr(FixedPromptBuilder(), "population_")


@pytest.mark.parametrize(
    "builder",
    [
        FixedPromptBuilder(),
        RandomPersonaBuilder(),
        PromptMixtureBuilder("gb"),
        MixtureOfPersonasBuilder(),
        AlignedPersonaBuilder(),
    ],
)
def test_every_builder_refuses_use_before_fit(builder):
    name = type(builder).__name__
    for call in (builder.to_population, builder.to_dict, lambda: builder.sample(3, rng=0)):
        with pytest.raises(NotFittedError, match=f"{name} is not fitted"):
            call()


def test_get_params_follow_the_signature_and_serialise_models():
    crafter, respondent = make_models()
    b = PromptMixtureBuilder("em", 3, crafter, respondent, max_iter=4, temperature=2.5)
    params = b.get_params()
    assert list(params)[:4] == ["method", "n_components", "crafter", "respondent"]
    assert params["crafter"] == "scripted" and params["respondent"] == "known"
    assert params["max_iter"] == 4 and params["temperature"] == 2.5 and params["e_step"] == "posterior"
    assert set(params) == set(PromptMixtureBuilder._param_names()) and isinstance(b, BaseBuilder)
    json.dumps(params)
    assert AlignedPersonaBuilder(item_weights=np.array([1.0, 2.0])).get_params()["item_weights"] == [1.0, 2.0]
    assert FixedPromptBuilder("You are X.").get_params() == {"system_prompt": "You are X."}


def test_set_params_sets_known_names_and_rejects_unknown_ones():
    b = PromptMixtureBuilder("em")
    assert b.set_params(max_iter=7, e_step="literal") is b
    assert b.max_iter == 7 and b.get_params()["e_step"] == "literal"
    with pytest.raises(ValueError, match=r"PromptMixtureBuilder has no parameter 'n_iter'; valid parameters: \["):
        b.set_params(n_iter=3)
    assert "max_iter=7" in repr(b)


def test_sample_draws_by_weight_and_is_seeded():
    b = FixedPromptBuilder()
    b.population_ = Population(
        personas=(Persona(id="a", text="You are A."), Persona(id="b", text="You are B.")),
        weights=np.array([0.2, 0.8]),
        construction="test",
    )
    pop = b.sample(5000, rng=np.random.default_rng(0))
    share = dict(zip([p.id for p in pop.personas], pop.weights, strict=True))
    assert share["b"] == pytest.approx(0.8, abs=0.02)
    assert np.array_equal(b.sample(50, rng=1).weights, b.sample(50, rng=1).weights)
    gen = np.random.default_rng(2)
    assert not np.array_equal(b.sample(50, rng=gen).weights, b.sample(50, rng=gen).weights)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        b.sample(0)


def test_to_dict_embeds_the_population_and_the_fit_record():
    crafter, respondent = make_models()
    values = np.r_[np.full(30, 20.0), np.full(20, 80.0)]
    b = PromptMixtureBuilder("gb", crafter=crafter, respondent=respondent, n_rounds=3, forbid_target_number=False)
    doc = b.fit(FakeScenario(), values).to_dict()
    json.dumps(doc)
    assert doc["kind"] == "populace.prompt_mixture" and doc["builder"] == "PromptMixtureBuilder"
    pop = Population.from_dict(doc["population"])
    assert [p.text for p in pop.personas] == doc["prompts"] == b.prompts_
    assert doc["weights"] == b.weights_.tolist() and doc["params"] == b.get_params()
    assert {"history", "cost", "n_crafted", "n_failed", "failure_reasons", "fallback", "fit_w1"} <= set(doc)
    assert b.to_population() is b.population_
    fixed = FixedPromptBuilder().fit().to_dict()
    assert fixed["kind"] == "populace.fixed" and fixed["population"]["personas"][0]["text"] == (DEFAULT_SYSTEM_PROMPT)


def test_mop_weight_solver_failure_is_a_named_error(monkeypatch, personas_dir):
    import populations.mop as mop
    from alignment import MixtureFit

    real = mop.fit_mixture_weights

    def bad(pmfs, *a, **k):
        fit = real(pmfs, *a, **k)
        if len(pmfs) == 1:
            return fit
        w = np.zeros(len(pmfs))
        w[-1] = 1.0
        return MixtureFit(weights=w, loss=fit.loss + 100.0, n_iter=1, converged=True, method="lp")

    monkeypatch.setattr(mop, "fit_mixture_weights", bad)
    model = KnownDistributionModel(lambda m, a: np.ones(a.size))
    builder = MixtureOfPersonasBuilder(model, pool=personas_dir / "personahub", n_personas=2, n_exemplars=1)
    with pytest.raises(WeightSolverError, match="exceeds the fixed-prompt baseline"):
        builder.fit(FakeScenario(), [10.0, 20.0, 30.0])


def test_mixture_weight_solver_failure_is_a_named_error(monkeypatch):
    import populations.mixture as mixture
    from alignment import MixtureFit

    real = mixture.fit_mixture_weights

    def bad(pmfs, *a, **k):
        fit = real(pmfs, *a, **k)
        if len(pmfs) == 1:
            return fit
        return MixtureFit(weights=fit.weights, loss=fit.loss + 100.0, n_iter=1, converged=True, method="lp")

    monkeypatch.setattr(mixture, "fit_mixture_weights", bad)
    crafter, respondent = make_models()
    b = PromptMixtureBuilder("gb", crafter=crafter, respondent=respondent, n_rounds=2, forbid_target_number=False)
    with pytest.raises(WeightSolverError, match="the 'lp' weight solver failed"):
        b.fit(FakeScenario(), np.r_[np.full(30, 20.0), np.full(20, 80.0)])
