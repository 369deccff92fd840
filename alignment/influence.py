"""Metrics of social influence on estimates, one code path for human groups and simulated societies.

A *panel* holds the estimates of ``G`` groups of up to ``N`` members over ``R`` rounds, shape ``(G, N, R)`` (NaN
where a group has fewer members), with each group's information condition and the true answer. The metrics follow
Lorenz, Rauhut, Schweitzer & Helbing (2011), "How social influence can undermine the wisdom of crowd effect",
PNAS 108(22):9020-9025 [1]:

* **diversity** of a group in round ``t``: the variance (``ddof=0``) of ``log max(x, 1)`` over its members; the
  *diversity ratio* is ``var(log x_R) / var(log x_1)`` per group ([1], "social influence effect");
* **error of the geometric mean** in round ``t``: ``|mean log x_t - log truth|`` ([1], "wisdom of crowd");
* **truth in range**: the truth lies between the group's smallest and largest estimate ([1], "range reduction");
* **revision weight** ``α = (x_{t+1} - x_t) / (m_t - x_t)`` on log estimates (``x = log max(E, 1)``), ``m_t``
  the log of the reference the member could move towards (by default the group's geometric mean in round ``t``;
  a simulation passes the geometric mean of what each agent saw): 0 keeps the own estimate, 1 adopts the
  reference. It is the weight of the DeGroot (1974) [2] update on log estimates, so a fitted DeGroot model and
  this metric speak of the same number.

Each per-group metric is summarised per condition by its median over groups, with a percentile bootstrap CI over
groups (groups resampled with replacement).

References:
    [1] Lorenz J., Rauhut H., Schweitzer F., Helbing D. (2011). PNAS 108(22):9020-9025.
    [2] DeGroot M. H. (1974). Reaching a consensus. JASA 69(345):118-121.

Example:
    >>> x = np.array([[[10.0, 10.0], [1000.0, 100.0]]])   # one group, two members, two rounds
    >>> float(diversity_ratio(x)[0])
    0.25
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ConditionSummary",
    "InfluencePanel",
    "bimodality_coefficient",
    "bootstrap_median_ci",
    "edge_assortativity",
    "diversity",
    "diversity_ratio",
    "diversity_trajectory",
    "geometric_mean_error",
    "group_mean_reference",
    "influence_summary",
    "log_estimates",
    "revision_weights",
    "truth_in_range",
]

#: Estimates below this are clipped before taking logs (Lorenz et al. clip at 1; estimates are positive counts).
LOG_FLOOR = 1.0


@dataclass(frozen=True, kw_only=True)
class InfluencePanel:
    """Estimates of groups over rounds, with each group's condition and truth.

    Attributes:
        estimates: shape ``(G, N, R)``, NaN where a group has fewer than ``N`` members.
        conditions: each group's information condition, length ``G``.
        truth: each group's true answer, shape ``(G,)``.
        groups: each group's key (e.g. ``"081111_1557/Q1"``), length ``G``.
        source: where the estimates come from (``"humans"``, a construction, a classical model).
    """

    estimates: np.ndarray
    conditions: tuple[str, ...]
    truth: np.ndarray
    groups: tuple[str, ...]
    source: str = "humans"

    def __post_init__(self) -> None:
        x = np.asarray(self.estimates, dtype=float)
        if x.ndim != 3 or x.shape[2] < 2:
            raise ValueError(f"estimates must have shape (groups, members, rounds >= 2), got {x.shape}")
        g = x.shape[0]
        truth = np.asarray(self.truth, dtype=float).reshape(-1)
        if len(self.conditions) != g or truth.shape != (g,) or len(self.groups) != g:
            raise ValueError(
                f"{g} groups of estimates but {len(self.conditions)} conditions, {truth.shape} truths and "
                f"{len(self.groups)} group keys"
            )
        object.__setattr__(self, "estimates", x)
        object.__setattr__(self, "truth", truth)
        object.__setattr__(self, "conditions", tuple(str(c) for c in self.conditions))
        object.__setattr__(self, "groups", tuple(str(k) for k in self.groups))

    @property
    def rounds(self) -> int:
        """Number of rounds ``R``."""
        return int(self.estimates.shape[2])

    def condition_names(self) -> tuple[str, ...]:
        """Conditions in order of first appearance."""
        return tuple(dict.fromkeys(self.conditions))

    def select(self, condition: str) -> InfluencePanel:
        """The groups of one condition."""
        keep = np.array([c == condition for c in self.conditions])
        return InfluencePanel(
            estimates=self.estimates[keep],
            conditions=tuple(c for c, k in zip(self.conditions, keep, strict=True) if k),
            truth=self.truth[keep],
            groups=tuple(c for c, k in zip(self.groups, keep, strict=True) if k),
            source=self.source,
        )


def log_estimates(x: np.ndarray, floor: float = LOG_FLOOR) -> np.ndarray:
    """``log(max(x, floor))`` elementwise (NaN stays NaN), any shape."""
    v = np.asarray(x, dtype=float)
    return np.log(np.where(np.isnan(v), np.nan, np.maximum(v, floor)))


def diversity(x: np.ndarray) -> np.ndarray:
    """Variance of log estimates over members, ``(G, N, R)`` → ``(G, R)`` ([1], ddof=0, NaN members ignored)."""
    return np.nanvar(log_estimates(x), axis=1)


def diversity_ratio(x: np.ndarray) -> np.ndarray:
    """``var(log x_R) / var(log x_1)`` per group, ``(G, N, R)`` → ``(G,)`` (NaN for a group without spread)."""
    d = diversity(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d[:, 0] > 0, d[:, -1] / d[:, 0], np.nan)


def diversity_trajectory(x: np.ndarray) -> np.ndarray:
    """``var(log x_t) / var(log x_1)`` per group and round, ``(G, N, R)`` → ``(G, R)`` (first column 1)."""
    d = diversity(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d[:, :1] > 0, d / d[:, :1], np.nan)


def geometric_mean_error(x: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``|mean log x_t - log truth|`` per group and round, ``(G, N, R)``, ``(G,)`` → ``(G, R)`` ([1])."""
    return np.abs(np.nanmean(log_estimates(x), axis=1) - log_estimates(truth)[:, None])


def truth_in_range(x: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Whether ``min x_t <= truth <= max x_t`` per group and round, ``(G, N, R)``, ``(G,)`` → bool ``(G, R)``."""
    t = np.asarray(truth, dtype=float)[:, None]
    return (np.nanmin(x, axis=1) <= t) & (t <= np.nanmax(x, axis=1))


def group_mean_reference(x: np.ndarray) -> np.ndarray:
    """The group's geometric mean per round (of ``max(x, 1)``), broadcast to every member: ``(G, N, R)`` → same.

    Under no information it is what the group *would* have shown, so α measured against it is near 0 when members
    ignore each other.
    """
    m = np.exp(np.nanmean(log_estimates(x), axis=1, keepdims=True))
    return np.broadcast_to(m, np.shape(x)).copy()


def revision_weights(x: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """``α = (y_{t+1} - y_t) / (r_t - y_t)`` with ``y = log max(x, 1)``, ``r = log max(m, 1)``, per member and step.

    Args:
        x: estimates, shape ``(G, N, R)``.
        reference: ``m_t`` (not logged), shape ``(G, N, R)``: what each member could move towards in round ``t``;
            None uses :func:`group_mean_reference`.

    Returns:
        Shape ``(G, N, R - 1)``; NaN where a member already stood at the reference (``r_t == y_t``) or is absent.
    """
    v = np.asarray(x, dtype=float)
    m = group_mean_reference(v) if reference is None else np.asarray(reference, dtype=float)
    if m.shape != v.shape:
        raise ValueError(f"reference has shape {m.shape}; it must match the estimates {v.shape}")
    y, r = log_estimates(v), log_estimates(m)
    gap = r[:, :, :-1] - y[:, :, :-1]
    step = y[:, :, 1:] - y[:, :, :-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(gap) > 1e-12, step / gap, np.nan)


def bimodality_coefficient(values: np.ndarray) -> float:
    """Sarle's bimodality coefficient ``(g² + 1) / (κ + 3 (n-1)² / ((n-2)(n-3)))`` of a sample, shape ``(n,)``.

    ``g`` is the sample skewness and ``κ`` the sample excess kurtosis (bias-corrected); values above 5/9 ≈ 0.555
    (the uniform distribution's) suggest bimodality (SAS Institute 1990; Pfister et al. 2013, Front. Psychol.
    4:700). NaN for fewer than 4 values or no spread.

    >>> round(bimodality_coefficient(np.r_[np.zeros(50), np.ones(50)]), 3)
    0.951
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = v.size
    if n < 4 or np.ptp(v) == 0:
        return float("nan")
    d = v - v.mean()
    m2, m3, m4 = (d**2).mean(), (d**3).mean(), (d**4).mean()
    g = np.sqrt(n * (n - 1)) / (n - 2) * m3 / m2**1.5
    k = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * (m4 / m2**2 - 3) + 6)
    return float((g**2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


def edge_assortativity(values: np.ndarray, u: np.ndarray, v: np.ndarray) -> float:
    """Pearson correlation of answers across the edges of a graph (Newman 2003, Phys. Rev. E 67:026126, eq. 21).

    Args:
        values: one answer per node, shape ``(n,)``.
        u: one end of every undirected edge, shape ``(E,)``.
        v: the other end, shape ``(E,)``.

    Returns:
        The correlation over both orientations of every edge; NaN without edges or spread.
    """
    x = np.asarray(values, dtype=float)
    a = np.r_[x[u], x[v]]
    b = np.r_[x[v], x[u]]
    if a.size == 0 or np.std(a) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def bootstrap_median_ci(
    values: np.ndarray, rng: np.random.Generator, *, n_boot: int = 2000, level: float = 0.95
) -> tuple[float, float, float]:
    """Median of per-group values with a percentile bootstrap CI over groups.

    Args:
        values: one value per group, shape ``(G,)`` (NaN groups are dropped first).
        rng: the generator of the resampling (a named seed stream of the caller).
        n_boot: bootstrap replicates.
        level: confidence level.

    Returns:
        ``(median, low, high)``; all NaN when no group has a value.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (float("nan"),) * 3
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    meds = np.median(v[idx], axis=1)
    tail = (1.0 - level) / 2.0
    return float(np.median(v)), float(np.quantile(meds, tail)), float(np.quantile(meds, 1.0 - tail))


@dataclass(frozen=True, kw_only=True)
class ConditionSummary:
    """The metrics of one condition of one panel, each a median over groups with a bootstrap CI.

    Attributes:
        source: the panel's source (``"humans"``, a construction or a classical model).
        condition: the information condition.
        groups: groups in the condition.
        diversity_ratio: ``(median, low, high)`` of ``var(log x_R) / var(log x_1)``.
        error_first: ``(median, low, high)`` of the geometric-mean error in round 1.
        error_last: the same in round ``R``.
        truth_in_range_first: share of groups whose range holds the truth in round 1.
        truth_in_range_last: the same in round ``R``.
        alpha: ``(median, low, high)`` of each group's median revision weight.
        alpha_quartiles: ``(q25, q50, q75)`` of every member's revision weights pooled.
        trajectory: median over groups of ``var(log x_t) / var(log x_1)``, one per round.
    """

    source: str
    condition: str
    groups: int
    diversity_ratio: tuple[float, float, float]
    error_first: tuple[float, float, float]
    error_last: tuple[float, float, float]
    truth_in_range_first: float
    truth_in_range_last: float
    alpha: tuple[float, float, float]
    alpha_quartiles: tuple[float, float, float]
    trajectory: tuple[float, ...]

    def row(self) -> dict[str, object]:
        """One flat table row (``*_lo``/``*_hi`` are the CI ends)."""
        out: dict[str, object] = {"source": self.source, "condition": self.condition, "groups": self.groups}
        for name in ("diversity_ratio", "error_first", "error_last", "alpha"):
            med, lo, hi = getattr(self, name)
            out[name], out[f"{name}_lo"], out[f"{name}_hi"] = med, lo, hi
        out["truth_in_range_first"] = self.truth_in_range_first
        out["truth_in_range_last"] = self.truth_in_range_last
        out["alpha_q25"], _, out["alpha_q75"] = self.alpha_quartiles
        return out


def _group_alpha(alpha: np.ndarray) -> np.ndarray:
    """Median revision weight of each group, ``(G, N, R-1)`` → ``(G,)`` (NaN for a group without any)."""
    flat = alpha.reshape(alpha.shape[0], -1)
    out = np.full(flat.shape[0], np.nan)
    for i, row in enumerate(flat):
        ok = row[np.isfinite(row)]
        if ok.size:
            out[i] = np.median(ok)
    return out


def influence_summary(
    panel: InfluencePanel,
    rng_for: Callable[[str, str], np.random.Generator],
    *,
    references: np.ndarray | None = None,
    n_boot: int = 2000,
    conditions: Sequence[str] | None = None,
) -> list[ConditionSummary]:
    """Per-condition metrics of a panel, each with a bootstrap CI over groups.

    Args:
        panel: the estimates.
        rng_for: ``rng_for(condition, metric)`` returns the generator of that CI (a named seed stream), so a CI
            does not depend on which other conditions or metrics are computed.
        references: ``m_t`` of every member, shape ``(G, N, R)``; None uses the group mean.
        n_boot: bootstrap replicates.
        conditions: which conditions, in order (default: all, in order of first appearance).

    Returns:
        One :class:`ConditionSummary` per condition.
    """
    x = panel.estimates
    ratio = diversity_ratio(x)
    err = geometric_mean_error(x, panel.truth)
    inside = truth_in_range(x, panel.truth)
    alpha = revision_weights(x, references)
    traj = diversity_trajectory(x)
    group_alpha = _group_alpha(alpha)
    out = []
    for cond in conditions if conditions is not None else panel.condition_names():
        keep = np.array([c == cond for c in panel.conditions])
        if not keep.any():
            raise ValueError(f"panel {panel.source!r} has no group in condition {cond!r}")
        pooled = alpha[keep].reshape(-1)
        pooled = pooled[np.isfinite(pooled)]
        quart = tuple(float(q) for q in np.quantile(pooled, [0.25, 0.5, 0.75])) if pooled.size else (np.nan,) * 3
        out.append(
            ConditionSummary(
                source=panel.source,
                condition=cond,
                groups=int(keep.sum()),
                diversity_ratio=bootstrap_median_ci(ratio[keep], rng_for(cond, "diversity_ratio"), n_boot=n_boot),
                error_first=bootstrap_median_ci(err[keep, 0], rng_for(cond, "error_first"), n_boot=n_boot),
                error_last=bootstrap_median_ci(err[keep, -1], rng_for(cond, "error_last"), n_boot=n_boot),
                truth_in_range_first=float(inside[keep, 0].mean()),
                truth_in_range_last=float(inside[keep, -1].mean()),
                alpha=bootstrap_median_ci(group_alpha[keep], rng_for(cond, "alpha"), n_boot=n_boot),
                alpha_quartiles=quart,  # type: ignore[arg-type]
                trajectory=tuple(float(v) for v in np.nanmedian(traj[keep], axis=0)),
            )
        )
    return out
