"""One smoke test per scenario, through the Gymnasium-style checker: run twice with the same seed, identical."""

from __future__ import annotations

import numpy as np
import pytest

from populace_lm.fakes import KnownDistributionModel
from scenarios.games import GAMES, ROLES
from scenarios.registry import get_scenario, scenario_names
from simulator import (
    DecisionService,
    ReproducibilityError,
    RunConfig,
    SurveyModel,
    check_reproducible,
)
from tests.simulator.fakes import fake_model, two_personas


@pytest.mark.parametrize("name", [*scenario_names(), *sorted(GAMES)])
def test_every_scenario_runs_reproducibly(name):
    is_game = name in GAMES or name in ROLES
    config = RunConfig(scenario=name, n_agents=8, seed=5, rounds=2 if is_game else 1, replicates=2)
    result = check_reproducible(config, two_personas(), fake_model)
    rec = result.records
    assert set(rec["replicate"]) == {0, 1}
    assert rec["valid_mass"].dropna().eq(0.9).all()
    if is_game:
        assert len(result.outcomes) == 2 * 2 and not result.scores
    else:
        assert all(s.shape[0] == 8 and np.isfinite(s).all() for s in result.scores)
        if result.scores[0].ndim == 1:  # one dimension: scores lie on the scenario's support
            support = get_scenario(name).support
            assert all(np.isin(s, support).all() for s in result.scores)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_game_role_is_asked_as_a_survey_decision(role):
    pop = two_personas()
    scenario = get_scenario(role)
    model = SurveyModel(
        scenario=scenario, population=pop, persona_indices=[0, 1, 1], service=DecisionService(fake_model()), seed=0
    )
    while model.running:
        model.step()
    assert model.scores().tolist() == model.answers[:, 0].tolist()  # a decision scores as itself


def test_the_checker_catches_a_model_that_is_not_reproducible():
    calls = []

    def drifting(messages, answers):  # a different distribution on every call: not a function of the request
        calls.append(1)
        return np.roll(np.linspace(1.0, 3.0, answers.size), len(calls))

    config = RunConfig(scenario="dictator", n_agents=6, seed=1)
    with pytest.raises(ReproducibilityError, match="dictator: two runs with seed 1 gave different records"):
        check_reproducible(config, two_personas(), lambda: KnownDistributionModel(drifting))
