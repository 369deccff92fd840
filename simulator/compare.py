"""Compare population constructions: populations × scenarios × metrics against human data.

Every population answers every scenario in a :class:`~simulator.survey.SurveyModel` (a game role is asked exactly
as the MobLab humans were asked, first round), one simulated value per agent (a keyed trait sum or a decision),
and the agents' values are scored against the scenario's human sample
(``scenarios.registry.get_scenario(name).human_values``) with :mod:`alignment` metrics. Beside each distance stand
the human sampling floor (W1 between ``n`` random humans and the rest), the parse-failure rate and the LLM cost of
the construction. ``experiments.reporting.write_compare`` writes the tables, grid and report.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alignment import frechet_distance, human_sample_floor_stats, mmd_rbf, wasserstein_1d
from populace_lm.base import LanguageModel
from populace_lm.progress import progress_bar
from populations.persona import Population
from scenarios.registry import get_scenario
from simulator.decisions import DecisionService
from simulator.runner import child_seed, seed_int
from simulator.survey import SurveyModel

__all__ = ["METRICS", "CompareResult", "compare_populations"]

METRICS = {
    "w1": lambda sim, hum: wasserstein_1d(sim, hum),
    "frechet": lambda sim, hum: frechet_distance(sim[:, None], hum[:, None]),
    "mmd": lambda sim, hum: mmd_rbf(sim[:, None], hum[:, None]),
}


@dataclass(frozen=True, kw_only=True)
class CompareResult:
    """Outputs of a comparison.

    Attributes:
        table: one row per population and scenario: metrics, means, floor, parse-failure rate, cost.
        cost: one row per population: distinct prompts, backend calls, cache hits, tokens, seconds.
        samples: ``(population, scenario)`` → (simulated values ``(n,)``, human values ``(m,)``).
        supports: scenario → answer support ``(S,)`` (for histogram bins).
        settings: agents, seed, metrics, scenarios.
    """

    table: pd.DataFrame
    cost: pd.DataFrame
    samples: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]
    supports: dict[str, np.ndarray]
    settings: dict[str, Any]


def compare_populations(
    populations: Mapping[str, Population],
    scenarios: Sequence[str],
    llm_model: LanguageModel,
    *,
    n_agents: int = 500,
    seed: int = 0,
    metrics: Sequence[str] = ("w1",),
    data_source: str | None = None,
    progress: bool = False,
) -> CompareResult:
    """Simulate every population on every scenario and score it against the humans.

    All scenarios, metrics and human samples are resolved before the first LLM call.

    Args:
        populations: name → population.
        scenarios: scenario names (``bigfive:E``, ``dictator``, …).
        llm_model: the (cache-wrapped) language model.
        n_agents: agents drawn per population and scenario.
        seed: root seed (population draws and Mesa models come from named child streams).
        metrics: names in :data:`METRICS`.
        data_source: human data folder or URL (None = default).
        progress: progress bars.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {sorted(METRICS)}")
    if not populations or not scenarios:
        raise ValueError("compare needs at least one population and one scenario")
    specs = {s: get_scenario(s, source=data_source) for s in scenarios}
    humans = {s: np.asarray(spec.human_values(source=data_source), dtype=float) for s, spec in specs.items()}
    floors = {
        s: human_sample_floor_stats(
            h, n=min(n_agents, h.size // 2), repeats=5, rng=np.random.default_rng(child_seed(seed, "floor", s))
        )
        for s, h in humans.items()
    }
    rows, cost_rows = [], []
    samples: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for pname, pop in progress_bar(list(populations.items()), desc="populations", enabled=progress):
        service = DecisionService(llm_model, progress=progress)
        start = time.perf_counter()
        for s in scenarios:
            before = service.stats()
            pop_seed = seed_int(child_seed(seed, "compare", pname, s, "population"))
            indices = pop.sample(n_agents, rng=np.random.default_rng(pop_seed))
            model = SurveyModel(
                scenario=specs[s],
                population=pop,
                persona_indices=indices,
                service=service,
                seed=seed_int(child_seed(seed, "compare", pname, s, "model")),
            )
            while model.running:
                model.step()
            sim = model.scores().astype(float)
            hum = humans[s]
            samples[(pname, s)] = (sim, hum)
            valid = model.records()["valid_mass"].to_numpy()
            after = service.stats()
            row = {
                "population": pname,
                "construction": pop.construction,
                "scenario": s,
                "n_agents": n_agents,
                "n_human": int(hum.size),
                "sim_mean": float(sim.mean()),
                "human_mean": float(hum.mean()),
                "sim_sd": float(sim.std(ddof=1)) if sim.size > 1 else 0.0,
                "human_sd": float(hum.std(ddof=1)),
            }
            row.update({m: float(METRICS[m](sim, hum)) for m in metrics})
            row["w1_human_floor"] = floors[s][0]
            row["parse_failure_rate"] = float(1.0 - np.mean(valid))
            row["distinct_prompts"] = after.distinct_prompts - before.distinct_prompts
            row["backend_calls"] = after.backend_calls - before.backend_calls
            rows.append(row)
        st = service.stats()
        cost_rows.append(
            {
                "population": pname,
                "construction": pop.construction,
                "components": len(pop),
                "agent_decisions": st.agent_decisions,
                "distinct_prompts": st.distinct_prompts,
                "backend_calls": st.backend_calls,
                "cache_hits": st.cache_hits,
                "prompt_tokens": st.prompt_tokens,
                "completion_tokens": st.completion_tokens,
                "seconds": round(time.perf_counter() - start, 2),
            }
        )
    return CompareResult(
        table=pd.DataFrame(rows),
        cost=pd.DataFrame(cost_rows),
        samples=samples,
        supports={s: np.asarray(spec.support, dtype=float) for s, spec in specs.items()},
        settings={
            "n_agents": n_agents,
            "seed": seed,
            "metrics": list(metrics),
            "scenarios": list(scenarios),
            "populations": list(populations),
        },
    )
