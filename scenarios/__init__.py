"""What agents are asked: one :class:`Scenario` protocol, one registry, scenarios from TOML files.

>>> from scenarios import get_scenario, load_scenario   # doctest: +SKIP
>>> get_scenario("bigfive:E"); get_scenario("my_survey.toml:trust"); get_scenario("wvs_poverty@USA")  # doctest: +SKIP

Names are imported lazily (PEP 562), so ``import scenarios.question`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "SPLITS",
    "Category",
    "DataError",
    "DecisionScenario",
    "DecisionSpec",
    "GameScenario",
    "HumanSample",
    "InfluenceSpec",
    "MultiDimensionError",
    "Question",
    "Scale",
    "Scenario",
    "ScenarioError",
    "ScenarioFileError",
    "Survey",
    "SurveyScenario",
    "SurveySpec",
    "builtin_path",
    "dimension_scenarios",
    "get_influence",
    "get_scenario",
    "influence_names",
    "load_influence",
    "load_scenario",
    "load_spec",
    "register_game",
    "register_scenario",
    "scenario_names",
    "split_indices",
]

_WHERE = {
    "SPLITS": "scenarios.split",
    "split_indices": "scenarios.split",
    "Category": "scenarios.scales",
    "Scale": "scenarios.scales",
    "DataError": "scenarios.errors",
    "MultiDimensionError": "scenarios.errors",
    "ScenarioError": "scenarios.errors",
    "ScenarioFileError": "scenarios.errors",
    "DecisionScenario": "scenarios.file_scenarios",
    "HumanSample": "scenarios.file_scenarios",
    "SurveyScenario": "scenarios.file_scenarios",
    "DecisionSpec": "scenarios.spec",
    "SurveySpec": "scenarios.spec",
    "Question": "scenarios.question",
    "InfluenceSpec": "scenarios.influence",
    "get_influence": "scenarios.influence",
    "influence_names": "scenarios.influence",
    "load_influence": "scenarios.influence",
    "Survey": "scenarios.survey",
    "Scenario": "scenarios.base",
    "load_spec": "scenarios.loader",
    "GameScenario": "scenarios.registry",
    "builtin_path": "scenarios.registry",
    "dimension_scenarios": "scenarios.registry",
    "get_scenario": "scenarios.registry",
    "load_scenario": "scenarios.registry",
    "register_scenario": "scenarios.registry",
    "register_game": "scenarios.games.registry",
    "scenario_names": "scenarios.registry",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'scenarios' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
