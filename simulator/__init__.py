"""Mesa simulations of LLM populations: surveys, economic games and what-ifs (results only, no files).

The only importer of Mesa and networkx. Typical use::

    from simulator import DecisionService, RunConfig, Treatment, run_simulation, run_whatif

    result = run_simulation(RunConfig(scenario="public_goods", n_agents=40, rounds=5), population, service)
    study = run_whatif(config, population, service, treatment=Treatment(text="Most people give half."))

Writers (manifests, Markdown, plots) live in ``experiments.reporting``.
"""

from simulator.agents import LLMAgent
from simulator.base import OUTCOME_COLUMNS, RECORD_COLUMNS, SimulationModel, gini
from simulator.checker import ReproducibilityError, check_reproducible
from simulator.decisions import DecisionBatch, DecisionService, DecisionStats, Draws
from simulator.game import GameModel, RoundState
from simulator.influence import InfluenceModel, InfluenceRun
from simulator.influence_graph import SocietyGraph, society_graph
from simulator.networks import NetworkSpec, build_graph, check_group_graph, graph_summary
from simulator.opinion_models import OPINION_MODELS, OpinionModel, OpinionSociety, fit_opinion_model, simulate_opinions
from simulator.runner import RunConfig, RunEstimate, RunResult, build_model, estimate_run, run_simulation
from simulator.streaming import pairwise_sum, stream_survey_replicate
from simulator.survey import SurveyModel, scenario_scores, score_answers
from simulator.treatment import Treatment, WhatIfConditions, treated_question, treated_system_prompt
from simulator.whatif import (
    CI_METHODS,
    DIFFERENCE_COLUMNS,
    OUTCOMES,
    WhatIfResult,
    exact_survey_means,
    paired_differences,
    paired_effect,
    parse_assignments,
    run_whatif,
    scenario_dimensions,
    survey_differences,
)

__all__ = [
    "CI_METHODS",
    "DIFFERENCE_COLUMNS",
    "OUTCOMES",
    "OPINION_MODELS",
    "OUTCOME_COLUMNS",
    "RECORD_COLUMNS",
    "DecisionBatch",
    "DecisionService",
    "DecisionStats",
    "Draws",
    "GameModel",
    "InfluenceModel",
    "InfluenceRun",
    "LLMAgent",
    "NetworkSpec",
    "OpinionModel",
    "OpinionSociety",
    "ReproducibilityError",
    "RoundState",
    "RunConfig",
    "RunEstimate",
    "RunResult",
    "SimulationModel",
    "SocietyGraph",
    "SurveyModel",
    "Treatment",
    "WhatIfConditions",
    "WhatIfResult",
    "build_graph",
    "build_model",
    "check_reproducible",
    "check_group_graph",
    "estimate_run",
    "exact_survey_means",
    "fit_opinion_model",
    "gini",
    "graph_summary",
    "paired_differences",
    "paired_effect",
    "pairwise_sum",
    "parse_assignments",
    "run_simulation",
    "run_whatif",
    "scenario_dimensions",
    "scenario_scores",
    "simulate_opinions",
    "society_graph",
    "score_answers",
    "stream_survey_replicate",
    "survey_differences",
    "treated_question",
    "treated_system_prompt",
]
