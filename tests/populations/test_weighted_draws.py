"""Issue 18 item 8: behaviour no test checked before.

* Mixture-of-Personas exemplars are drawn in proportion to the humans' survey weights; a zero-weight human never
  becomes an exemplar;
* ``AlignedPersonaBuilder.sample(n)`` returns ``n`` distinct personas (each ``1/n``) when at least ``n`` carry mass.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from populace_lm.fakes import KnownDistributionModel
from populations.aligned import AlignedPersonaBuilder
from populations.mop import MixtureOfPersonasBuilder
from populations.persona import Persona
from tests.populations.mixture_fakes import FakeScenario


@pytest.fixture
def pool(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{i}", "text": f"You are person {i}."}) + "\n" for i in range(240)))
    return path


def _mop(pool, values, weights, n_personas):
    model = KnownDistributionModel(lambda m, a: np.ones(a.size))
    b = MixtureOfPersonasBuilder(model, pool=pool, n_personas=n_personas, n_exemplars=1, random_state=3)
    b.fit(FakeScenario(), values, sample_weight=weights)
    return np.array([p.attributes["exemplar"] for p in b.population_.personas if "exemplar" in p.attributes])


def test_zero_weight_humans_never_become_exemplars(pool):
    values = np.array([10.0] * 60 + [90.0] * 4)
    weights = np.array([0.0] * 60 + [1.0] * 4)  # the many 10s carry no weight
    exemplars = _mop(pool, values, weights, n_personas=40)
    assert exemplars.size == 40 and set(exemplars.tolist()) == {90.0}


def test_exemplars_are_drawn_in_proportion_to_survey_weight(pool):
    values = np.array([10.0] * 100 + [90.0] * 100)
    weights = np.array([1.0] * 100 + [3.0] * 100)  # equal counts, the 90s weigh three times as much
    exemplars = _mop(pool, values, weights, n_personas=240)
    share = float(np.mean(exemplars == 90.0))
    # 240 draws with p = 0.75: sd 0.028, so [0.65, 0.85] holds with overwhelming probability; unweighted gives 0.5
    assert 0.65 < share < 0.85, share


def _aligned(method):
    rng = np.random.default_rng(0)
    pool = rng.normal(0.0, 1.0, size=(120, 3))
    human = rng.normal(0.3, 1.0, size=(200, 3))
    personas = tuple(Persona(id=f"p{i}", text=f"persona {i}") for i in range(120))
    return AlignedPersonaBuilder(method, n_select=30, random_state=0).fit_vectors(pool, human, personas=personas)


@pytest.mark.parametrize("method", ["resample", "ot_only", "raw", "random"])
def test_sample_returns_n_distinct_personas_when_enough_carry_mass(method):
    b = _aligned(method)
    carrying = int(np.count_nonzero(b.weights_)) if method in ("resample", "ot_only") else b.n_pool_
    assert carrying >= 30
    for n in (1, 10, carrying):  # n = every persona with mass: without replacement it must take each once
        for seed in range(5):
            pop = b.sample(n, rng=seed)
            ids = [p.id for p in pop.personas]
            assert len(ids) == n == len(set(ids)), (method, n, seed)
            np.testing.assert_allclose(pop.weights, np.full(n, 1.0 / n))
    if method in ("resample", "ot_only"):
        held = {f"p{i}" for i in np.flatnonzero(b.weights_)}
        assert {p.id for p in b.sample(carrying, rng=0).personas} == held  # only personas that carry mass
