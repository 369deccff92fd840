"""Run one simulation and write a self-describing output folder.

Seeds: one root seed → ``numpy.random.SeedSequence`` → named child streams, derived with
:func:`child_seed` from stable names (``("replicate", r, "population")``, ``("replicate", r, "network")``,
``("replicate", r, "model")``), so adding a stream never shifts the others and paired conditions (what-if) share
every stream of a replicate.

Output folder: ``records.parquet`` (tidy, one row per agent, round and role; identical bytes for the same seed and
model), ``outcomes.csv`` (model-level outcomes per round), ``manifest.json`` (config, seeds, package versions,
model id, cache and sharing statistics, wall time) and ``report.md``.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from populace_lm.types import stable_seed
from populations.persona import Population
from scenarios.errors import ScenarioError
from scenarios.games import PARAMETERS, ROLES, Game
from scenarios.registry import get_scenario
from simulator.decisions import DecisionService
from simulator.models import GameModel, SimulationModel, SurveyModel
from simulator.networks import NetworkSpec, build_graph, graph_summary

__all__ = [
    "RunConfig",
    "RunResult",
    "child_seed",
    "package_versions",
    "run_simulation",
    "seed_int",
    "write_run",
]

_PACKAGES = ("populace", "mesa", "networkx", "numpy", "scipy", "pandas", "pyarrow", "llama_cpp_python", "openai")


def child_seed(root: int, *names: object) -> np.random.SeedSequence:
    """The named child stream ``names`` of the root seed (stable across processes and code changes)."""
    return np.random.SeedSequence(entropy=int(root), spawn_key=tuple(stable_seed(n) for n in names))


def seed_int(seq: np.random.SeedSequence) -> int:
    """A 32-bit integer seed from a seed sequence (for Mesa and networkx)."""
    return int(seq.generate_state(1)[0])


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """One simulation.

    Attributes:
        scenario: ``bigfive:E`` … (a survey), a game (``dictator``, ``ultimatum``, ``trust``, ``public_goods``,
            ``bomb_risk``) or a game role (its game is played).
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
            raise ValueError(f"n_agents must be >= 1, got {self.n_agents}")
        if self.rounds < 1 or self.replicates < 1:
            raise ValueError(f"rounds and replicates must be >= 1, got {self.rounds} and {self.replicates}")
        if self.history_rounds < 0:
            raise ValueError(f"history_rounds must be >= 0, got {self.history_rounds}")
        if self.is_survey:
            get_scenario(self.scenario)  # validates the trait name
            if self.params or self.network is not None or self.rounds != 1:
                raise ValueError(f"{self.scenario} is a survey: it takes no game parameters, network or rounds")
        else:
            object.__setattr__(self, "params", dict(self.game.params))

    @property
    def is_survey(self) -> bool:
        """True for ``bigfive:*`` scenarios."""
        return self.scenario.startswith("bigfive:")

    @property
    def game(self) -> Game:
        """The validated game (raises ``ScenarioError`` for unknown names, parameters or out-of-range values)."""
        name = self.scenario if self.scenario in PARAMETERS else ROLES.get(self.scenario, (None,))[0]
        if name is None:
            raise ScenarioError(
                f"unknown scenario {self.scenario!r}; use bigfive:E|N|A|C|O, a game {sorted(PARAMETERS)} "
                f"or a game role {sorted(ROLES)}"
            )
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
        scores: per-agent scenario values for surveys (trait sums), per replicate; empty for games.
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
    config: RunConfig, population: Population, service: DecisionService, replicate: int, **overrides: Any
) -> tuple[SimulationModel, dict[str, int], dict[str, Any]]:
    """The Mesa model of one replicate (population draw, graph and model seed from the replicate's streams).

    ``overrides`` replace game parameters (what-if conditions); everything random stays paired.
    """
    seeds = {
        name: seed_int(child_seed(config.seed, "replicate", replicate, name))
        for name in ("population", "network", "model")
    }
    indices = population.sample(config.n_agents, rng=np.random.default_rng(seeds["population"]))
    if config.is_survey:
        model = SurveyModel(
            scenario=get_scenario(config.scenario),
            population=population,
            persona_indices=indices,
            service=service,
            seed=seeds["model"],
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
    )
    return model, seeds, graph_summary(graph) if graph is not None else {}


def run_simulation(
    config: RunConfig,
    population: Population,
    service: DecisionService,
    *,
    progress: bool = False,
    overrides: dict[str, Any] | None = None,
    on_model: Callable[[int, SimulationModel], None] | None = None,
) -> RunResult:
    """Run every replicate to completion.

    All models are built (and validated) before the first step, so bad input fails before any LLM call.

    Args:
        config: the run.
        population: who the agents are.
        service: the decision service (its statistics are reported).
        progress: show a progress bar over replicates × rounds.
        overrides: game parameters replacing the config's (a what-if condition).
        on_model: called with ``(replicate, model)`` after each replicate finishes.
    """
    start = time.perf_counter()
    built = [build_model(config, population, service, r, **(overrides or {})) for r in range(config.replicates)]
    n_steps = sum(len(m.questions) if isinstance(m, SurveyModel) else config.rounds for m, _, _ in built)
    bar = tqdm(total=n_steps, desc=f"simulate {config.scenario}", disable=not progress, unit="step")
    records, outcomes, scores = [], [], []
    for r, (model, _, _) in enumerate(built):
        while model.running:
            model.step()
            if model.running or isinstance(model, GameModel):
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


def cache_stats(model: Any) -> dict[str, Any]:
    """The response cache's statistics if the model is cache-wrapped (else an empty dict)."""
    stats = getattr(model, "stats", None)
    if not callable(stats):
        return {}
    out = dict(stats())
    out["path"] = str(getattr(model, "path", ""))
    out["mode"] = str(getattr(model, "mode", ""))
    return out


def write_run(
    out_dir: str | Path,
    result: RunResult,
    *,
    llm_model: Any,
    population: Population,
    population_source: str,
    command: str = "",
) -> Path:
    """Write ``records.parquet``, ``outcomes.csv``, ``manifest.json`` and ``report.md`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.records.to_parquet(out / "records.parquet", index=False)
    result.outcomes.to_csv(out / "outcomes.csv", index=False)
    manifest = {
        "kind": "populace.run",
        "command": command,
        "config": result.config.to_dict(),
        "seeds": {"root": result.config.seed, "replicates": result.seeds},
        "population": {
            "source": population_source,
            "construction": population.construction,
            "components": len(population),
        },
        "networks": result.networks,
        "model_id": getattr(llm_model, "model_id", "unknown"),
        "decisions": result.stats,
        "cache": cache_stats(llm_model),
        "packages": package_versions(),
        "wall_seconds": round(result.wall_seconds, 3),
        "files": ["records.parquet", "outcomes.csv", "manifest.json", "report.md"],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (out / "report.md").write_text(run_report(result, manifest))
    return out


def run_report(result: RunResult, manifest: dict[str, Any]) -> str:
    """A Markdown summary of a run."""
    c = result.config
    s = result.stats
    by_round = result.outcomes.groupby("round").mean(numeric_only=True).drop(columns="replicate", errors="ignore")
    lines = [
        f"# Simulation: {c.scenario}",
        "",
        f"- population: {manifest['population']['source']} ({manifest['population']['construction']}, "
        f"{manifest['population']['components']} components)",
        f"- agents: {c.n_agents} × {c.replicates} replicate(s), rounds: {c.rounds}, root seed: {c.seed}",
        f"- game parameters: {json.dumps(c.params, sort_keys=True) if c.params else '—'}",
        f"- network: {c.network.to_dict() if c.network else 'none (random matching)'}",
        f"- history shown to agents: last {c.history_rounds} round(s)" if c.rounds > 1 else "- one-shot",
        f"- model: {manifest['model_id']}",
        f"- decisions: {s['agent_decisions']} from {s['distinct_prompts']} distinct prompts; "
        f"{s['backend_calls']} backend calls, {s['cache_hits']} cache hits",
        f"- wall time: {result.wall_seconds:.1f} s",
        "",
        "Answers are drawn from each prompt's answer distribution renormalised over valid answers; "
        "`parse_failure_rate` is the mean probability the model put on invalid text.",
        "",
        "## Outcomes per round (mean over replicates)",
        "",
        _markdown(by_round.reset_index()),
        "",
        "Files: `records.parquet` (one row per agent, round and role), `outcomes.csv`, `manifest.json`.",
        "",
    ]
    return "\n".join(lines)


def _markdown(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A pipe table without the optional ``tabulate`` dependency."""
    cols = list(frame.columns)

    def fmt(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return "—" if np.isnan(v) else format(float(v), floatfmt)
        return str(v)

    rows = ["| " + " | ".join(map(str, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    rows += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(rows)
