"""What-if studies: the same population and seeds under a baseline and an intervention, paired.

Two kinds of intervention:

* **game parameters** (``baseline``/``intervention`` dicts, e.g. ``multiplier=1.6`` vs ``2.4``): a replicate's
  outcome is its mean over rounds of each :data:`OUTCOMES` column;
* **a treatment message** (:class:`~simulator.treatment.Treatment`) added to each question or to the persona's
  system prompt, for any survey or decision scenario (built-in or a TOML file): the outcomes are each item's mean
  answer and the mean score, and beside the sampled effects stand the exact effects computed from the answer
  distributions (population-weighted expectations, no sampling).

For every replicate both conditions use the same persona draw, graph and Mesa model seed
(:func:`simulator.runner.build_model`), so each agent's answer in both conditions comes from the same uniform
number (common random numbers) and the difference within a replicate isolates the intervention. The paired
differences (intervention − baseline) over ``R`` replicates get a Student-t CI by default,
``d̄ ± t_{R−1, 1−α/2} · s_d / √R`` (the paired t interval, Student 1908), which keeps its coverage with the 2–10
seeds a what-if usually has; a percentile bootstrap over 2–3 seeds is only the min–max of the seeds and can exclude
the exact effect. ``ci_method="bootstrap"`` gives the percentile bootstrap (Efron & Tibshirani 1993, ch. 13,
``scipy.stats.bootstrap`` seeded from the run seed) for many seeds; every row names its method (``ci_method``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from populace_lm.seeds import seed_rng
from populations.persona import Population
from scenarios.registry import get_scenario
from simulator.decisions import DecisionService
from simulator.runner import RunConfig, RunResult, run_simulation
from simulator.treatment import Treatment, WhatIfConditions, treated_question, treated_system_prompt

__all__ = [
    "CI_METHODS",
    "DIFFERENCE_COLUMNS",
    "OUTCOMES",
    "WhatIfResult",
    "exact_survey_means",
    "paired_differences",
    "paired_effect",
    "parse_assignments",
    "run_whatif",
    "scenario_dimensions",
    "survey_differences",
]

OUTCOMES = {
    "mean_decision": "mean first-mover decision (contribution, gift, offer, amount sent)",
    "cooperation_rate": "share of first movers giving at least half the stakes/endowment",
    "gini_payoff": "Gini coefficient of agents' payoffs in the round",
    "mean_payoff": "mean payoff per agent",
}
DIFFERENCE_COLUMNS = (
    "outcome",
    "kind",
    "baseline",
    "intervention",
    "difference",
    "ci_low",
    "ci_high",
    "n_replicates",
    "ci_method",
)
CI_METHODS = ("t", "bootstrap")


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """``["multiplier=1.6", "endowment=20"]`` → ``{"multiplier": "1.6", ...}`` (values validated by ``Game``).

    Raises:
        SimulationError: an item that is not ``name=value``.
    """
    from simulator.errors import SimulationError

    out: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip() or not value.strip():
            raise SimulationError(f"condition {item!r} must look like name=value, e.g. multiplier=1.6")
        out[name.strip()] = value.strip()
    return out


def paired_effect(
    baseline: np.ndarray,
    intervention: np.ndarray,
    *,
    rng: np.random.Generator,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    ci_method: str = "t",
) -> dict[str, Any]:
    r"""Mean paired difference ``intervention − baseline`` over replicates with a confidence interval.

    ``ci_method="t"`` (default): the paired Student-t interval

    .. math:: \bar d \pm t_{R-1,\,(1+c)/2}\; s_d / \sqrt{R}

    over the ``R`` finite differences ``d`` (sample sd ``s_d``), exact for normal differences and honest at the small
    ``R`` of a what-if; ``"bootstrap"``: the percentile bootstrap of the mean (``scipy.stats.bootstrap``), which at
    ``R = 2..3`` is about the min–max of the seeds.

    Args:
        baseline: per-replicate outcomes of the control, shape ``(R,)``.
        intervention: per-replicate outcomes of the intervention, shape ``(R,)``, paired with ``baseline``.
        rng: generator of the bootstrap resamples (unused by the t interval).
        confidence: CI level.
        n_resamples: bootstrap resamples.
        ci_method: ``"t"`` or ``"bootstrap"``.

    Returns:
        ``baseline``, ``intervention`` (means), ``difference``, ``ci_low``, ``ci_high``, ``n_replicates`` and
        ``ci_method``. When every replicate gives the same difference the CI is that single value; with fewer than
        2 finite differences it is NaN.

    Example:
        >>> r = paired_effect(np.zeros(3), np.array([1.0, 2.0, 3.0]), rng=np.random.default_rng(0))
        >>> round(r["ci_low"], 3), round(r["ci_high"], 3)  # 2 ± 4.303 · 1 / √3
        (-0.484, 4.484)
    """
    if ci_method not in CI_METHODS:
        raise ValueError(f"ci_method must be one of {list(CI_METHODS)}, got {ci_method!r}")
    b, i = np.asarray(baseline, dtype=float), np.asarray(intervention, dtype=float)
    if b.shape != i.shape or b.ndim != 1:
        raise ValueError(f"paired outcomes need equal 1-D shapes, got {b.shape} and {i.shape}")
    d = i - b
    d = d[np.isfinite(d)]
    lo = hi = float("nan")
    if d.size >= 2 and np.ptp(d) > 0:
        if ci_method == "t":
            half = stats.t.ppf((1 + confidence) / 2, df=d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
            lo, hi = float(d.mean() - half), float(d.mean() + half)
        else:
            res = stats.bootstrap(
                (d,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="percentile", rng=rng
            )
            lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    elif d.size >= 1:
        lo = hi = float(d[0])  # every replicate gave the same difference
    return {
        "baseline": float(np.nanmean(b)) if np.isfinite(b).any() else float("nan"),
        "intervention": float(np.nanmean(i)) if np.isfinite(i).any() else float("nan"),
        "difference": float(d.mean()) if d.size else float("nan"),
        "ci_low": lo,
        "ci_high": hi,
        "n_replicates": int(d.size),
        "ci_method": ci_method,
    }


def paired_differences(
    per_round: pd.DataFrame,
    *,
    seed: int,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    ci_method: str = "t",
) -> pd.DataFrame:
    """Paired differences of each game outcome's per-replicate mean over rounds, with CIs (:func:`paired_effect`).

    Args:
        per_round: columns ``condition`` (``baseline``/``intervention``), ``replicate``, ``round`` and outcomes.
        seed: seeds the bootstrap generator (one named stream per outcome).
        confidence: CI level.
        n_resamples: bootstrap resamples.
        ci_method: ``"t"`` or ``"bootstrap"`` (:func:`paired_effect`).

    Returns:
        One row per outcome with the columns of :data:`DIFFERENCE_COLUMNS` (``kind`` = ``"outcome"``).
    """
    means = per_round.groupby(["condition", "replicate"]).mean(numeric_only=True)
    rows = []
    for outcome in OUTCOMES:
        if outcome not in means:
            continue
        b = means.loc["baseline", outcome].sort_index().to_numpy(dtype=float)
        i = means.loc["intervention", outcome].sort_index().to_numpy(dtype=float)
        rng = seed_rng(seed, "bootstrap", outcome)
        eff = paired_effect(b, i, rng=rng, confidence=confidence, n_resamples=n_resamples, ci_method=ci_method)
        rows.append({"outcome": outcome, "kind": "outcome", **eff})
    return pd.DataFrame(rows, columns=list(DIFFERENCE_COLUMNS))


def survey_differences(
    runs: dict[str, RunResult],
    *,
    seed: int,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    dimensions: Sequence[str] = (),
    ci_method: str = "t",
) -> pd.DataFrame:
    """Per-item mean answers and the mean score, paired over replicates, with CIs (:func:`paired_effect`).

    Args:
        runs: ``{"baseline": ..., "intervention": ...}`` survey runs of the same config.
        seed: seeds the bootstrap generators (one named stream per item and for the score).
        confidence: CI level.
        n_resamples: bootstrap resamples.
        dimensions: dimension ids when the scores are ``(n, D)`` (multi-dimensional instrument).
        ci_method: ``"t"`` or ``"bootstrap"`` (:func:`paired_effect`).

    Returns:
        One row per item (``kind="item"``, ``outcome`` = item id, in question order) and one per score
        (``kind="score"``, ``outcome="score"``, or ``"score:<dimension>"`` for several), columns
        :data:`DIFFERENCE_COLUMNS`.
    """
    item_means = {}
    for cond, run in runs.items():
        rec = run.records[run.records["role"] == "respondent"]
        item_means[cond] = rec.groupby(["question", "replicate"], sort=False)["decision"].mean()
    rows = []
    for item in dict.fromkeys(runs["baseline"].records["question"]):
        b = item_means["baseline"].loc[item].sort_index().to_numpy(dtype=float)
        i = item_means["intervention"].loc[item].sort_index().to_numpy(dtype=float)
        rng = seed_rng(seed, "bootstrap", "item", item)
        eff = paired_effect(b, i, rng=rng, confidence=confidence, n_resamples=n_resamples, ci_method=ci_method)
        rows.append({"outcome": str(item), "kind": "item", **eff})
    b = np.asarray([np.atleast_2d(s.T).T.mean(axis=0) for s in runs["baseline"].scores])  # (R, D)
    i = np.asarray([np.atleast_2d(s.T).T.mean(axis=0) for s in runs["intervention"].scores])
    names = ["score"] if b.shape[1] == 1 else [f"score:{d}" for d in dimensions or range(b.shape[1])]
    for j, name in enumerate(names):
        rng = seed_rng(seed, "bootstrap", name)
        eff = paired_effect(
            b[:, j], i[:, j], rng=rng, confidence=confidence, n_resamples=n_resamples, ci_method=ci_method
        )
        rows.append({"outcome": name, "kind": "score", **eff})
    return pd.DataFrame(rows, columns=list(DIFFERENCE_COLUMNS))


def scenario_dimensions(scenario: Any) -> tuple[str, ...]:
    """The scenario's dimension ids (the protocol's ``dimensions``)."""
    return tuple(scenario.dimensions)


def exact_survey_means(
    scenario: Any, population: Population, service: DecisionService, treatment: Treatment | None
) -> dict[str, float]:
    """Population-weighted expected answer of each item and expected score, from the answer distributions.

    ``E[item] = Σ_k w_k Σ_v v p_k(v)`` over the population's components ``k`` (weights ``w``, shape ``(K,)``);
    the score's expectation goes through ``scenario.pmfs`` on the ``(K, Q, S)`` item distributions (items
    answered in separate conversations, hence independent given the persona), per dimension for a
    multi-dimensional instrument. Uses the service's memo, so after the simulation this makes no new LLM call.

    Returns:
        item id → expected answer, and ``"score"`` → expected score (``"score:<dimension>"`` for each dimension
        of a multi-dimensional instrument, as :func:`survey_differences` names them).
    """
    from scenarios.registry import dimension_scenarios

    questions = tuple(scenario.questions())
    w = np.asarray(population.weights, dtype=float)
    probs = []
    asked = tuple(treated_question(treatment, q) for q in questions)  # as the simulation's agents ask them
    for persona in population.personas:
        system = treated_system_prompt(treatment, persona.text)
        row = []
        for q in asked:
            p = np.asarray(service.distribution(system, q).probs, dtype=float)
            row.append(p / p.sum())
        probs.append(row)
    out = {}
    for j, q in enumerate(questions):
        values = np.asarray(q.answers.values, dtype=float)
        out[q.id] = float(sum(w[k] * probs[k][j] @ values for k in range(len(w))))
    parts = dimension_scenarios(scenario)
    start = 0
    for part in parts:
        q_part = len(part.questions())
        block = [row[start : start + q_part] for row in probs]
        start += q_part
        if len({p.size for p in block[0]}) != 1:
            continue  # items of one dimension share one scale; a ragged block cannot be stacked
        pmf = np.asarray(part.pmfs(np.asarray(block)), dtype=float)  # (K, S)
        pmf = pmf / pmf.sum(axis=1, keepdims=True)
        key = "score" if len(parts) == 1 else f"score:{part.dimensions[0]}"
        out[key] = float(w @ (pmf @ np.asarray(part.support, dtype=float)))
    return out


@dataclass(frozen=True, kw_only=True)
class WhatIfResult:
    """Outputs of a what-if study.

    Attributes:
        config: the shared run config.
        baseline, intervention: the two conditions' game-parameter changes (empty for a treatment study).
        treatment: the treatment message of the intervention condition, or None for a parameter study.
        per_round: outcomes per condition, replicate and round (a survey's "round" is one item).
        differences: :data:`DIFFERENCE_COLUMNS` per outcome; survey studies add ``exact_baseline``,
            ``exact_intervention`` and ``exact_difference`` (population expectations from the distributions).
        records: tidy records of both conditions (``condition`` column first).
        stats: the decision service's statistics (LLM cost of both conditions).
        wall_seconds: elapsed time.
    """

    config: RunConfig
    baseline: dict[str, Any]
    intervention: dict[str, Any]
    treatment: Treatment | None
    per_round: pd.DataFrame
    differences: pd.DataFrame
    records: pd.DataFrame
    stats: dict[str, int]
    wall_seconds: float

    @property
    def is_survey(self) -> bool:
        """True when the outcomes are survey items and a score."""
        return self.config.is_survey


def run_whatif(
    config: RunConfig,
    population: Population,
    service: DecisionService,
    *,
    baseline: dict[str, Any] | None = None,
    intervention: dict[str, Any] | None = None,
    treatment: Treatment | None = None,
    progress: bool = False,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    exact: bool | None = None,
    ci_method: str = "t",
) -> WhatIfResult:
    """Run both conditions on the same replicates and compare them.

    Give either ``intervention`` (game parameters; ``baseline`` parameters for the other condition) or a
    ``treatment`` (any scenario; for a game, ``baseline`` parameters then apply to both conditions). The
    conditions are checked by :class:`~simulator.treatment.WhatIfConditions` before any LLM call.

    Args:
        config: the shared run config (``replicates`` ≥ 2 paired seeds).
        population: who the agents are.
        service: the decision service (its statistics are the study's LLM cost).
        baseline: game parameters of the control condition.
        intervention: game parameters of the intervention condition.
        treatment: the intervention message (instead of ``intervention``).
        progress: progress bars.
        confidence: CI level.
        n_resamples: bootstrap resamples (``ci_method="bootstrap"``).
        ci_method: ``"t"`` (paired Student-t, default) or ``"bootstrap"`` (percentile); see :func:`paired_effect`.
        exact: survey studies: also compute the exact effects over every population component (one answer
            distribution per component, item and condition). None = only when the population has no more
            components than agent draws (``n_agents × replicates``), so it never costs more than the simulation.

    Raises:
        ValueError: fewer than 2 replicates, neither or both kinds of intervention, parameters for a survey.
        ScenarioError: unknown parameter or out-of-range value.
    """
    conditions = WhatIfConditions(config=config, baseline=baseline, intervention=intervention, treatment=treatment)
    scenario = get_scenario(config.scenario) if config.is_survey else None
    start = time.perf_counter()
    runs = {
        name: run_simulation(config, population, service, progress=progress, **cond)
        for name, cond in conditions.runs().items()
    }
    per_round = pd.concat([r.outcomes.assign(condition=name) for name, r in runs.items()], ignore_index=True)
    per_round = per_round[["condition", *[c for c in per_round.columns if c != "condition"]]]
    records = pd.concat([r.records.assign(condition=name) for name, r in runs.items()], ignore_index=True)
    records = records[["condition", *[c for c in records.columns if c != "condition"]]]
    if config.is_survey:
        differences = survey_differences(
            runs,
            seed=config.seed,
            confidence=confidence,
            n_resamples=n_resamples,
            dimensions=scenario_dimensions(scenario),
            ci_method=ci_method,
        )
        if exact is None:
            exact = len(population) <= config.n_agents * config.replicates
        means: dict[str, dict[str, float]] = {"baseline": {}, "intervention": {}}
        if exact:
            means = {
                "baseline": exact_survey_means(scenario, population, service, None),
                "intervention": exact_survey_means(scenario, population, service, treatment),
            }
        differences["exact_baseline"] = differences["outcome"].map(means["baseline"]).astype(float)
        differences["exact_intervention"] = differences["outcome"].map(means["intervention"]).astype(float)
        differences["exact_difference"] = differences["exact_intervention"] - differences["exact_baseline"]
    else:
        differences = paired_differences(
            per_round, seed=config.seed, confidence=confidence, n_resamples=n_resamples, ci_method=ci_method
        )
    return WhatIfResult(
        config=config,
        baseline=dict(conditions.baseline),
        intervention=dict(conditions.intervention),
        treatment=treatment,
        per_round=per_round,
        differences=differences,
        records=records,
        stats=service.stats().to_dict(),
        wall_seconds=time.perf_counter() - start,
    )
