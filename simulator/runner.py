"""Run one simulation: replicates of a survey or a game, returned as tidy tables (no files written here).

Seeds: one root seed → ``numpy.random.SeedSequence`` → named child streams, derived with
:func:`populace_lm.seeds.seed_stream` from stable names (``("replicate", r, "population")``, ``("replicate", r, "network")``,
``("replicate", r, "model")``), so adding a stream never shifts the others and paired conditions (what-if) share
every stream of a replicate. ``experiments.reporting.write_run`` writes a result's folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from populace_lm.progress import progress_bar
from populace_lm.seeds import seed_int
from populations.persona import Population
from scenarios.errors import ScenarioError
from scenarios.games import GAMES, ROLES, Game
from scenarios.registry import get_scenario
from simulator.base import SimulationModel
from simulator.decisions import DecisionService
from simulator.errors import SimulationError
from simulator.game import GameModel
from simulator.networks import NetworkSpec, build_graph, graph_summary
from simulator.survey import SurveyModel
from simulator.treatment import Treatment

__all__ = ["RunConfig", "RunResult", "build_model", "run_simulation"]


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """One simulation.

    Attributes:
        scenario: a game (``dictator``, ``ultimatum``, ``trust``, ``public_goods``, ``bomb_risk``) or a game role
            (its game is played); anything else is a survey or decision task resolved by
            :func:`scenarios.registry.get_scenario` (``bigfive:E``, ``FILE.toml``, ``FILE.toml:DIM``).
        n_agents: agents per replicate.
        seed: the root seed.
        rounds: rounds of a game (1 = one-shot; surveys ask every item once).
        params: game parameters (validated by :class:`~scenarios.games.Game`).
        network: graph for repeated games (None = random matching).
        history_rounds: past rounds shown in prompts (repeated games).
        history_step: rounding of amounts in histories (None = half the stakes: three levels).
        replicates: independent replicates (each with its own population draw, graph and model seed).
    """

    scenario: str
    n_agents: int
    seed: int = 0
    rounds: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    network: NetworkSpec | None = None
    history_rounds: int = 1
    history_step: int | None = None
    replicates: int = 1

    def __post_init__(self) -> None:
        if self.n_agents < 1:
            raise SimulationError(f"n_agents must be >= 1, got {self.n_agents}")
        if self.rounds < 1 or self.replicates < 1:
            raise SimulationError(f"rounds and replicates must be >= 1, got {self.rounds} and {self.replicates}")
        if self.history_rounds < 0:
            raise SimulationError(f"history_rounds must be >= 0, got {self.history_rounds}")
        if self.is_survey:
            get_scenario(self.scenario)  # validates the name or file
            if self.params or self.network is not None or self.rounds != 1:
                raise SimulationError(f"{self.scenario} is a survey: it takes no game parameters, network or rounds")
        else:
            object.__setattr__(self, "params", dict(self.game.params))

    @property
    def is_survey(self) -> bool:
        """True unless the scenario names a game or a game role (questions asked once, no matching)."""
        return self.scenario not in GAMES and self.scenario not in ROLES

    @property
    def game(self) -> Game:
        """The validated game (raises ``ScenarioError`` for a survey, unknown parameters or out-of-range values)."""
        if self.is_survey:
            raise ScenarioError(f"{self.scenario!r} is a survey or decision task, not a game {sorted(GAMES)}")
        name = self.scenario if self.scenario in GAMES else ROLES[self.scenario][0]
        return Game(name=name, params=self.params)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "scenario": self.scenario,
            "n_agents": self.n_agents,
            "seed": self.seed,
            "rounds": self.rounds,
            "params": dict(self.params),
            "network": self.network.to_dict() if self.network else None,
            "history_rounds": self.history_rounds,
            "history_step": self.history_step,
            "replicates": self.replicates,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Inverse of :meth:`to_dict`."""
        net = d.get("network")
        return cls(**{**d, "network": NetworkSpec.from_dict(net) if net else None})


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """What a run produced.

    Attributes:
        config: the run's config.
        records: tidy records with a ``replicate`` column first.
        outcomes: model-level outcomes per replicate and round.
        scores: per-agent scenario scores for surveys (e.g. trait sums), shape ``(n_agents,)`` per replicate
            (``(n_agents, D)`` for a D-dimensional instrument); empty for games.
        seeds: the child seeds used (as integers), per replicate.
        networks: graph summaries per replicate (empty without a network).
        stats: the decision service's statistics after the run.
        wall_seconds: elapsed time.
    """

    config: RunConfig
    records: pd.DataFrame
    outcomes: pd.DataFrame
    scores: list[np.ndarray]
    seeds: list[dict[str, int]]
    networks: list[dict[str, Any]]
    stats: dict[str, int]
    wall_seconds: float


def build_model(
    config: RunConfig,
    population: Population,
    service: DecisionService,
    replicate: int,
    *,
    scenario: Any = None,
    treatment: Treatment | None = None,
    **overrides: Any,
) -> tuple[SimulationModel, dict[str, int], dict[str, Any]]:
    """The Mesa model of one replicate (population draw, graph and model seed from the replicate's streams).

    Args:
        config: the run's config.
        population: who the agents are.
        service: the decision service.
        replicate: replicate number (names its seed streams).
        scenario: the resolved survey scenario (None = resolve ``config.scenario``).
        treatment: an intervention message (what-if condition).
        **overrides: game parameters replacing the config's (what-if condition).

    Everything random depends only on ``config.seed`` and ``replicate``, so conditions stay paired.
    """
    seeds = {name: seed_int(config.seed, "replicate", replicate, name) for name in ("population", "network", "model")}
    indices = population.sample(config.n_agents, rng=np.random.default_rng(seeds["population"]))
    if config.is_survey:
        model = SurveyModel(
            scenario=scenario if scenario is not None else get_scenario(config.scenario),
            population=population,
            persona_indices=indices,
            service=service,
            seed=seeds["model"],
            treatment=treatment,
        )
        return model, seeds, {}
    graph = build_graph(config.network, config.n_agents, seed=seeds["network"]) if config.network else None
    game = config.game.with_params(**overrides) if overrides else config.game
    model = GameModel(
        game=game,
        population=population,
        persona_indices=indices,
        service=service,
        seed=seeds["model"],
        rounds=config.rounds,
        network=graph,
        history_rounds=config.history_rounds,
        history_step=config.history_step,
        treatment=treatment,
    )
    return model, seeds, graph_summary(graph) if graph is not None else {}


def run_simulation(
    config: RunConfig,
    population: Population,
    service: DecisionService,
    *,
    progress: bool = False,
    overrides: dict[str, Any] | None = None,
    treatment: Treatment | None = None,
    on_model: Callable[[int, SimulationModel], None] | None = None,
) -> RunResult:
    """Run every replicate to completion.

    All models are built (and validated) before the first step, so bad input fails before any LLM call.

    Args:
        config: the run.
        population: who the agents are.
        service: the decision service (its statistics are reported).
        progress: show a progress bar over replicates × steps (also subject to
            :func:`populace_lm.progress.progress_enabled`).
        overrides: game parameters replacing the config's (a what-if condition).
        treatment: an intervention message (a survey what-if condition).
        on_model: called with ``(replicate, model)`` after each replicate finishes.
    """
    start = time.perf_counter()
    scenario = get_scenario(config.scenario) if config.is_survey else None
    built = [
        build_model(config, population, service, r, scenario=scenario, treatment=treatment, **(overrides or {}))
        for r in range(config.replicates)
    ]
    n_steps = sum(m.n_steps for m, _, _ in built)
    label = f"simulate {config.scenario}" + (" (treated)" if treatment is not None else "")
    bar = progress_bar(total=n_steps, desc=label, unit="step", enabled=progress)
    records, outcomes, scores = [], [], []
    for r, (model, _, _) in enumerate(built):
        while model.running:
            model.step()
            bar.update(1)
            bar.set_postfix_str(f"{service.stats().distinct_prompts} prompts")
        rec = model.records()
        rec.insert(0, "replicate", r)
        records.append(rec)
        out = model.outcomes()
        out.insert(0, "replicate", r)
        outcomes.append(out)
        if isinstance(model, SurveyModel):
            scores.append(model.scores())
        if on_model is not None:
            on_model(r, model)
    bar.close()
    return RunResult(
        config=config,
        records=pd.concat(records, ignore_index=True),
        outcomes=pd.concat(outcomes, ignore_index=True),
        scores=scores,
        seeds=[s for _, s, _ in built],
        networks=[g for _, _, g in built if g],
        stats=service.stats().to_dict(),
        wall_seconds=time.perf_counter() - start,
    )
