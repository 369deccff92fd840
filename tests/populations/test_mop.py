import json

import numpy as np
import pytest

from alignment import fit_mixture_weights, pmf_from_samples
from populace_lm.fakes import KnownDistributionModel
from populations.base import NotFittedError
from populations.baselines import DEFAULT_SYSTEM_PROMPT
from populations.mop import MixtureOfPersonasBuilder, exemplar_text
from tests.populations.mixture_fakes import FakeScenario, bimodal


def exemplar_following(messages, answers):
    """Answers near the exemplar in the system prompt ("... they give about X."), 50 without one."""
    system = messages[0].content if messages and messages[0].role == "system" else ""
    centre = float(system.rsplit("about ", 1)[1].rstrip(".")) if "about " in system else 50.0
    v = np.asarray(answers.values, dtype=float)
    return np.exp(-0.5 * ((v - centre) / 4.0) ** 2) + 1e-12


@pytest.fixture(scope="module")
def dictator():
    return FakeScenario()


def test_mop_components_weights_and_population(dictator, personas_dir):
    values = bimodal(2000)
    model = KnownDistributionModel(exemplar_following)
    b = MixtureOfPersonasBuilder(
        model, pool=personas_dir / "personahub", n_personas=5, n_exemplars=3, random_state=0
    ).fit(dictator, values)
    assert len(b.prompts_) == 1 + 5 * 3 and b.prompts_[0] == DEFAULT_SYSTEM_PROMPT
    assert b.component_pmfs_.shape == (16, 101)
    assert b.weights_.sum() == pytest.approx(1.0)
    ex = [p.attributes["exemplar"] for p in b.population_.personas[1:]]
    assert set(ex) <= set(values.tolist())
    assert all(exemplar_text(dictator, e) in p.text for e, p in zip(ex, b.population_.personas[1:], strict=True))
    target = pmf_from_samples(values, dictator.support)
    base = fit_mixture_weights(b.component_pmfs_[:1], dictator.support, target).loss
    assert b.fit_loss_ <= base + 1e-9 and b.fit_loss_ < 0.5 * base
    assert b.population_.construction == "mop"
    assert b.cost_["respondent"]["requests"] == model.calls == 16
    doc = b.to_dict()
    json.dumps(doc)
    assert doc["kind"] == "populace.mop" and doc["population"]["kind"] == "populace.population"
    assert doc["params"]["respondent"] == "known" and doc["params"]["n_exemplars"] == 3
    again = MixtureOfPersonasBuilder(
        model, pool=personas_dir / "personahub", n_personas=5, n_exemplars=3, random_state=0
    ).fit(dictator, values)
    assert again.prompts_ == b.prompts_ and np.array_equal(again.weights_, b.weights_)


def test_mop_exemplar_wording_comes_from_the_scenario(dictator):
    assert exemplar_text(dictator, 31) == "Earlier, someone like you answered like this: they give about 31."


@pytest.mark.parametrize(
    ("kw", "values", "match"),
    [
        ({"n_exemplars": 5}, [1.0, 2.0], "n_exemplars=5 is larger than the 2 human values"),
        ({"n_personas": 0}, [1.0, 2.0], "must be >= 1"),
        ({}, [], "target_values is empty"),
        ({}, [101.0], "not on the answer scale"),
        ({"n_personas": 10**7}, [1.0, 2.0], "exceeds the pool size"),
    ],
)
def test_mop_bad_input(dictator, personas_dir, kw, values, match):
    model = KnownDistributionModel(exemplar_following)
    params = {"pool": personas_dir / "personahub", "n_personas": 2, "n_exemplars": 1, **kw}
    with pytest.raises(ValueError, match=match):
        MixtureOfPersonasBuilder(model, **params).fit(dictator, values)


def test_mop_needs_a_respondent_and_fit(dictator):
    with pytest.raises(ValueError, match="needs a respondent"):
        MixtureOfPersonasBuilder().fit(dictator, [1.0])
    with pytest.raises(NotFittedError, match="MixtureOfPersonasBuilder is not fitted"):
        MixtureOfPersonasBuilder().sample(3, rng=0)
