r"""The one evaluation module: split, human floor, like-with-like scores and score records.

Every command that scores a population (``demo``, ``fit``, ``compare``, ``experiment seed000``/``seed002``,
``whatif`` where it scores) goes through these functions, so the same ``--seed`` gives the same test half and the
same kind of number everywhere.

The protocol (prompt-mixture paper [1], Tables 2/4; persona paper [2], Table 1):

1. :func:`split_humans` — one seeded split of human **rows** (:func:`scenarios.split.split_indices`); a population
   is fitted on the fit half only and scored on the test half only.
2. :func:`human_floor` — ``n`` test humans against the *remaining* test humans (disjoint samples), mean ± SD over
   ``repeats`` random splits: the distance sampling noise alone produces between two groups of real people.
3. :func:`score_distribution` — three numbers per construction and scenario, each of a stated kind:

   * ``w1_exact`` (kind ``exact``): W1 between the population's exact answer pmf and the test humans. It has no
     sampling noise on the simulated side, so it is **never** set beside the floor;
   * ``w1_sampled_mean`` ± ``w1_sampled_sd`` (kind ``sampled``): ``n`` simulated agents (``n`` = the floor's
     ``n``) drawn from the population by inverse CDF, against the test humans, over ``repeats`` draws. This is
     the number to set beside the floor: both carry the noise of ``n`` draws.

   **Survey weights** (a scenario file's ``data.weight``) make the humans a weighted sample: the fit half's
   target distribution is weighted (builders take ``sample_weight``), ``w1_exact`` and the sampled score compare
   with the *weighted* test half, and the floor draws its ``n`` humans with probability proportional to weight
   (so, like the ``n`` simulated agents, they are equal-weight draws from the weighted population) and compares
   them with the remaining test humans, weighted.

   W1 needs an order. On **unordered categories** (``scenario.ordered`` False) the same three numbers are total
   variation instead (``tv_exact``, ``tv_sampled_mean`` ± ``tv_sampled_sd``, a TV floor; ``metric = "tv"``),
   with the signed per-category gaps of the exact pmf (:func:`alignment.categorical.category_gaps`).

4. :func:`score_vectors` — the same for multi-item response vectors (AMW, FD, SW, MMD, MAE-corr; [2]): ``n``
   simulated vectors against the test humans beside ``n`` test humans against the remaining test humans.
5. :func:`score_records` — one flat record per (scenario, construction) for ``scores.json`` and every table;
   :data:`COLUMN_KINDS` says which kind each column is.
6. The seeded entry points every command calls (the streams of :mod:`populace_lm.seeds`, so the same ``--seed``
   gives the same floor in ``demo``, ``fit``, ``compare`` and the experiments): :func:`seeded_floor` (stream
   ``("floor", scenario)``), :func:`score_dimension` (``("score", scenario, construction)``) and
   :func:`score_vector_record` (``("vectors", scenario, construction)`` and ``("vector-floor", scenario)``).

References:
    [1] "Distributional Alignment for Social Simulation with LLMs: A Prompt Mixture Modeling Approach".
    [2] "Population-Aligned Persona Generation for LLM-based Social Simulation".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from alignment import mixture_pmf, pmf_from_samples, score_table, wasserstein_1d
from alignment.categorical import category_gaps, simbench_score, total_variation
from alignment.floor import human_sample_floor
from populace_lm.base import LanguageModel
from populace_lm.seeds import seed_rng
from populations.mop_gate import dimension_weights
from populations.persona import Population
from populations.responses import answer_distributions
from scenarios.split import split_indices

__all__ = [
    "COLUMN_HELP",
    "COLUMN_KINDS",
    "VECTOR_HELP",
    "builder_fit_info",
    "VECTOR_METRICS",
    "FloorResult",
    "floor_size",
    "human_floor",
    "inverse_cdf_sample",
    "population_pmfs",
    "score_distribution",
    "score_population",
    "score_records",
    "scenario_floor",
    "score_vectors",
    "score_dimension",
    "score_vector_record",
    "seeded_floor",
    "population_fit_info",
    "simulate_score_vectors",
    "HumanHalves",
    "human_halves",
    "human_split",
    "split_humans",
    "weighted_resample",
]

VECTOR_METRICS = ("amw", "frechet", "sliced_w", "mmd", "corr_mae")

#: Kind of every column of a score record: ``exact`` (exact pmf, no simulated sampling noise), ``sampled``
#: (n simulated agents, mean/sd over repeats), ``floor`` (n humans vs the remaining humans, mean/sd over repeats),
#: ``validity``, ``cost``, ``fit`` (crafting outcome), ``key``.
COLUMN_KINDS: dict[str, str] = {
    "scenario": "key",
    "construction": "key",
    "metric": "key",
    "w1_exact": "exact",
    "tv_exact": "exact",
    "simbench_s_exact": "exact",
    "category_gaps_exact": "exact",
    "tv_sampled_mean": "sampled",
    "tv_sampled_sd": "sampled",
    "mean_exact": "exact",
    "sd_exact": "exact",
    "human_test_mean": "exact",
    "components": "fit",
    "w1_sampled_mean": "sampled",
    "w1_sampled_sd": "sampled",
    "n_sampled": "sampled",
    "repeats": "sampled",
    "floor_mean": "floor",
    "floor_sd": "floor",
    "floor_n": "floor",
    "worth_k": "worth",
    "worth_k_lo": "worth",
    "worth_k_hi": "worth",
    "worth_tasks": "worth",
    "valid_mass": "validity",
    "parse_failure_rate": "validity",
    "llm_calls": "cost",
    "n_crafted": "fit",
    "n_failed": "fit",
    "fallback": "fit",
    "failure_reasons": "fit",
}


#: What each column of a score record means, for the reports' column legends (:data:`COLUMN_KINDS` gives its kind).
COLUMN_HELP = {
    "metric": "`w1` where the answers are ordered; `tv` (total variation between category frequencies, in "
    "[0, 1]) on unordered categories, where W1 has no meaning. The floor of a row is in the row's metric; "
    "`tv_*` columns mirror `w1_*`, and `category_gaps_exact` lists population − test humans per category.",
    "w1_exact": "W1 between the population's **exact** answer distribution (weights × each persona's "
    "log-probability distribution) and the test humans. No sampling noise on the simulated side, so it is never "
    "compared with the floor.",
    "mean_exact / human_test_mean": "mean answer of the exact distribution / of the test humans.",
    "parse_failure_rate": "weighted mean probability the model put on text that is not a valid answer "
    "(1 − valid mass); the distributions are renormalised over valid answers.",
    "w1_sampled_mean ± w1_sampled_sd": "W1 between `n` simulated agents drawn from the exact distribution and the "
    "test humans, mean ± SD over `repeats` draws: the **sampled** score.",
    "floor_mean ± floor_sd": "W1 between `n` test humans and the remaining test humans (mean ± SD over `repeats` "
    "splits): what sampling noise alone gives between two groups of real people. Compare it with the sampled "
    "score only.",
    "floor_n / repeats": "agents per sampled draw = humans per floor draw (the study's `agents`, capped at half the "
    "test half) / number of draws.",
    "n_fit / n_test": "humans in the fit half (used for fitting only) / the test half (used for scoring only).",
    "simbench_s_exact": "SimBench's S = 100 · (1 − TV / TV_uniform) of the exact distribution (Hu et al. 2025, "
    "arXiv 2510.17516): 100 = the test humans' shares exactly, 0 = no better than answering uniformly at random, "
    "negative = worse; beside TV for unordered categories.",
    "worth_k (worth_k_lo..worth_k_hi, worth_tasks)": "how many test humans the population is worth (k̂, Huang, "
    "Wu & Wang 2025): the largest number of simulated answers whose confidence sets still cover the test humans' "
    "values at the nominal rate over the part's calibration tasks (its score and each item); 0 = worth no human; "
    "empty with fewer than 3 tasks (a game has one). "
    "The range is over leaving one task out; definition in docs/inference.md.",
    "components": "personas or prompts in the fitted population.",
    "n_failed": "crafting jobs (one prompt asked of the crafter per component and round) whose reply held no "
    "usable prompt (recorded and skipped, never defaulted); their reasons are in the crafting table.",
    "llm_calls": "distinct LLM requests of the row, fitting and evaluation (served by the backend or the cache).",
    "status": "`ok`; `fallback: …` when no crafted prompt was usable and the builder returned the fixed-prompt "
    "population; `failed: …` when a construction could not be built (an LLM failure, kept as data).",
}


#: The multivariate metrics of :func:`score_vectors` ([2] Table 1), each sampled beside its floor.
VECTOR_HELP = {
    "amw": "average marginal W1 over the dimensions",
    "frechet": "Fréchet distance of Gaussians fitted to the score vectors",
    "sliced_w": "sliced Wasserstein distance (random projections)",
    "mmd": "maximum mean discrepancy (RBF kernel, median bandwidth)",
    "corr_mae": "mean absolute error of the off-diagonal correlations between dimensions",
}


@dataclass(frozen=True)
class FloorResult:
    """The human sampling floor.

    Attributes:
        mean: mean distance over the repeats.
        sd: standard deviation over the repeats (ddof=1; 0 for one repeat).
        n: humans in the held-out sample of each repeat (compared with the remaining ``m - n``).
        repeats: random splits.
        metric: ``"w1"`` (ordered answers; AMW for vectors) or ``"tv"`` (unordered categories).
    """

    mean: float
    sd: float
    n: int
    repeats: int
    metric: str = "w1"


def _gen(rng: np.random.Generator | int) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def split_humans(values: Any, *, seed: int, fit_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The one seeded fit/test split of human rows.

    Args:
        values: human rows, shape ``(n,)`` (one value each) or ``(n, D)`` (response vectors).
        seed: the run's root seed; the same seed gives the same halves in every command.
        fit_fraction: share of rows in the fit half.

    Returns:
        ``(fit, test)``: the rows of each half, shapes ``(n_fit, ...)`` and ``(n - n_fit, ...)``, in row order.

    Raises:
        ValueError: fewer than 2 rows or a fraction that leaves a half empty.

    Example:
        >>> fit, test = split_humans(np.arange(10.0), seed=0)
        >>> sorted(np.concatenate([fit, test]).tolist()) == list(range(10))
        True
    """
    x = np.asarray(values, dtype=float)
    if x.ndim not in (1, 2):
        raise ValueError(f"human values must have shape (n,) or (n, D), got {x.shape}")
    fit_idx, test_idx = split_indices(x.shape[0], seed=seed, fit_fraction=fit_fraction)
    return x[fit_idx], x[test_idx]


def human_split(
    scenario: Any, *, seed: int, source: Any = None, fit_fraction: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """The one fit/test split of a scenario's humans: its data **rows** are split, then scored.

    Every command (demo, fit, compare, the experiments) calls this, so the same ``seed`` puts the same respondents
    in the test half everywhere, and a one-dimensional score shares the split with the multi-item vectors.

    Args:
        scenario: any :class:`scenarios.Scenario`.
        seed: the run's root seed.
        source: human-data location (None = the default).
        fit_fraction: share of rows in the fit half.

    Returns:
        ``(fit, test)`` human values, shapes ``(n_fit,)`` and ``(n_test,)``.
    """
    kw = {"seed": seed, "source": source, "fit_fraction": fit_fraction}
    return scenario.human_values("fit", **kw), scenario.human_values("test", **kw)


@dataclass(frozen=True)
class HumanHalves:
    """The fit and test halves of a scenario's humans with their survey weights.

    Attributes:
        fit: fit-half values, shape ``(n_fit,)`` or ``(n_fit, D)``.
        test: test-half values, shape ``(n_test,)`` or ``(n_test, D)``.
        fit_weights: survey weights of the fit half, ``(n_fit,)``, or None (unweighted).
        test_weights: survey weights of the test half, ``(n_test,)``, or None.
    """

    fit: np.ndarray
    test: np.ndarray
    fit_weights: np.ndarray | None
    test_weights: np.ndarray | None


def human_halves(scenario: Any, *, seed: int, source: Any = None, fit_fraction: float = 0.5) -> HumanHalves:
    """:func:`human_split` plus the survey weights of each half (``scenario.human_weights``)."""
    kw = {"seed": seed, "source": source, "fit_fraction": fit_fraction}
    fit, test = human_split(scenario, **kw)
    fit_w, test_w = scenario.human_weights("fit", **kw), scenario.human_weights("test", **kw)
    return HumanHalves(
        fit=fit,
        test=test,
        fit_weights=None if fit_w is None else np.asarray(fit_w, dtype=float),
        test_weights=None if test_w is None else np.asarray(test_w, dtype=float),
    )


def weighted_resample(values: Any, weights: Any, rng: np.random.Generator | int) -> np.ndarray:
    """An equal-weight sample of the same size drawn from weighted rows (with replacement, probability ∝ weight).

    For methods that take no sample weights (KDE + OT alignment, multivariate metrics): a seeded weighted
    bootstrap has the weighted rows' distribution in expectation.

    Args:
        values: rows, shape ``(m,)`` or ``(m, D)``.
        weights: non-negative survey weights, shape ``(m,)``, or None (returns ``values`` unchanged).
        rng: generator (advanced) or int seed.

    Returns:
        Rows of the same shape.
    """
    x = np.asarray(values, dtype=float)
    if weights is None:
        return x
    w = np.asarray(weights, dtype=float)
    if w.shape != (x.shape[0],) or (w < 0).any() or not w.sum() > 0:
        raise ValueError(f"weights must be non-negative with shape ({x.shape[0]},) and a positive sum, got {w.shape}")
    return x[_gen(rng).choice(x.shape[0], size=x.shape[0], replace=True, p=w / w.sum())]


def floor_size(n_test: int, n: int = 1000) -> int:
    """Size of the floor's held-out sample: ``n``, or half the test humans when there are not more than ``2n``.

    Raises:
        ValueError: fewer than 2 test humans.
    """
    if n_test < 2:
        raise ValueError(f"the human floor needs at least 2 test humans, got {n_test}")
    return int(min(n, n_test // 2))


def human_floor(
    test: Any,
    *,
    n: int,
    repeats: int = 10,
    rng: np.random.Generator | int,
    categories: Any = None,
    weights: Any = None,
) -> FloorResult:
    """``n`` test humans against the remaining test humans (disjoint), over ``repeats`` random splits.

    W1 for values of shape ``(m,)``; AMW for response vectors of shape ``(m, D)``; total variation between the
    two halves' category frequencies when ``categories`` (unordered answers) is given.

    Args:
        test: the test half, shape ``(m,)`` or ``(m, D)``, ``m > n``.
        n: size of the held-out sample (use :func:`floor_size`).
        repeats: random splits.
        rng: generator (advanced) or int seed.
        categories: the unordered categories' values, shape ``(C,)`` (None: the answers are ordered).
        weights: survey weights of the test half, shape ``(m,)`` (one-dimensional values only): the ``n`` humans
            are drawn with probability proportional to weight (without replacement) and compared, unweighted,
            with the remaining humans, weighted.

    Returns:
        FloorResult.

    Raises:
        ValueError: ``n`` not in ``[1, m - 1]``, ``repeats < 1``, or weights with fewer than ``n + 1`` positive
            (the rest would carry no weight).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    gen = _gen(rng)
    if categories is None and weights is None:
        vals = np.array([human_sample_floor(test, n=n, rng=gen) for _ in range(repeats)])
    else:
        h = np.asarray(test, dtype=float)
        if h.ndim != 1 or not 1 <= n < h.size:
            raise ValueError(f"n = {n} must be in [1, {h.size - 1}] for {h.size} test humans of shape {h.shape}")
        w = None if weights is None else np.asarray(weights, dtype=float)
        if w is not None and (w.shape != h.shape or (w < 0).any() or np.count_nonzero(w) <= n):
            raise ValueError(
                f"weights must be non-negative, shape {h.shape}, with at least n = {n} positive (the drawn humans) "
                "plus one for the rest"
            )
        vals = []
        for _ in range(repeats):
            if w is None:
                perm = gen.permutation(h.size)
                drawn, rest = perm[:n], perm[n:]
            else:
                drawn = gen.choice(h.size, size=n, replace=False, p=w / w.sum())
                rest = np.setdiff1d(np.arange(h.size), drawn)
            rest_w = None if w is None else w[rest]
            if categories is None:
                vals.append(wasserstein_1d(h[drawn], h[rest], v_weights=rest_w))
            else:
                cats = np.asarray(categories, dtype=float)
                vals.append(total_variation(pmf_from_samples(h[drawn], cats), pmf_from_samples(h[rest], cats, rest_w)))
        vals = np.asarray(vals)
    return FloorResult(
        mean=float(vals.mean()),
        sd=float(vals.std(ddof=1)) if repeats > 1 else 0.0,
        n=int(n),
        repeats=int(repeats),
        metric="w1" if categories is None else "tv",
    )


def scenario_floor(
    scenario: Any, test: Any, *, n: int, repeats: int = 10, rng: np.random.Generator | int, weights: Any = None
):
    """:func:`human_floor` in the scenario's metric: W1 where its answers are ordered, TV on unordered categories."""
    categories = None if scenario.ordered else np.asarray(scenario.support, dtype=float)
    return human_floor(test, n=n, repeats=repeats, rng=rng, categories=categories, weights=weights)


def inverse_cdf_sample(pmf: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` i.i.d. draws from a pmf by inverse CDF: the first ``s`` with ``CDF(s) > u``.

    Args:
        pmf: probabilities, shape ``(S,)`` (non-negative, renormalised here).
        n: draws.
        rng: generator.

    Returns:
        int indices into the support, shape ``(n,)``; an index with zero probability is never drawn.
    """
    p = np.asarray(pmf, dtype=float)
    if p.ndim != 1 or p.size == 0 or (p < 0).any() or not np.isfinite(p).all() or p.sum() <= 0:
        raise ValueError(f"pmf must be a non-negative finite vector with positive mass, got shape {p.shape}")
    cdf = np.cumsum(p / p.sum())
    cdf[-1] = 1.0
    u = rng.random(n)
    return np.searchsorted(cdf, u, side="right")


def score_distribution(
    pmf: Any,
    support: Any,
    test: Any,
    *,
    n: int,
    repeats: int = 10,
    rng: np.random.Generator | int,
    ordered: bool = True,
    test_weights: Any = None,
) -> dict[str, Any]:
    """W1 of a population's answer pmf to the test humans, exactly and as ``n`` sampled agents.

    On unordered categories (``ordered=False``) the distance is total variation between category frequencies
    and the keys are ``tv_exact``, ``tv_sampled_mean``, ``tv_sampled_sd`` and ``category_gaps_exact`` (population
    minus test humans per category, shape ``(S,)``, summing to 0).

    Args:
        pmf: the population's exact answer distribution (mixture of its personas'), shape ``(S,)``.
        support: answer values, shape ``(S,)``.
        test: test-half human values, shape ``(m,)``.
        n: simulated agents per draw; pass the floor's ``n`` so the sampled score sits beside the floor.
        repeats: draws.
        rng: generator (advanced) or int seed.
        ordered: False for unordered categories (total variation instead of W1).
        test_weights: survey weights of the test humans, shape ``(m,)`` (None: unweighted).

    Returns:
        ``{"metric", "w1_exact", "w1_sampled_mean", "w1_sampled_sd", "n_sampled", "repeats"}`` (``"tv_…"``
        keys and ``category_gaps_exact`` instead of ``"w1_…"`` when unordered).
    """
    h = np.asarray(test, dtype=float)
    s = np.asarray(support, dtype=float)
    p = np.asarray(pmf, dtype=float)
    if h.ndim != 1 or h.size == 0:
        raise ValueError(f"test humans must be a non-empty vector, got shape {h.shape}")
    if p.shape != s.shape:
        raise ValueError(f"pmf has shape {p.shape} but support has shape {s.shape}")
    if n < 1 or repeats < 1:
        raise ValueError(f"n and repeats must be >= 1, got n={n}, repeats={repeats}")
    hw = None if test_weights is None else np.asarray(test_weights, dtype=float)
    if hw is not None and hw.shape != h.shape:
        raise ValueError(f"test_weights has shape {hw.shape}, expected {h.shape}")
    gen = _gen(rng)
    if not ordered:
        q = pmf_from_samples(h, s, hw)
        tv = np.array([total_variation(np.bincount(inverse_cdf_sample(p, n, gen), minlength=s.size) / n, q)
                       for _ in range(repeats)])  # fmt: skip
        return {
            "metric": "tv",
            "tv_exact": float(total_variation(p / p.sum(), q)),
            "simbench_s_exact": simbench_score(p / p.sum(), q),
            "tv_sampled_mean": float(tv.mean()),
            "tv_sampled_sd": float(tv.std(ddof=1)) if repeats > 1 else 0.0,
            "category_gaps_exact": [float(g) for g in category_gaps(p / p.sum(), q)],
            "n_sampled": int(n),
            "repeats": int(repeats),
        }
    draws = np.array([wasserstein_1d(s[inverse_cdf_sample(p, n, gen)], h, v_weights=hw) for _ in range(repeats)])
    return {
        "metric": "w1",
        "w1_exact": float(wasserstein_1d(s, h, u_weights=p / p.sum(), v_weights=hw)),
        "w1_sampled_mean": float(draws.mean()),
        "w1_sampled_sd": float(draws.std(ddof=1)) if repeats > 1 else 0.0,
        "n_sampled": int(n),
        "repeats": int(repeats),
    }


def _vector_scores(sim: np.ndarray, human: np.ndarray, metrics: Sequence[str], seed: int) -> dict[str, float]:
    rows = score_table(sim, human, metrics=metrics, seed=seed)
    return {r["metric"]: float(r["value"]) for r in rows if r["dimension"] is None}


def score_vectors(
    sim: Any,
    human_test: Any,
    *,
    n: int,
    repeats: int,
    rng: np.random.Generator | int,
    weights: Any = None,
    metrics: Sequence[str] = VECTOR_METRICS,
    human_weights: Any = None,
    floor_rng: np.random.Generator | int | None = None,
) -> dict[str, Any]:
    """Multivariate scores of simulated response vectors beside a floor on disjoint human samples.

    Each repeat draws ``n`` simulated rows (by ``weights`` with replacement when given; else without replacement
    when ``n <= K``) and scores them against all test humans; the floor scores ``n`` test humans against the
    remaining test humans with the same metrics.

    With survey weights (``human_weights``) the metrics, which take equal-weight samples, see a weighted
    bootstrap of the reference humans instead (all of them for the simulated rows; the remaining ones for the
    floor), and the floor's ``n`` humans are drawn with probability proportional to weight without replacement,
    so the two floor samples stay disjoint.

    Args:
        sim: simulated response vectors (integer draws, not expected values), shape ``(K, D)``.
        human_test: test-half human vectors, shape ``(m, D)``, ``m > n``.
        n: rows per sample (simulated and floor).
        repeats: draws.
        rng: generator (advanced) or int seed.
        weights: optional simulated weights, shape ``(K,)``.
        metrics: subset of :data:`VECTOR_METRICS`.
        human_weights: optional survey weights of the test humans, shape ``(m,)``.
        floor_rng: generator (or int seed) of the floor's draws; None = ``rng``. With the scenario's floor stream
            (``seed_rng(root, "floor", scenario)``) the floor depends on the humans, ``n`` and ``repeats`` only,
            so every set scored on the same humans with the same ``n`` gets the same floor.

    Returns:
        ``{metric: {"sampled_mean", "sampled_sd", "floor_mean", "floor_sd"}, "n": n, "repeats": repeats}``.
    """
    x = np.asarray(sim, dtype=float)
    h = np.asarray(human_test, dtype=float)
    if x.ndim != 2 or h.ndim != 2 or x.shape[1] != h.shape[1]:
        raise ValueError(f"sim {x.shape} and human_test {h.shape} must be (K, D) and (m, D) with the same D")
    if not 1 <= n < h.shape[0]:
        raise ValueError(f"n = {n} must be in [1, {h.shape[0] - 1}] (fewer than the {h.shape[0]} test humans)")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    gen = _gen(rng)
    fgen = gen if floor_rng is None else _gen(floor_rng)
    w = None if weights is None else np.asarray(weights, dtype=float)
    if w is not None and (w.shape != (x.shape[0],) or (w < 0).any() or w.sum() <= 0):
        raise ValueError(f"weights must be non-negative with shape ({x.shape[0]},), got {w.shape}")
    hw = None if human_weights is None else np.asarray(human_weights, dtype=float)
    if hw is not None and (hw.shape != (h.shape[0],) or (hw < 0).any() or np.count_nonzero(hw) <= n):
        raise ValueError(
            f"human_weights must be non-negative with shape ({h.shape[0]},) and more than n = {n} positive, "
            f"got shape {hw.shape}"
        )
    sim_vals: dict[str, list[float]] = {m: [] for m in metrics}
    floor_vals: dict[str, list[float]] = {m: [] for m in metrics}
    for _ in range(repeats):
        if w is not None:
            rows = inverse_cdf_sample(w, n, gen)
        else:
            rows = gen.choice(x.shape[0], size=n, replace=n > x.shape[0])
        seed = int(gen.integers(2**31 - 1))
        floor_seed = seed if floor_rng is None else int(fgen.integers(2**31 - 1))
        if hw is None:
            reference, drawn, rest = h, *np.split(fgen.permutation(h.shape[0]), [n])
            rest_reference = h[rest]
        else:
            reference = weighted_resample(h, hw, gen)
            drawn = fgen.choice(h.shape[0], size=n, replace=False, p=hw / hw.sum())
            rest = np.setdiff1d(np.arange(h.shape[0]), drawn)
            rest_reference = weighted_resample(h[rest], hw[rest], fgen)
        for m, v in _vector_scores(x[rows], reference, metrics, seed).items():
            sim_vals[m].append(v)
        for m, v in _vector_scores(h[drawn], rest_reference, metrics, floor_seed).items():
            floor_vals[m].append(v)

    def stats(v: list[float]) -> tuple[float, float]:
        a = np.asarray(v)
        return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0

    out: dict[str, Any] = {"n": int(n), "repeats": int(repeats)}
    for m in metrics:
        sm, ss = stats(sim_vals[m])
        fm, fs = stats(floor_vals[m])
        out[m] = {"sampled_mean": sm, "sampled_sd": ss, "floor_mean": fm, "floor_sd": fs}
    return out


def simulate_score_vectors(
    weights: Any, parts: Sequence[Any], item_probs: Sequence[Any], n: int, rng: np.random.Generator
) -> np.ndarray:
    """Score vectors of ``n`` simulated agents of a weighted population on a multi-dimensional instrument.

    Each agent is a component ``k ~ weights`` (inverse CDF); it answers every question by an independent draw
    from its answer distribution on that question (each item is asked in its own conversation, so answers are
    independent *given the persona*; dependence between dimensions comes from the mixture only, as in the
    persona-set evaluation of [2], Sec. 4). The answers are scored per dimension by ``part.scores``. Answer
    distributions are renormalised over the valid answers, as the exact pmfs are.

    Args:
        weights: component weights, shape ``(K,)``.
        parts: one one-dimensional scenario per dimension (``questions()`` and ``scores()``), D of them.
        item_probs: per part, answer distributions of shape ``(K, Q_d, C_d)`` in ``part.questions()`` order.
        n: agents.
        rng: generator (advanced).

    Returns:
        Integer-valued scores, shape ``(n, D)``.

    Example:
        >>> from scenarios import get_scenario
        >>> part = get_scenario("osp_cfcs")
        >>> q = len(part.questions())
        >>> probs = np.zeros((2, q, 5)); probs[0, :, 0] = 1.0; probs[1, :, 4] = 1.0
        >>> v = simulate_score_vectors([0.5, 0.5], [part], [probs], 1000, np.random.default_rng(0))
        >>> v.shape, len(set(v[:, 0].tolist())), bool(np.isin(v[:, 0], part.support).all())
        ((1000, 1), 2, True)
    """
    w = np.asarray(weights, dtype=float)
    if len(parts) != len(item_probs) or not parts:
        raise ValueError(f"need one item_probs array per part, got {len(parts)} parts and {len(item_probs)} arrays")
    comp = inverse_cdf_sample(w, n, rng)  # (n,)
    columns = []
    for part, probs in zip(parts, item_probs, strict=True):
        p = np.clip(np.asarray(probs, dtype=float), 0.0, None)
        questions = part.questions()
        if p.ndim != 3 or p.shape[0] != w.size or p.shape[1] != len(questions):
            raise ValueError(f"{part.name}: item_probs has shape {p.shape}, expected ({w.size}, {len(questions)}, C)")
        answers = np.empty((n, len(questions)))
        for j, q in enumerate(questions):
            values = np.asarray(q.answers.values, dtype=float)
            pj = p[:, j, : values.size]
            cdf = np.cumsum(pj / pj.sum(axis=1, keepdims=True), axis=1)[comp]  # (n, C)
            cdf[:, -1] = 1.0
            idx = (rng.random(n)[:, None] >= cdf).sum(axis=1)
            answers[:, j] = values[idx]
        columns.append(np.asarray(part.scores(answers), dtype=float).reshape(n))
    return np.column_stack(columns)


def score_records(
    *,
    scenario: str,
    construction: str,
    scores: dict[str, Any],
    floor: FloorResult,
    valid_mass: float,
    llm_calls: int,
    n_crafted: int | None = None,
    n_failed: int | None = None,
    fallback: bool | None = None,
    failure_reasons: dict[str, int] | None = None,
    extra: dict[str, Any] | None = None,
    digits: int = 6,
) -> dict[str, Any]:
    """One score record for ``scores.json`` and every table (columns and kinds: :data:`COLUMN_KINDS`).

    Args:
        scenario: scenario name.
        construction: population construction (``fixed_prompt``, ``em``, …).
        scores: the output of :func:`score_distribution`.
        floor: the scenario's :class:`FloorResult` (its ``n`` must equal ``scores["n_sampled"]``).
        valid_mass: weight-averaged probability mass the model put on valid answers.
        llm_calls: distinct LLM requests the row needed (cache hits included).
        n_crafted: crafted prompts kept (None for constructions that craft nothing).
        n_failed: crafting attempts that failed (recorded and skipped).
        fallback: the builder fell back to the fixed-prompt mixture (no usable crafted prompt).
        failure_reasons: failure reason → count.
        extra: further exact-kind columns (e.g. ``mean_exact``, ``sd_exact``).
        digits: rounding of floats (so reruns write byte-identical files).

    Returns:
        A flat dict.

    Raises:
        ValueError: the sampled score and the floor use different ``n`` (they would not be like with like).
    """
    metric = scores.get("metric", "w1")
    if metric != floor.metric:
        raise ValueError(
            f"{scenario}/{construction}: the score is {metric} but the floor is {floor.metric}; "
            "compute the floor with scenario_floor(scenario, ...)"
        )
    if int(scores["n_sampled"]) != floor.n:
        raise ValueError(
            f"{scenario}/{construction}: w1_sampled uses n={scores['n_sampled']} agents but the floor n={floor.n}; "
            "draw as many agents as the floor's humans"
        )

    def r(x: float) -> float:
        return round(float(x), digits)

    vm = float(valid_mass)
    rec: dict[str, Any] = {"scenario": scenario, "construction": construction, "metric": metric}
    for k in (f"{metric}_exact", f"{metric}_sampled_mean", f"{metric}_sampled_sd"):
        rec[k] = r(scores[k])
    if "category_gaps_exact" in scores:
        rec["category_gaps_exact"] = [r(g) for g in scores["category_gaps_exact"]]
    rec |= {
        "n_sampled": int(scores["n_sampled"]),
        "repeats": int(scores["repeats"]),
        "floor_mean": r(floor.mean),
        "floor_sd": r(floor.sd),
        "floor_n": int(floor.n),
        "valid_mass": r(vm),
        "parse_failure_rate": r(1.0 - vm),
        "llm_calls": int(llm_calls),
        "n_crafted": None if n_crafted is None else int(n_crafted),
        "n_failed": None if n_failed is None else int(n_failed),
        "fallback": None if fallback is None else bool(fallback),
        "failure_reasons": dict(sorted((failure_reasons or {}).items())),
    }
    for k, v in (extra or {}).items():
        rec[k] = r(v) if isinstance(v, float) else v
    return rec


def population_pmfs(model: LanguageModel, population: Population, scenario: Any, *, progress: bool = True):
    """Answer distributions of a population's personas on a scenario (shared, cache-friendly requests).

    Returns:
        ``{"pmfs": (K, S), "item_probs": (K, Q, C), "valid_mass": (K,), "requests", "cached", "backend_calls",
        "prompt_tokens", "completion_tokens"}`` (``item_probs``: each persona's answer distribution per question,
        before scoring; :func:`simulate_score_vectors` draws answers from it).
    """
    tensor = answer_distributions(
        model,
        population.personas,
        scenario.questions(),
        progress=progress,
        desc=f"{scenario.name} {population.construction}",
    )
    pmfs = np.clip(np.asarray(scenario.pmfs(tensor.probs), dtype=float), 0.0, None)
    pmfs /= pmfs.sum(axis=1, keepdims=True)
    return {
        "pmfs": pmfs,
        "item_probs": np.asarray(tensor.probs, dtype=float),
        "valid_mass": tensor.valid_mass.mean(axis=1),
        "requests": tensor.n_requests,
        "cached": tensor.n_cached,
        "backend_calls": tensor.usage.backend_calls,
        "prompt_tokens": tensor.usage.prompt_tokens,
        "completion_tokens": tensor.usage.completion_tokens,
    }


def builder_fit_info(builder: Any) -> dict[str, Any]:
    """Crafting outcome of a fitted builder: ``n_crafted``, ``n_failed``, ``fallback`` and ``failure_reasons``.

    Read from a prompt-crafting builder's ``n_crafted_``, ``n_failed_``, ``fallback_`` and ``failure_reasons_``
    (:class:`populations.mixture.PromptMixtureBuilder`); a builder that crafts nothing gives None counts.
    """
    crafts = hasattr(builder, "n_crafted_")
    return {
        "n_crafted": getattr(builder, "n_crafted_", None),
        "n_failed": getattr(builder, "n_failed_", None),
        "fallback": (getattr(builder, "fallback_", None) is not None) if crafts else None,
        "failure_reasons": dict(getattr(builder, "failure_reasons_", None) or {}),
    }


def score_population(
    *,
    scenario: Any,
    construction: str,
    weights: Any,
    component_pmfs: Any,
    valid_mass: Any,
    test: Any,
    floor: FloorResult,
    llm_calls: int,
    rng: np.random.Generator | int,
    repeats: int | None = None,
    fit_info: dict[str, Any] | None = None,
    test_weights: Any = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """Score a weighted set of components (personas or prompts) on one scenario; the record and the mixture pmf.

    Args:
        scenario: the scenario (``name``, ``support``).
        construction: row label.
        weights: component weights, shape ``(K,)``.
        component_pmfs: component answer distributions, shape ``(K, S)``.
        valid_mass: per-component valid answer mass, shape ``(K,)``.
        test: test-half human values, shape ``(m,)``.
        floor: the scenario's floor (:func:`scenario_floor`); its ``n`` is the number of agents drawn, its
            ``repeats`` the draws, its metric the scenario's.
        llm_calls: distinct requests of the row.
        rng: generator of the sampled score.
        repeats: draws (default: the floor's).
        fit_info: :func:`builder_fit_info` of the builder, if any.
        test_weights: survey weights of the test humans, shape ``(m,)`` (None: unweighted).

    Returns:
        ``(record, pmf)`` with ``pmf`` of shape ``(S,)``.
    """
    w = np.asarray(weights, dtype=float)
    support = np.asarray(scenario.support, dtype=float)
    pmf = mixture_pmf(w, np.asarray(component_pmfs, dtype=float))
    scores = score_distribution(
        pmf,
        support,
        test,
        n=floor.n,
        repeats=repeats or floor.repeats,
        rng=rng,
        ordered=scenario.ordered,
        test_weights=test_weights,
    )
    extra: dict[str, Any] = {}
    if scenario.ordered:
        mean = float(pmf @ support)
        extra = {
            "mean_exact": mean,
            "sd_exact": float(np.sqrt(pmf @ (support - mean) ** 2)),
            "human_test_mean": float(np.average(np.asarray(test, dtype=float), weights=test_weights)),
        }
    rec = score_records(
        scenario=scenario.name,
        construction=construction,
        scores=scores,
        floor=floor,
        valid_mass=float(w @ np.asarray(valid_mass, dtype=float) / w.sum()),
        llm_calls=llm_calls,
        extra=extra,
        **(fit_info or {}),
    )
    return rec, pmf


# ------------------------------------------------------------------------------- the seeded entry points
def seeded_floor(
    scenario: Any, test: Any, *, seed: int, n: int = 1000, repeats: int = 10, weights: Any = None
) -> FloorResult:
    """The human floor of a one-dimensional scenario on its test half, on the stream ``("floor", scenario.name)``.

    Every command computes its floor here, so the same root ``seed``, scenario and sizes give the same floor in
    ``demo``, ``fit``, ``compare`` and the experiments.

    Args:
        scenario: a one-dimensional scenario (``name``, ``ordered``, ``support``).
        test: test-half human values, shape ``(m,)``.
        seed: the run's root seed.
        n: humans per draw, capped at half the test half (:func:`floor_size`).
        repeats: draws.
        weights: survey weights of the test half, shape ``(m,)``, or None.

    Returns:
        FloorResult in the scenario's metric (W1, or TV on unordered categories).

    Raises:
        ValueError: fewer than 2 test humans.
    """
    h = np.asarray(test, dtype=float)
    return scenario_floor(
        scenario,
        h,
        n=floor_size(h.shape[0], n),
        repeats=repeats,
        rng=seed_rng(seed, "floor", scenario.name),
        weights=weights,
    )


def population_fit_info(population: Population, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """The crafting outcome of a built population, for :func:`score_records`.

    Read from the population's metadata (a prompt mixture records ``n_crafted``, ``n_failed``,
    ``failure_reasons`` and ``fallback``), then overridden by the builder's ``info`` (a joint fit's summed
    ``n_failed`` …). A population that crafted nothing gives None counts.

    Returns:
        ``{"n_crafted", "n_failed", "fallback" (bool or None), "failure_reasons"}``.
    """
    merged = {
        **(getattr(population, "metadata", None) or {}),
        **{k: v for k, v in (info or {}).items() if v is not None},
    }
    crafted = merged.get("n_crafted") is not None or merged.get("n_failed") is not None
    return {
        "n_crafted": merged.get("n_crafted"),
        "n_failed": merged.get("n_failed"),
        "fallback": bool(merged.get("fallback")) if crafted else None,
        "failure_reasons": dict(merged.get("failure_reasons") or {}),
    }


def score_dimension(
    model: LanguageModel,
    population: Population,
    scenario: Any,
    test: Any,
    *,
    floor: FloorResult,
    seed: int,
    construction: str,
    test_weights: Any = None,
    fit_info: dict[str, Any] | None = None,
    progress: bool = True,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Score a population on one dimension: its exact pmf, ``floor.n`` sampled agents and the floor beside them.

    The population's personas answer the scenario's questions (exact distributions, through the cache), weighted
    by :func:`populations.mop_gate.dimension_weights` (a context-gated MoP's weights for this dimension); the
    sampled score draws on the stream ``("score", scenario.name, construction)`` of ``seed``.

    Args:
        model: the (cache-wrapped) respondent.
        population: the fitted population, K components.
        scenario: a one-dimensional scenario.
        test: test-half human values, shape ``(m,)``.
        floor: the scenario's floor (:func:`seeded_floor`); its ``n`` and ``repeats`` size the sampled score.
        seed: the run's root seed.
        construction: the row label (names the stream).
        test_weights: survey weights of the test half, shape ``(m,)``, or None.
        fit_info: :func:`population_fit_info` (None: read from the population).
        progress: progress bars.

    Returns:
        ``(record, item_probs, pmf)``: the :func:`score_records` record (plus ``components`` and
        ``human_test_mean``), the answer distributions of shape ``(K, Q, C)`` and the exact pmf of shape ``(S,)``.
    """
    res = population_pmfs(model, population, scenario, progress=progress)
    record, pmf = score_population(
        scenario=scenario,
        construction=construction,
        weights=dimension_weights(population, scenario),  # a context-gated MoP weighs per dimension
        component_pmfs=res["pmfs"],
        valid_mass=res["valid_mass"],
        test=test,
        floor=floor,
        llm_calls=res["requests"],
        rng=seed_rng(seed, "score", scenario.name, construction),
        fit_info=population_fit_info(population) if fit_info is None else fit_info,
        test_weights=test_weights,
    )
    record["components"] = len(population)
    return record, res["item_probs"], pmf


def score_vector_record(
    population: Population,
    parts: Sequence[Any],
    item_probs: Sequence[Any],
    test: Any,
    *,
    n: int,
    repeats: int,
    seed: int,
    scenario_name: str,
    construction: str,
    test_weights: Any = None,
    digits: int = 6,
) -> dict[str, Any]:
    """The multivariate scores of a population on a multi-dimensional scenario, sampled beside the floor ([2]).

    ``n × repeats`` agents are simulated from the population's item distributions (:func:`simulate_score_vectors`,
    stream ``("vectors", scenario, construction)``); each repeat scores ``n`` of them against the test half's
    ``(m, D)`` score vectors, beside ``n`` test humans against the remaining ones (:func:`score_vectors`, stream
    ``("vector-floor", scenario)``, the same for every construction of a scenario).

    Args:
        population: the fitted population (K components).
        parts: the D one-dimensional scenarios.
        item_probs: per part, answer distributions of shape ``(K, Q_d, C_d)``.
        test: test-half score vectors, shape ``(m, D)``.
        n: agents per draw = humans per floor draw.
        repeats: draws.
        seed: the run's root seed.
        scenario_name: the multi-dimensional scenario's name (names the streams).
        construction: the row label.
        test_weights: survey weights of the test half, shape ``(m,)``, or None.
        digits: rounding of floats.

    Returns:
        ``{"n", "repeats", "<metric>_sampled_mean", "<metric>_sampled_sd", "<metric>_floor_mean",
        "<metric>_floor_sd"}`` for every metric of :data:`VECTOR_METRICS`.
    """
    sim = simulate_score_vectors(
        population.weights, parts, item_probs, n * repeats, seed_rng(seed, "vectors", scenario_name, construction)
    )
    v = score_vectors(
        sim,
        test,
        n=n,
        repeats=repeats,
        rng=seed_rng(seed, "vector-floor", scenario_name),
        human_weights=test_weights,
    )
    out: dict[str, Any] = {"n": v["n"], "repeats": v["repeats"]}
    for m in VECTOR_METRICS:
        for k in ("sampled_mean", "sampled_sd", "floor_mean", "floor_sd"):
            out[f"{m}_{k}"] = round(float(v[m][k]), digits)
    return out
