"""Exact-value tests of :mod:`populations.crafting` that a wrong implementation fails (mutation-testing targets).

Prompt extraction at its boundaries (lengths, cuts, refusals, the forbidden number), the failure codes, the
metering wrapper's counts, the exact evaluation of a prompt, and the crafting loop's requests, seeds, rounds and
choice of the best draft, with scripted crafters and known-distribution respondents (no LLM).
"""

from __future__ import annotations

import pytest

from populations.crafting import validate_target
from tests.populations.mixture_fakes import FakeScenario


@pytest.fixture(scope="module")
def scenario():
    return FakeScenario()


@pytest.mark.parametrize("value", [0, 0.0, 100, 37.5])
def test_validate_target_accepts_the_closed_range_and_returns_a_float(scenario, value):
    out = validate_target(scenario, value)
    assert out == float(value) and type(out) is float


@pytest.mark.parametrize("value", [-0.5, 100.5, float("nan"), float("inf")])
def test_validate_target_names_the_value_the_range_and_the_scenario(scenario, value):
    with pytest.raises(ValueError) as info:
        validate_target(scenario, value)
    assert str(info.value) == (
        f"target {value!r} is outside the answer range [0, 100] of scenario 'fake_gift'; pass values on the "
        "scenario's scale"
    )
