"""How many human respondents a simulated population is worth: k̂ (Huang, Wu & Wang 2025, arXiv 2502.17773).

A simulation gives as many synthetic answers as one likes, and a confidence set from k of them shrinks like 1/√k
around the *simulation's* mean. If the simulation is biased, a large k makes a narrow set that misses the humans.
Huang, Wu & Wang choose k on calibration tasks that have human answers: the largest k at which the sets still cover
the humans at the nominal rate on average. That k̂ reads as the number of humans the simulation is worth: its sets
are about as wide as a k̂-human sample's, and still honest.

Our exact procedure (written out in docs/inference.md), for tasks j = 1..m with simulated answer distribution
p_j on support s_j and human answers h_j (m_j of them):

1. draw K synthetic answers per task from p_j once (seeded), and use the first k of them for every k in the grid
   (so the sets are nested in the simulation budget);
2. S_j(k) = x̄_jk ± q · √(σ̂²_jk / k + σ̂²_hj / m_j): a 1 − α/2 interval for the difference between the
   simulated and the human mean, centred on the synthetic mean, with q the 1 − α/4 quantile of Student's t on
   the Welch–Satterthwaite degrees of freedom (z_{1−α/4} for large samples); the human term accounts for the human
   estimate's own noise, so a simulation equal to the humans covers at about 1 − α/2 for every k ≥ 2 (k = 1 has no
   spread to estimate and is not tried);
3. Ĝ(k) = (1/m) Σ_j 1{h̄_j ∉ S_j(k)}, the average miscoverage of the human estimates;
4. k̂ = the largest k in the grid with Ĝ(k) ≤ α (0 when even k = 1 misses more often): the α/2 left between the
   set's level and the threshold is the room the paper leaves for the simulation's misalignment;
5. the range k_lo..k_hi is k̂ recomputed leaving out one task at a time.

:func:`worth_theory` gives the k̂ this converges to when every task has the same shift δ and spread σ, by solving
P(|δ + N(0, σ²/k + σ_h²/m)| > q_k √(σ²/k + σ_h²/m)) = α for k (q_k: the set's t quantile).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

__all__ = ["Worth", "k_grid", "miscoverage_curve", "worth_k", "worth_theory"]


@dataclass(frozen=True)
class Worth:
    """The worth of a simulation in humans.

    Attributes:
        k_hat: k̂ (0: not worth one human on these tasks; ``budget``: at least the budget, the cap of the grid).
        k_lo, k_hi: the leave-one-task-out range of k̂ (None with a single task).
        n_tasks: calibration tasks used.
        budget: the largest k tried.
        grid: the k values tried, shape ``(G,)``.
        miscoverage: Ĝ(k) on the grid, shape ``(G,)``.
    """

    k_hat: int
    k_lo: int | None
    k_hi: int | None
    n_tasks: int
    budget: int
    grid: np.ndarray
    miscoverage: np.ndarray


def k_grid(budget: int) -> np.ndarray:
    """2, 3, …, 10, then about 12 steps per decade up to ``budget`` (inclusive), shape ``(G,)``."""
    if budget < 2:
        raise ValueError(f"budget must be >= 2, got {budget}")
    tail = np.unique(np.rint(np.geomspace(10, max(budget, 10), 12 * max(1, math.ceil(math.log10(max(budget, 10)))))))
    grid = np.unique(np.concatenate([np.arange(2, min(budget, 10) + 1), tail, [budget]]))
    return grid[grid <= budget].astype(int)


def _inputs(sim_pmfs, human_answers, supports) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    if not (len(sim_pmfs) == len(human_answers) == len(supports)) or not sim_pmfs:
        raise ValueError("worth_k needs one simulated pmf, one support and one set of human answers per task")
    tasks = []
    for j, (p, s, h) in enumerate(zip(sim_pmfs, supports, human_answers, strict=True)):
        p, s, h = (np.asarray(a, dtype=float).ravel() for a in (p, s, h))
        if p.shape != s.shape or np.any(p < -1e-12) or not p.sum() > 0:
            raise ValueError(f"task {j}: the pmf must be non-negative with a positive sum, on its support's shape")
        h = h[np.isfinite(h)]
        if h.size < 2:
            raise ValueError(f"task {j}: needs at least 2 human answers, got {h.size}")
        tasks.append((np.clip(p, 0, None) / p.sum(), s, h))
    return tasks


def miscoverage_curve(
    sim_pmfs: Sequence[np.ndarray],
    human_answers: Sequence[np.ndarray],
    *,
    supports: Sequence[np.ndarray],
    alpha: float = 0.1,
    budget: int = 2000,
    rng: np.random.Generator | int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The grid ``(G,)`` (k ≥ 2) and each task's miss indicator on it, shape ``(m, G)`` (steps 1–3 of the module docstring)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    gen = np.random.default_rng(rng)
    tasks = _inputs(sim_pmfs, human_answers, supports)
    grid = k_grid(budget)
    misses = np.zeros((len(tasks), grid.size), dtype=bool)
    for j, (p, s, h) in enumerate(tasks):
        draws = s[np.minimum(np.searchsorted(np.cumsum(p), gen.random(budget), side="right"), s.size - 1)]
        csum, csq = np.cumsum(draws), np.cumsum(draws**2)
        k = grid.astype(float)
        mean = csum[grid - 1] / k
        a = np.maximum((csq[grid - 1] - k * mean**2) / (k - 1), 0.0) / k  # σ̂²_k / k
        b = h.var(ddof=1) / h.size  # σ̂²_h / m
        with np.errstate(divide="ignore", invalid="ignore"):  # Welch–Satterthwaite df; a = b = 0 → z
            df = (a + b) ** 2 / (a**2 / (k - 1) + b**2 / max(h.size - 1, 1))
        q = stats.t.ppf(1 - alpha / 4, np.where(np.isfinite(df) & (df > 0), df, np.inf))
        half = q * np.sqrt(a + b)
        misses[j] = np.abs(h.mean() - mean) > half
    return grid, misses


def _select(grid: np.ndarray, g: np.ndarray, alpha: float) -> int:
    ok = np.flatnonzero(g <= alpha + 1e-12)
    return int(grid[ok[-1]]) if ok.size else 0


def worth_k(
    sim_pmfs: Sequence[np.ndarray],
    human_answers: Sequence[np.ndarray],
    *,
    supports: Sequence[np.ndarray],
    alpha: float = 0.1,
    budget: int = 2000,
    rng: np.random.Generator | int = 0,
) -> Worth:
    """k̂ on these calibration tasks, with its leave-one-task-out range.

    Args:
        sim_pmfs: per task, the simulated population's exact answer distribution, shape ``(S_j,)``.
        human_answers: per task, the held-out humans' answers (values on the support), shape ``(m_j,)``.
        supports: per task, the answer values, shape ``(S_j,)``.
        alpha: the target miscoverage.
        budget: the largest simulation size k tried.
        rng: seed or generator of the synthetic draws.

    Raises:
        ValueError: no tasks, mismatched lengths, a bad pmf, fewer than 2 humans in a task, alpha outside (0, 1).
    """
    grid, misses = miscoverage_curve(sim_pmfs, human_answers, supports=supports, alpha=alpha, budget=budget, rng=rng)
    g = misses.mean(axis=0)
    k_hat = _select(grid, g, alpha)
    lo = hi = None
    m = misses.shape[0]
    if m > 1:
        loo = [_select(grid, (misses.sum(axis=0) - misses[j]) / (m - 1), alpha) for j in range(m)]
        lo, hi = int(min(loo)), int(max(loo))
    return Worth(k_hat=k_hat, k_lo=lo, k_hi=hi, n_tasks=m, budget=int(budget), grid=grid, miscoverage=g)


def worth_theory(delta: float, sigma: float, *, alpha: float = 0.1, sigma_h: float = 0.0, m: int = 1) -> float:
    """The k̂ of :func:`worth_k` in the limit of many tasks, each shifted by ``delta`` with answer sd ``sigma``.

    Solves P(|δ + N(0, v_k)| > q_k √v_k) = α for k, with v_k = σ²/k + σ_h²/m and q_k the 1 − α/4 quantile of t on
    k − 1 degrees of freedom (the set's quantile when the simulation term dominates; z_{1−α/4} for large k).
    Returns ``inf`` when δ = 0 (an unbiased simulation is worth any budget) and 0 below k = 2.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if delta == 0:
        return math.inf

    def excess(k: float) -> float:
        d = abs(delta) / math.sqrt(sigma**2 / k + sigma_h**2 / m)
        q = float(stats.t.ppf(1 - alpha / 4, k - 1))
        return stats.norm.sf(q - d) + stats.norm.cdf(-q - d) - alpha

    if excess(2.0) > 0:
        return 0.0
    if excess(1e12) < 0:
        return math.inf
    return math.exp(optimize.brentq(lambda lk: excess(math.exp(lk)), math.log(2.0), math.log(1e12)))
