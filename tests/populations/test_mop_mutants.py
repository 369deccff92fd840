"""Exact-value tests of :mod:`populations.mop` that a wrong implementation fails (mutation-testing targets).

The Mixture-of-Personas builder on a fake scenario and known-distribution respondents (no LLM): error messages,
the component prompts and their order, the exemplar draw (replayed with the same seeded generator), the weight fit
and its baseline, the fit record and the population's metadata.
"""

from __future__ import annotations

import pytest

from populace_lm.fakes import KnownDistributionModel
from populations.mop import MixtureOfPersonasBuilder
from tests.populations.mixture_fakes import FakeScenario, bimodal, peaked


@pytest.fixture(scope="module")
def scenario():
    return FakeScenario()


def test_mop_needs_a_respondent(scenario):
    with pytest.raises(ValueError, match=r"^MixtureOfPersonasBuilder needs a respondent model \(respondent=\.\.\.\)$"):
        MixtureOfPersonasBuilder().fit(scenario, bimodal(20))


def test_mop_counts_must_be_positive(scenario, personas_dir):
    model = KnownDistributionModel(peaked())
    for kw in ({"n_personas": 0}, {"n_exemplars": 0}):
        b = MixtureOfPersonasBuilder(model, pool=personas_dir / "personahub", **kw)
        with pytest.raises(ValueError, match=r"^n_personas and n_exemplars must be >= 1, got \d, \d$"):
            b.fit(scenario, bimodal(20))
