"""Run one simulation: replicates of a survey or a game, returned as tidy tables (no files written here).

Seeds: one root seed → ``numpy.random.SeedSequence`` → named child streams, derived with
:func:`populace_lm.seeds.seed_stream` from stable names (``("replicate", r, "population")``, ``("replicate", r, "network")``,
``("replicate", r, "model")``), so adding a stream never shifts the others and paired conditions (what-if) share
every stream of a replicate. ``experiments.reporting.write_run`` writes a result's folder.

Streaming: with ``on_records``, the records go to that callable chunk by chunk instead of into the result, and a
survey runs through :func:`simulator.streaming.stream_survey_replicate` (the same draws as the Mesa survey model,
memory O(agents) instead of O(agents × items)); :func:`estimate_run` says how big a run's output and memory are
before it starts.
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
from simulator.streaming import CHUNK_ROWS, stream_survey_replicate
from simulator.survey import SurveyModel
from simulator.treatment import Treatment

__all__ = ["RunConfig", "RunEstimate", "RunResult", "build_model", "estimate_run", "run_simulation"]


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
        records_streamed: rows handed to ``on_records`` (then ``records`` is empty); 0 when records are held.
    """

    config: RunConfig
    records: pd.DataFrame
    outcomes: pd.DataFrame
    scores: list[np.ndarray]
    seeds: list[dict[str, int]]
    networks: list[dict[str, Any]]
    stats: dict[str, int]
    wall_seconds: float
    records_streamed: int = 0


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
    on_records: Callable[[pd.DataFrame], None] | None = None,
    spill_dir: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> RunResult:
    """Run every replicate to completion.

    All models are built (and validated) before the first step, so bad input fails before any LLM call.
    With ``on_records`` (and no ``on_model``), a survey is streamed instead
    (:func:`simulator.streaming.stream_survey_replicate`): nothing per agent is built up front, and the records of
    every replicate, chunk by chunk, equal those of the Mesa path.

    Args:
        config: the run.
        population: who the agents are.
        service: the decision service (its statistics are reported).
        progress: show a progress bar over replicates × steps (also subject to
            :func:`populace_lm.progress.progress_enabled`).
        overrides: game parameters replacing the config's (a what-if condition).
        treatment: an intervention message (a survey what-if condition).
        on_model: called with ``(replicate, model)`` after each replicate finishes.
        on_records: receives the records chunk by chunk (a ``replicate`` column first), in the order of the held
            ``records``; they are then not kept in the result.
        spill_dir: where a streamed survey spills its answer columns until scoring (None = the temporary folder).
        chunk_rows: rows per streamed chunk.
    """
    start = time.perf_counter()
    scenario = get_scenario(config.scenario) if config.is_survey else None
    if on_records is not None and on_model is None and scenario is not None:
        return _stream_survey(config, population, service, scenario, treatment, on_records, spill_dir, chunk_rows,
                              progress=progress, start=start)  # fmt: skip
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
    streamed = 0
    if on_records is not None:
        for rec in records:
            on_records(rec.reset_index(drop=True))
            streamed += len(rec)
        records = [records[0].iloc[:0]]
    return RunResult(
        config=config,
        records_streamed=streamed,
        records=pd.concat(records, ignore_index=True),
        outcomes=pd.concat(outcomes, ignore_index=True),
        scores=scores,
        seeds=[s for _, s, _ in built],
        networks=[g for _, _, g in built if g],
        stats=service.stats().to_dict(),
        wall_seconds=time.perf_counter() - start,
    )


def _stream_survey(
    config: RunConfig,
    population: Population,
    service: DecisionService,
    scenario: Any,
    treatment: Treatment | None,
    on_records: Callable[[pd.DataFrame], None],
    spill_dir: str | None,
    chunk_rows: int,
    *,
    progress: bool,
    start: float,
) -> RunResult:
    """:func:`run_simulation` of a survey with streamed records (see :mod:`simulator.streaming`)."""
    if len(population) < 1:
        raise ValueError("persona_indices must be a non-empty 1-D array, got an empty population")
    seeds = [
        {name: seed_int(config.seed, "replicate", r, name) for name in ("population", "network", "model")}
        for r in range(config.replicates)
    ]
    n_items = len(tuple(scenario.questions()))
    label = f"simulate {config.scenario}" + (" (treated)" if treatment is not None else "")
    bar = progress_bar(total=n_items * config.replicates, desc=label, unit="step", enabled=progress)
    streamed = [0]

    def count(frame: pd.DataFrame) -> None:
        streamed[0] += len(frame)
        on_records(frame)

    def step() -> None:
        bar.update(1)
        bar.set_postfix_str(f"{service.stats().distinct_prompts} prompts")

    outcomes, scores = [], []
    for r, s in enumerate(seeds):
        out, sc = stream_survey_replicate(
            scenario=scenario,
            population=population,
            n_agents=config.n_agents,
            seeds=s,
            service=service,
            on_records=count,
            replicate=r,
            treatment=treatment,
            chunk_rows=chunk_rows,
            spill_dir=spill_dir,
            on_step=step,
        )
        out.insert(0, "replicate", r)
        outcomes.append(out)
        scores.append(sc)
    bar.close()
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in _RECORD_DTYPES.items()})
    return RunResult(
        config=config,
        records=empty,
        outcomes=pd.concat(outcomes, ignore_index=True),
        scores=scores,
        seeds=seeds,
        networks=[],
        stats=service.stats().to_dict(),
        wall_seconds=time.perf_counter() - start,
        records_streamed=streamed[0],
    )


_RECORD_DTYPES = {
    "replicate": "int64",
    "round": "int64",
    "agent": "int64",
    "persona_index": "int64",
    "persona_id": "object",
    "role": "object",
    "question": "object",
    "partner": "int64",
    "group_size": "int64",
    "decision": "float64",
    "valid_mass": "float64",
    "payoff": "float64",
}


@dataclass(frozen=True, kw_only=True)
class RunEstimate:
    """How big a run is before it starts.

    Attributes:
        rows: record rows (agents × replicates × items, or × rounds × roles for a game).
        disk_bytes: estimated size of the files written (records, scores, outcomes), bytes.
        memory_bytes: estimated peak memory of the run itself (beyond the interpreter and its libraries), bytes.
        streamed: whether the run streams (a survey with ``on_records``); else records are held in memory.
    """

    rows: int
    disk_bytes: int
    memory_bytes: int
    streamed: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return dict(self.__dict__)


# Measured on ``populace run --population fixed --scenario bigfive:E`` (benchmarks/bench_memory.py): Parquet
# records ~6 bytes per row (dictionary-encoded, compressed), scores.csv ~25 bytes per agent; the streamed survey
# holds ~12 bytes per agent plus one chunk; the Mesa path ~500 bytes per decision plus ~1 kB per agent.
_DISK_PER_ROW = 8
_DISK_PER_AGENT = 32
_STREAM_PER_AGENT = 16
_STREAM_CHUNK = CHUNK_ROWS * 400
_HELD_PER_ROW = 500
_HELD_PER_AGENT = 1000


def estimate_run(config: RunConfig, *, streamed: bool) -> RunEstimate:
    """The rows, disk and memory of a run, from its config alone (nothing is built).

    The constants are measured, rounded up (see the module source); use the estimate to refuse a run that cannot
    fit before any work, not as an exact size.
    """
    # a survey: one row per item; a game: a decision and a payoff row per round, at most
    per_agent_rows = len(tuple(get_scenario(config.scenario).questions())) if config.is_survey else config.rounds * 2
    agents = config.n_agents * config.replicates
    rows = agents * per_agent_rows
    disk = rows * _DISK_PER_ROW + agents * _DISK_PER_AGENT
    stream = streamed and config.is_survey
    memory = (
        config.n_agents * _STREAM_PER_AGENT + _STREAM_CHUNK + agents * 8
        if stream
        else rows * _HELD_PER_ROW + config.n_agents * _HELD_PER_AGENT
    )
    return RunEstimate(rows=rows, disk_bytes=int(disk), memory_bytes=int(memory), streamed=stream)
