"""Prediction-powered estimates of a human mean, median or share from a few humans plus many predictions.

The estimators are ``ppi_py``'s (Angelopoulos, Bates, Fannjiang, Jordan & Zrnic 2023, *Science* 382; PPI++:
Angelopoulos, Duchi & Zrnic 2024, arXiv 2311.01453); this module only puts the four intervals a researcher compares
side by side and the two numbers that say what the predictions were worth:

- **classical**: the humans alone, ``ppi_py.classical_mean_ci`` (medians: see :func:`estimate_median`);
- **naive**: the predictions on the unlabelled rows treated as if they were data (what a simulation-only study
  reports; it covers the predictions' mean, not the humans');
- **ppi**: the rectified estimate θ̂ = mean(ŷ_unlabelled) + mean(y − ŷ) (Angelopoulos et al. 2023, the PPI mean estimator),
  ``lam=1``;
- **ppipp**: PPI++ with the power-tuned λ̂ (Angelopoulos, Duchi & Zrnic 2024, the power-tuned mean estimator, λ clipped to [0, 1]), which is
  never worse than the classical interval asymptotically; for quantiles ``ppi_py`` has no power tuning, so PPI++ is
  PPI there (said in :attr:`Estimates.note`).

``rho`` is the PPI correlation of Broska, Howes & van Loon (2024, *Sociological Methods & Research*, the "PPI correlation"), from
``ppi_py.ppi_mean_power``; ``ess`` is the effective sample size: the number of humans whose classical interval
would be as narrow as the PPI++ one, n · (width_classical / width_ppipp)².
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "Estimates",
    "Interval",
    "estimate_mean",
    "estimate_median",
    "estimate_share",
    "power_plan",
]


@dataclass(frozen=True)
class Interval:
    """One point estimate and its two-sided ``1 − alpha`` confidence interval ``[lo, hi]``."""

    estimate: float
    lo: float
    hi: float

    @property
    def width(self) -> float:
        """``hi − lo``."""
        return self.hi - self.lo


@dataclass(frozen=True)
class Estimates:
    """The four intervals of one estimand, plus what the predictions were worth.

    Attributes:
        classical, naive, ppi, ppipp: see the module docstring.
        lam: PPI++'s power-tuning λ̂ in [0, 1] (1 for quantiles, where PPI++ is PPI).
        rho: the PPI correlation between human answers and predictions on the labelled rows, in (−1, 1); 0 when
            the predictions are constant.
        ess: effective number of humans of the PPI++ interval, ``n · (w_classical / w_ppipp)²``.
        n, n_unlabelled: labelled and unlabelled rows used.
        note: how an interval was formed when it is not the textbook one ("" otherwise).
    """

    classical: Interval
    naive: Interval
    ppi: Interval
    ppipp: Interval
    lam: float
    rho: float
    ess: float
    n: int
    n_unlabelled: int
    note: str = ""


def _arrays(y, yhat, yhat_u, w, w_u) -> tuple[np.ndarray, ...]:
    y = np.asarray(y, dtype=float).ravel()
    yhat = np.asarray(yhat, dtype=float).ravel()
    yhat_u = np.asarray(yhat_u, dtype=float).ravel()
    if y.size != yhat.size:
        raise ValueError(f"y has {y.size} labelled answers but yhat has {yhat.size} predictions; pass one per human")
    if y.size < 2 or yhat_u.size < 2:
        raise ValueError(f"need at least 2 labelled and 2 unlabelled rows, got {y.size} and {yhat_u.size}")
    for name, a in (("y", y), ("yhat", yhat), ("yhat_unlabelled", yhat_u)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} holds a NaN or infinite value; drop unanswered rows before estimating")
    w = None if w is None else np.asarray(w, dtype=float).ravel()
    w_u = None if w_u is None else np.asarray(w_u, dtype=float).ravel()
    for name, a, m in (("w", w, y.size), ("w_unlabelled", w_u, yhat_u.size)):
        if a is not None and (a.size != m or np.any(a < 0) or a.sum() <= 0):
            raise ValueError(f"{name} needs {m} non-negative weights with a positive sum")
    return y, yhat, yhat_u, w, w_u


def _ppi_corr(y: np.ndarray, yhat: np.ndarray, w: np.ndarray | None) -> float:
    """Broska et al.'s PPI correlation, as ``ppi_py.ppi_mean_power`` computes it (0 for constant inputs).

    ``ppi_mean_power`` itself also solves for sample sizes and fails on some small samples (its N becomes NaN), so
    the correlation is read from the helper it calls, ``ppi_py.ppi_power_analysis._get_ppi_corr``, with the same
    arguments (the mean's gradients w·(y − θ̂) and w·(ŷ − θ̂), identity Hessian; capped at 1 − 1/n).
    """
    from ppi_py.ppi_power_analysis import _get_ppi_corr

    if np.ptp(yhat) == 0 or np.ptp(y) == 0:
        return 0.0
    wn = np.ones(y.size) if w is None else w / w.sum() * y.size
    theta = float(np.sum(wn * y) / np.sum(wn))
    rho = float(_get_ppi_corr(wn * (y - theta), wn * (yhat - theta), np.eye(1)))
    return 0.0 if not math.isfinite(rho) else rho


def _ess(n: int, classical: Interval, tuned: Interval) -> float:
    if tuned.width <= 0:
        return math.inf if classical.width > 0 else float(n)
    return float(n) * (classical.width / tuned.width) ** 2


def _pair(ci) -> tuple[float, float]:
    lo, hi = (float(np.ravel(v)[0]) for v in ci)
    return lo, hi


def _weighted_mean(a: np.ndarray, w: np.ndarray | None) -> float:
    return float(np.average(a, weights=w))


def estimate_mean(
    y,
    yhat,
    yhat_unlabelled,
    *,
    alpha: float = 0.1,
    w=None,
    w_unlabelled=None,
) -> Estimates:
    """Classical, naive, PPI and PPI++ intervals for the human mean.

    Args:
        y: labelled humans' answers, shape ``(n,)``.
        yhat: their twins' predictions (expected answers), shape ``(n,)``.
        yhat_unlabelled: predictions on the unlabelled rows, shape ``(N,)``.
        alpha: miscoverage; intervals are two-sided at level ``1 − alpha``.
        w: survey weights of the labelled humans ``(n,)`` (None: equal).
        w_unlabelled: survey weights of the unlabelled rows ``(N,)`` (None: equal).

    Raises:
        ValueError: mismatched shapes, fewer than 2 rows, non-finite values or bad weights.
    """
    from ppi_py import classical_mean_ci, ppi_mean_ci, ppi_mean_pointestimate

    y, yhat, yhat_u, w, w_u = _arrays(y, yhat, yhat_unlabelled, w, w_unlabelled)
    c_lo, c_hi = _pair(classical_mean_ci(y, w=w, alpha=alpha))
    classical = Interval(_weighted_mean(y, w), c_lo, c_hi)
    n_lo, n_hi = _pair(classical_mean_ci(yhat_u, w=w_u, alpha=alpha))
    naive = Interval(_weighted_mean(yhat_u, w_u), n_lo, n_hi)
    args = {"w": w, "w_unlabeled": w_u}
    p_lo, p_hi = _pair(ppi_mean_ci(y, yhat, yhat_u, alpha=alpha, lam=1.0, **args))
    ppi = Interval(float(np.ravel(ppi_mean_pointestimate(y, yhat, yhat_u, lam=1.0, **args))[0]), p_lo, p_hi)
    if np.ptp(yhat) == 0 and np.ptp(yhat_u) == 0:
        lam = 0.0  # constant predictions carry no information: PPI++ is the classical interval (ppi_py divides 0/0)
        ppipp = Interval(classical.estimate, c_lo, c_hi)
    else:
        t_lo, t_hi = _pair(ppi_mean_ci(y, yhat, yhat_u, alpha=alpha, lam=None, **args))
        est = float(np.ravel(ppi_mean_pointestimate(y, yhat, yhat_u, lam=None, **args))[0])
        ppipp = Interval(est, t_lo, t_hi)
        gap = _weighted_mean(yhat_u, w_u) - _weighted_mean(yhat, w)  # θ̂_λ = mean(y) + λ·gap, so λ̂ reads back
        lam = float(np.clip((est - classical.estimate) / gap, 0.0, 1.0)) if abs(gap) > 1e-12 else float("nan")
    return Estimates(
        classical=classical,
        naive=naive,
        ppi=ppi,
        ppipp=ppipp,
        lam=lam,
        rho=_ppi_corr(y, yhat, w),
        ess=_ess(y.size, classical, ppipp),
        n=int(y.size),
        n_unlabelled=int(yhat_u.size),
    )


def estimate_share(
    y,
    yhat,
    yhat_unlabelled,
    *,
    alpha: float = 0.1,
    w=None,
    w_unlabelled=None,
) -> Estimates:
    """The four intervals for a category share: ``y`` is 1 when a human chose the category, ``yhat`` = P(category).

    A share is the mean of a 0/1 answer, so this is :func:`estimate_mean` after checking the inputs are shares.

    Raises:
        ValueError: ``y`` not 0/1, or a prediction outside [0, 1].
    """
    y_arr = np.asarray(y, dtype=float)
    if not np.all(np.isin(y_arr, (0.0, 1.0))):
        raise ValueError("a share needs y in {0, 1} (1 = the human chose the category)")
    for name, a in (("yhat", yhat), ("yhat_unlabelled", yhat_unlabelled)):
        a = np.asarray(a, dtype=float)
        if a.size and (a.min() < -1e-9 or a.max() > 1 + 1e-9):
            raise ValueError(f"{name} must be probabilities in [0, 1] for a share")
    return estimate_mean(y_arr, yhat, yhat_unlabelled, alpha=alpha, w=w, w_unlabelled=w_unlabelled)


def _quantile_on_support(
    grid: np.ndarray, cdf: np.ndarray, se: np.ndarray, q: float, alpha: float
) -> tuple[float, float, float]:
    """Point estimate and interval of the q-quantile from a CDF estimate on the answer support.

    The q-quantile is θ = min{t : F(t) ≥ q}, a support value. A support value t is kept as plausible when its
    pointwise ``1 − alpha`` band allows it to be the first to reach q: F̂(t) + z·se(t) ≥ q and, at the support value
    before it, F̂ − z·se < q (the PPI quantile estimator of Angelopoulos et al. 2023, inverted on a discrete support).
    """
    z = float(stats.norm.ppf(1 - alpha / 2))
    reach = cdf + z * se >= q - 1e-12
    below = np.concatenate([[True], (cdf - z * se)[:-1] < q - 1e-12])
    ok = np.flatnonzero(reach & below)
    at = np.flatnonzero(cdf >= q - 1e-12)
    point = float(grid[at[0]] if at.size else grid[-1])
    if not ok.size:  # the band is empty only when se = 0 everywhere: the quantile is known exactly
        return point, point, point
    return point, float(grid[ok[0]]), float(grid[ok[-1]])


def _ppi_median(y, yhat, yhat_u, w, w_u, alpha) -> Interval:
    """The PPI median on the humans' answer support, from ``ppi_py``'s rectified CDF pieces."""
    from ppi_py.utils import compute_cdf, compute_cdf_diff

    grid = np.unique(y)
    f_u, sd_u = compute_cdf(yhat_u, grid, w=w_u)
    rect, sd_r = compute_cdf_diff(y, yhat, grid, w=w)
    cdf = np.clip(f_u + rect, 0.0, 1.0)
    se = np.sqrt(sd_u**2 / yhat_u.size + sd_r**2 / y.size)
    return Interval(*_quantile_on_support(grid, cdf, se, 0.5, alpha))


def _plain_median(a: np.ndarray, w: np.ndarray | None, alpha: float) -> Interval:
    """One sample's median and interval on its own values (the classical and the naive intervals).

    The CDF and its standard deviation are ``ppi_py.utils.compute_cdf``'s (weights rescaled to mean 1), computed
    from sorted cumulative sums in O(n log n) instead of its (n, grid) indicator matrix: the naive interval's sample
    is every unlabelled row, and its grid is every distinct prediction (10,000 x 10,000 would be 800 MB).
    """
    grid, inverse = np.unique(a, return_inverse=True)
    wn = np.ones(a.size) if w is None else w / w.sum() * a.size
    cdf = np.cumsum(np.bincount(inverse, weights=wn, minlength=grid.size)) / a.size
    second = np.cumsum(np.bincount(inverse, weights=wn**2, minlength=grid.size)) / a.size
    sd = np.sqrt(np.maximum(second - cdf**2, 0.0))
    return Interval(*_quantile_on_support(grid, cdf, sd / np.sqrt(a.size), 0.5, alpha))


def estimate_median(
    y,
    yhat,
    yhat_unlabelled,
    *,
    alpha: float = 0.1,
    w=None,
    w_unlabelled=None,
) -> Estimates:
    """Classical, naive and PPI intervals for the human median.

    ``ppi_py.ppi_quantile_ci`` assumes a continuous CDF: on answers with few distinct values no grid point has a
    rectified CDF near 0.5 and its interval can come back empty. Here the same
    rectified CDF (``ppi_py.utils.compute_cdf`` and ``compute_cdf_diff``: mean(1{ŷ_u ≤ t}) + mean(1{y ≤ t} −
    1{ŷ ≤ t})) is inverted at the humans' own answer values, where the median lives, by
    :func:`_quantile_on_support`; the classical and naive intervals are the same inversion of one sample's CDF.
    ``ppi_py`` has no power-tuned quantile estimator, so ``ppipp`` repeats PPI and ``lam`` is 1.
    """
    y, yhat, yhat_u, w, w_u = _arrays(y, yhat, yhat_unlabelled, w, w_unlabelled)
    classical = _plain_median(y, w, alpha)
    naive = _plain_median(yhat_u, w_u, alpha)
    ppi = _ppi_median(y, yhat, yhat_u, w, w_u, alpha)
    return Estimates(
        classical=classical,
        naive=naive,
        ppi=ppi,
        ppipp=ppi,
        lam=1.0,
        rho=_ppi_corr(y, yhat, w),
        ess=_ess(y.size, classical, ppi),
        n=int(y.size),
        n_unlabelled=int(yhat_u.size),
        note="median: ppi_py has no power-tuned quantile estimator, so PPI++ is PPI",
    )


def power_plan(y, yhat, *, half_width: float, alpha: float = 0.1, w=None) -> dict[str, float]:
    """Humans needed for a mean's interval of half-width ``half_width``, alone and with these twins.

    ``n_classical`` = (z_{1−α/2} σ̂ / h)² from the labelled humans' spread; ``n_ppi`` is the labelled size at which
    PPI with unlimited twin predictions reaches the same effective size, from ``ppi_py.ppi_power`` (Broska et al.
    2024, power analysis: n_ppi ≈ n_classical · (1 − ρ²)), with a twin prediction priced at 1/1000 of a human.

    Returns:
        ``{"n_classical", "n_ppi", "rho"}`` (counts rounded up; ``n_ppi`` = ``n_classical`` when ρ = 0).

    Raises:
        ValueError: ``half_width`` ≤ 0, or fewer than 2 humans.
    """
    from ppi_py import ppi_power

    y = np.asarray(y, dtype=float).ravel()
    yhat = np.asarray(yhat, dtype=float).ravel()
    if not half_width > 0:
        raise ValueError(f"half_width must be > 0, got {half_width}")
    if y.size < 2 or y.size != yhat.size:
        raise ValueError("power_plan needs at least 2 humans, each with a prediction")
    sd = math.sqrt(np.cov(y, aweights=w)) if np.ptp(y) > 0 else 0.0
    z = float(stats.norm.ppf(1 - alpha / 2))
    n_classical = max(1, math.ceil((z * sd / half_width) ** 2))
    rho = float(np.clip(_ppi_corr(y, yhat, None if w is None else np.asarray(w, dtype=float)), -0.999, 0.999))
    if rho == 0.0:
        return {"n_classical": n_classical, "n_ppi": n_classical, "rho": 0.0}
    try:
        n_ppi = float(ppi_power(rho, cost_X=0.0, cost_Y=1.0, cost_Yhat=1e-3, effective_n=n_classical)["n"])
    except ValueError:  # ppi_py's integer rounding fails when its optimum is degenerate (tiny n_classical)
        n_ppi = math.nan
    if not math.isfinite(n_ppi):
        n_ppi = n_classical * (1 - rho**2)  # Broska et al. 2024: the limit of unlimited twin predictions
    return {"n_classical": n_classical, "n_ppi": max(1, math.ceil(n_ppi)), "rho": rho}
