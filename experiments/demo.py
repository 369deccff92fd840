"""The main job: score simulated populations against held-out humans, end to end, on the embedded model.

For each scenario (the Extraversion trait sum of the IPIP-50 and the dictator game by default):

1. split the humans 50/50 with a seeded permutation (fit half / test half);
2. ask every persona of each population every question of the scenario — exact answer distributions from the
   model's next-token probabilities, one request per distinct (system prompt, question), through the cache;
3. turn item distributions into the score distribution *exactly*: a trait sum is the convolution of the ten
   keyed item distributions (items are asked in separate conversations, so independent given the persona), and
   a population's distribution is the weight-mixture of its personas' distributions;
4. score W1 against the test half; the "1,000 humans" row is the W1 between 1,000 random test humans and the
   other test humans — the distance that sampling noise alone produces.

Row producers are pluggable (:data:`RowProducer`) so later constructions add rows without changing this file's
logic. ``llm_calls`` in a record is the number of distinct LLM requests the row needs (served by the backend or
the cache), so it is the same on every run; what the backend actually did in *this* run is in ``run.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alignment import human_sample_floor_stats, mixture_pmf, wasserstein_1d
from populace_lm.base import LanguageModel
from populations.baselines import FixedPromptBuilder
from populations.persona import Population
from populations.responses import answer_distributions
from scenarios.registry import OneDimScenario, get_scenario

DEFAULT_SCENARIOS = ("bigfive:E", "dictator")


@dataclass(frozen=True, kw_only=True)
class ScenarioData:
    """A scenario with its seeded human split.

    Attributes:
        scenario: the one-dimensional scenario.
        fit: human values of the fit half, shape ``(n_fit,)``.
        test: human values of the test half, shape ``(n_test,)``.
    """

    scenario: OneDimScenario
    fit: np.ndarray
    test: np.ndarray


@dataclass(frozen=True, kw_only=True)
class RowResult:
    """One population scored on one scenario.

    Attributes:
        records: score records for ``scores.json``.
        pmf: the population's score distribution on ``scenario.support``, shape ``(S,)`` (None for human rows).
    """

    records: list[dict[str, Any]]
    pmf: np.ndarray | None


RowProducer = Callable[[LanguageModel, ScenarioData, np.random.Generator], tuple[str, RowResult]]


def split_humans(values: np.ndarray, rng: np.random.Generator, fit_fraction: float = 0.5) -> tuple[np.ndarray, ...]:
    """Seeded fit/test split of human values, shape ``(n,)`` → ``(n_fit,), (n_test,)``."""
    if values.size < 2:
        raise ValueError(f"need at least 2 human values to split, got {values.size}")
    perm = rng.permutation(values.size)
    n_fit = int(round(values.size * fit_fraction))
    return values[perm[:n_fit]], values[perm[n_fit:]]


def score_population(
    model: LanguageModel, population: Population, data: ScenarioData, *, progress: bool = True
) -> RowResult:
    """Exact score distribution of a population on a scenario and its W1 to the test humans."""
    sc = data.scenario
    resp = answer_distributions(model, population.personas, sc.questions(), progress=progress, desc=sc.name)
    pmf = mixture_pmf(population.weights, sc.pmfs(resp.probs))
    valid = float(population.weights @ resp.valid_mass.mean(axis=1))
    base = {
        "scenario": sc.name,
        "population": population.construction,
        "n_agents": len(population),
        "valid_mass": round(valid, 6),
        "parse_failure_rate": round(1.0 - valid, 6),
        "llm_calls": resp.n_requests,
        "evaluation": "exact",
    }
    w1 = wasserstein_1d(sc.support, data.test, u_weights=pmf)
    mean = float(pmf @ sc.support)
    sd = float(np.sqrt(pmf @ (sc.support - mean) ** 2))
    records = [
        {**base, "metric": "w1", "value": round(w1, 6)},
        {**base, "metric": "mean", "value": round(mean, 6)},
        {**base, "metric": "sd", "value": round(sd, 6)},
    ]
    return RowResult(records=records, pmf=pmf)


def fixed_prompt_row(model: LanguageModel, data: ScenarioData, rng: np.random.Generator) -> tuple[str, RowResult]:
    """The fixed-system-prompt baseline (every agent the same "average" respondent)."""
    population = FixedPromptBuilder().fit().population_
    return "fixed_prompt", score_population(model, population, data)


def human_floor_row(_model: LanguageModel, data: ScenarioData, rng: np.random.Generator) -> tuple[str, RowResult]:
    """W1 between 1,000 random test humans and the remaining test humans (mean ± SD over 10 draws)."""
    n = min(1000, data.test.size // 2)
    mean, sd = human_sample_floor_stats(data.test, n=n, repeats=10, rng=rng)
    base = {
        "scenario": data.scenario.name,
        "population": "human_1000",
        "n_agents": n,
        "valid_mass": 1.0,
        "parse_failure_rate": 0.0,
        "llm_calls": 0,
        "evaluation": "sampled",
    }
    records = [
        {**base, "metric": "w1", "value": round(float(mean), 6)},
        {**base, "metric": "w1_sd", "value": round(float(sd), 6)},
        {**base, "metric": "mean", "value": round(float(data.test.mean()), 6)},
        {**base, "metric": "sd", "value": round(float(data.test.std()), 6)},
    ]
    return "human_1000", RowResult(records=records, pmf=None)


DEFAULT_ROWS: tuple[RowProducer, ...] = (human_floor_row, fixed_prompt_row)


def load_scenario_data(name: str, *, source: str | None, rng: np.random.Generator) -> ScenarioData:
    """Resolve a scenario and split its humans."""
    scenario = get_scenario(name, source=source)
    fit, test = split_humans(scenario.human_values(source), rng)
    return ScenarioData(scenario=scenario, fit=fit, test=test)


def run_demo(
    model: LanguageModel,
    out_dir: str | Path,
    *,
    source: str | None = None,
    seed: int = 0,
    scenarios: Sequence[str] = DEFAULT_SCENARIOS,
    rows: Sequence[RowProducer] = DEFAULT_ROWS,
) -> list[dict[str, Any]]:
    """Run the demo and write ``scores.json``, ``report.md``, ``histograms.png`` and ``run.json`` to ``out_dir``.

    Every random choice derives from ``seed`` through ``numpy.random.SeedSequence``: one child per scenario for
    the human split and one per (scenario, row).

    Returns:
        The score records (also in ``scores.json``).
    """
    from experiments.report import write_histograms, write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    root = np.random.SeedSequence(seed)
    records: list[dict[str, Any]] = []
    panels = []
    for name, child in zip(scenarios, root.spawn(len(scenarios)), strict=True):
        split_seq, *row_seqs = child.spawn(1 + len(rows))
        data = load_scenario_data(name, source=source, rng=np.random.default_rng(split_seq))
        pmfs: dict[str, np.ndarray] = {}
        for producer, seq in zip(rows, row_seqs, strict=True):
            label, result = producer(model, data, np.random.default_rng(seq))
            records.extend(result.records)
            if result.pmf is not None:
                pmfs[label] = result.pmf
        panels.append((data, pmfs))
    records.sort(key=lambda r: (r["scenario"], r["population"], r["metric"]))
    (out / "scores.json").write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")
    write_histograms(out / "histograms.png", panels)
    run = {
        "seed": seed,
        "scenarios": list(scenarios),
        "model": getattr(model, "model_id", "?"),
        "seconds": round(time.perf_counter() - started, 2),
        **backend_activity(model),
    }
    (out / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True) + "\n")
    write_report(out / "report.md", records, run)
    return records


def backend_activity(model: LanguageModel) -> dict[str, Any]:
    """Backend calls and cache hits of this process so far, read from the model's wrappers."""
    from populace_lm.budget import AccountingModel, find_layer
    from populace_lm.cache import CachedModel

    info: dict[str, Any] = {}
    cache = find_layer(model, CachedModel)
    if cache is not None:
        stats = cache.stats()
        info["cache_hits"] = stats["hits"]
        info["cache_misses"] = stats["misses"]
        info["cache_path"] = str(cache.path)
    acct = find_layer(model, AccountingModel)
    if acct is not None:
        total = acct.summary()["total"]
        info["backend_requests"] = total["calls"]
        info["backend_forward_passes"] = total["backend_calls"]
        info["prompt_tokens"] = total["prompt_tokens"]
    return info
