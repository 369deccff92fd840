"""The public API: ``from simulator import ...`` and the doctests of the game specs and simulator modules."""

import doctest
import importlib

import pytest

MODULES = [
    "scenarios.games.dictator",
    "scenarios.games.ultimatum",
    "scenarios.games.trust",
    "scenarios.games.public_goods",
    "scenarios.games.bomb_risk",
    "scenarios.games.core",
    "simulator.base",
    "simulator.treatment",
]


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no doctests"
    assert result.failed == 0


@pytest.mark.parametrize("package", ["simulator", "scenarios.games"])
def test_public_names_are_exported_and_documented(package):
    module = importlib.import_module(package)
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        obj = getattr(module, name)
        if callable(obj):
            assert obj.__doc__, f"{package}.{name} lacks a docstring"


def test_the_issue_names_import():
    from simulator import DecisionService, GameModel, RunConfig, SurveyModel, run_simulation, run_whatif

    assert all((GameModel, SurveyModel, run_whatif, run_simulation, RunConfig, DecisionService))
    from scenarios.games import ROLES, GameRole, game_role
    from scenarios.moblab import human_decisions

    assert game_role("dictator").role == "dictator" and isinstance(game_role("dictator"), GameRole)
    assert callable(human_decisions) and len(ROLES) == 7
