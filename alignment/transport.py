r"""Entropic optimal transport between a candidate pool and a human sample; per-candidate mass.

Cost between candidate :math:`x_i` and human :math:`y_j` (standardised response vectors, item weights
:math:`\omega_d \ge 0`): :math:`C_{ij} = \sum_d \omega_d (x_{id} - y_{jd})^2`. With :math:`a = \mathbf 1/N`,
:math:`b = \mathbf 1/M`, :math:`\varepsilon = \texttt{reg} \cdot \bar C` and :math:`\rho = \texttt{reg\_m}
\cdot \bar C` (:math:`\bar C` the median cost, so the problem does not depend on the cost's scale):

* ``formulation="semi_relaxed"`` (default; Chizat et al. [2], POT ``sinkhorn_unbalanced`` with
  ``reg_m=(rho, inf)``): human marginal tight, persona marginal under a KL penalty

  .. math::
      \min_{P \ge 0,\ P^\top \mathbf 1 = b} \langle C, P\rangle
      + \varepsilon\,\mathrm{KL}(P \,|\, a b^\top) + \rho\,\mathrm{KL}(P\mathbf 1 \,|\, a)

  The candidate mass :math:`P\mathbf 1` moves toward candidates close to humans.
* ``formulation="balanced"`` (Cuturi [1], POT ``sinkhorn``; as the persona-alignment paper [4] writes
  it): both marginals tight, so the row sums are :math:`1/N` by construction — the "OT weight" is
  uniform and selects nothing. Kept for comparison only.

Solvers: plain Sinkhorn scaling when :math:`\max_i \min_j C'_{ij}/\varepsilon` is small, otherwise the
stabilised (absorption) unbalanced solver or log-domain balanced solver of POT. Each human's column is
shifted by its minimum cost first, which is exact because every column sum is fixed.

**Blocked mode** (``block_size`` set, or automatically when ``N * M > 25e6``): candidates and humans are
randomly permuted (``seed``) and split into the same number B of blocks (at most ``block_size`` humans
per block); block k of the pool is paired with block k of the humans and each pair is solved densely
in float32, the cost coming from matrix products. Because the generalised KL terms are separable, the
result is *the exact minimiser of the same objective restricted to block-diagonal plans* under that
random pairing (the minibatch OT estimator of Fatras et al. [3]): its objective is never below the full
problem's, every block receives mass ``|human block| / M``, and each candidate only competes with its
own block for its own humans, so the masses are noisier than the dense solution and converge to it
as ``block_size`` grows. (For ``balanced`` the candidate reference mass is rescaled per block to match
the human mass.) Memory is O(block_size²); the full N × M cost is never formed. float32 cannot resolve
a relative change below ~1e-6, so blocks stop at ``max(tol, 1e-6)``.

References:
    [1] Cuturi, M. (2013). Sinkhorn distances: Lightspeed computation of optimal transport. NeurIPS.
    [2] Chizat, L., Peyré, G., Schmitzer, B. & Vialard, F.-X. (2018). Scaling algorithms for unbalanced
        optimal transport problems. Math. Comp. 87 (scaling iterations with a KL marginal penalty).
    [3] Fatras, K. et al. (2020). Learning with minibatch Wasserstein: asymptotic and gradient
        properties. AISTATS.
    [4] "Population-Aligned Persona Generation for LLM-based Social Simulation".

"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import ot

from alignment import _validation as v

__all__ = ["AlignmentResult", "sample_by_mass", "transport_weights"]

_DENSE_MAX_ENTRIES = 25_000_000
_DEFAULT_BLOCK = 5_000
_MEDIAN_EXACT_MAX = 1_000_000
_MEDIAN_PAIRS = 200_000
_FORMULATIONS = ("semi_relaxed", "balanced")


@dataclass(frozen=True, kw_only=True)
class AlignmentResult:
    r"""Result of :func:`transport_weights`.

    Attributes:
        weights: np.ndarray, shape (N,). Per-candidate mass (row sums of the plan), summing to 1.
        cost: transport cost :math:`\langle C, P\rangle` in the units of C.
        n_iter: Sinkhorn iterations (max over blocks; to within 10 for the stabilised solver).
        converged: whether every (block) solve met ``tol``.
        formulation: ``"semi_relaxed"`` or ``"balanced"``.
        plan: np.ndarray, shape (N, M), when solved densely; ``None`` in blocked mode.
        block_size: humans per block in blocked mode, ``None`` when dense.
        cost_scale: the median cost used to scale ``reg`` and ``reg_m``.

    """

    weights: np.ndarray
    cost: float
    n_iter: int
    converged: bool
    formulation: str
    plan: np.ndarray | None = None
    block_size: int | None = None
    cost_scale: float = 1.0


def _sq_cost(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    c = (x * x).sum(axis=1)[:, None] + (y * y).sum(axis=1)[None, :] - 2.0 * (x @ y.T)
    return np.maximum(c, 0.0, out=c)


def _median_cost(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    if x.shape[0] * y.shape[0] <= _MEDIAN_EXACT_MAX:
        med = float(np.median(_sq_cost(x, y)))
    else:
        rng = np.random.default_rng([seed, 1])
        i = rng.integers(x.shape[0], size=_MEDIAN_PAIRS)
        j = rng.integers(y.shape[0], size=_MEDIAN_PAIRS)
        med = float(np.median(((x[i] - y[j]) ** 2).sum(axis=1)))
    return med if med > 0 else 1.0


def _solve(x, y, a, b, reg, reg_m, formulation, max_iter, tol):
    """Dense solve of one (block) problem; returns plan, cost, n_iter, err, numerical_error."""
    c = _sq_cost(x, y)
    col_min = c.min(axis=0)
    c -= col_min[None, :]
    stiff = float(c.min(axis=1).max()) / reg > (40.0 if c.dtype == np.float32 else 400.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if formulation == "balanced":
            method = "sinkhorn_log" if stiff else "sinkhorn"
            plan, log = ot.sinkhorn(a, b, c, reg, method=method, numItermax=max_iter, stopThr=tol, log=True, warn=False)
            n_iter = int(log["niter"]) + 1
        else:
            method = "sinkhorn_stabilized" if stiff else "sinkhorn"
            plan, log = ot.unbalanced.sinkhorn_unbalanced(
                a, b, c, reg, (reg_m, float("inf")), method=method, numItermax=max_iter, stopThr=tol, log=True
            )
            n_err = len(log["err"])
            n_iter = n_err if method == "sinkhorn" else min(max_iter, 10 * n_err)
    numerical = any("umerical" in str(w.message) for w in caught)
    err = float(log["err"][-1]) if len(log["err"]) else math.inf
    cost = float((plan * c).sum(dtype=np.float64) + col_min @ plan.sum(axis=0, dtype=np.float64))
    return plan, cost, n_iter, err, numerical


def transport_weights(
    pool,
    human,
    *,
    item_weights=None,
    reg: float = 0.05,
    formulation: str = "semi_relaxed",
    reg_m: float = 1.0,
    block_size: int | None = None,
    max_iter: int = 1000,
    tol: float = 1e-9,
    seed: int = 0,
) -> AlignmentResult:
    """Per-candidate transport mass of a pool toward a human sample (see the module docstring for the maths).

    Args:
        pool: array-like, shape (N, D). Standardised candidate response vectors.
        human: array-like, shape (M, D). Standardised human response vectors.
        item_weights: array-like, shape (D,), optional non-negative item weights ω (only their ratios
            matter, because ``reg`` and ``reg_m`` are relative to the median cost). Uniform by default.
        reg: entropic regularisation relative to the median cost (ε = reg · median C).
        formulation: ``"semi_relaxed"`` (default) or ``"balanced"`` (uniform masses; comparison only).
        reg_m: KL penalty on the candidate marginal relative to the median cost (semi-relaxed only);
            smaller values move more mass toward the humans.
        block_size: humans per block for the blocked solver; ``None`` solves densely when
            ``N * M <= 25e6`` and uses blocks of 5,000 otherwise.
        max_iter: Sinkhorn iteration cap per (block) solve.
        tol: POT stopping threshold (float32 blocks use ``max(tol, 1e-6)``).
        seed: seed of the median-cost subsample and of the block permutation.

    Returns:
        AlignmentResult: ``weights`` (N,) summing to 1 and diagnostics.

    Raises:
        ValueError: bad shapes, NaNs, negative item weights, non-positive ``reg``/``reg_m``, unknown
            formulation.

    Warns:
        RuntimeWarning: when a solve did not reach ``tol`` (increase ``max_iter`` or ``reg``).

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> pool = np.concatenate([rng.normal(0, 1, (50, 2)), rng.normal(5, 1, (50, 2))])
        >>> res = transport_weights(pool, rng.normal(0, 1, (80, 2)))
        >>> round(float(res.weights.sum()), 9), bool(res.weights[:50].sum() > 0.8)
        (1.0, True)

    """
    x = v.as_samples_2d("pool", pool)
    y = v.as_samples_2d("human", human)
    v.same_dim("pool", x, "human", y)
    if formulation not in _FORMULATIONS:
        raise ValueError(f"formulation must be one of {_FORMULATIONS}, got {formulation!r}")
    for name, val in (("reg", reg), ("reg_m", reg_m), ("tol", tol)):
        if not (np.isfinite(val) and val > 0):
            raise ValueError(f"{name} must be a positive finite float, got {val!r}")
    max_iter = v.positive_int("max_iter", max_iter)
    if item_weights is not None:
        w = v.sample_weights("item_weights", item_weights, x.shape[1]) * x.shape[1]
        x, y = x * np.sqrt(w), y * np.sqrt(w)
    n, m = x.shape[0], y.shape[0]
    scale = _median_cost(x, y, seed)
    eps, rho = reg * scale, reg_m * scale
    if block_size is None and n * m <= _DENSE_MAX_ENTRIES:
        plan, cost, n_iter, err, numerical = _solve(
            x, y, np.full(n, 1.0 / n), np.full(m, 1.0 / m), eps, rho, formulation, max_iter, tol
        )
        _warn(err, tol, numerical, max_iter, "")
        mass = plan.sum(axis=1)
        return AlignmentResult(
            weights=mass / mass.sum(),
            cost=cost,
            n_iter=n_iter,
            converged=err < tol,
            formulation=formulation,
            plan=plan,
            cost_scale=scale,
        )
    block_size = _DEFAULT_BLOCK if block_size is None else v.positive_int("block_size", block_size)
    n_blocks = min(max(math.ceil(max(n, m) / block_size), 1), n, m)
    rng = np.random.default_rng([seed, 2])
    p_blocks = np.array_split(rng.permutation(n), n_blocks)
    h_blocks = np.array_split(rng.permutation(m), n_blocks)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    tol32 = max(tol, 1e-6)
    mass = np.zeros(n)
    cost, n_iter, worst, numerical_any = 0.0, 0, 0.0, False
    for pi, hj in zip(p_blocks, h_blocks, strict=True):
        b = np.full(hj.shape[0], 1.0 / m, dtype=np.float32)
        a_val = (hj.shape[0] / m) / pi.shape[0] if formulation == "balanced" else 1.0 / n
        a = np.full(pi.shape[0], a_val, dtype=np.float32)
        plan, c, it, err, numerical = _solve(
            x32[pi], y32[hj], a, b, np.float32(eps), np.float32(rho), formulation, max_iter, tol32
        )
        mass[pi] = plan.sum(axis=1, dtype=np.float64)
        cost += c
        n_iter = max(n_iter, it)
        worst = max(worst, err)
        numerical_any = numerical_any or numerical
    _warn(worst, tol32, numerical_any, max_iter, f" (blocks of {block_size} humans)")
    return AlignmentResult(
        weights=mass / mass.sum(),
        cost=cost,
        n_iter=n_iter,
        converged=worst < tol32,
        formulation=formulation,
        block_size=block_size,
        cost_scale=scale,
    )


def _warn(err: float, tol: float, numerical: bool, max_iter: int, where: str) -> None:
    if numerical:
        warnings.warn(
            f"transport_weights hit numerical under/overflow{where}; increase reg",
            RuntimeWarning,
            stacklevel=3,
        )
    elif not err < tol:
        warnings.warn(
            f"transport_weights did not converge in max_iter={max_iter}{where} (error {err:.3g} "
            f">= tol {tol:.3g}); increase max_iter or reg",
            RuntimeWarning,
            stacklevel=3,
        )


def sample_by_mass(weights, m: int, *, rng: np.random.Generator, replace: bool = False) -> np.ndarray:
    """Draw ``m`` candidate indices with probability proportional to their transport mass.

    Args:
        weights: array-like, shape (N,). Non-negative masses summing to 1 (e.g. ``AlignmentResult.weights``).
        m: number of draws.
        rng: generator of the draw.
        replace: draw with replacement; without (default) ``m`` may not exceed the positive masses.

    Returns:
        np.ndarray of int, shape (m,).

    Examples:
        >>> sample_by_mass([0.0, 1.0], 1, rng=np.random.default_rng(0)).tolist()
        [1]

    """
    w = v.pmf("weights", weights)
    if w.ndim != 1:
        raise ValueError(f"weights must have shape (N,), got shape {w.shape}")
    m = v.positive_int("m", m)
    if not replace and np.count_nonzero(w) < m:
        raise ValueError(
            f"m = {m} exceeds the {np.count_nonzero(w)} candidates with positive mass "
            f"(weights shape {w.shape}); pass replace=True or a smaller m"
        )
    return rng.choice(w.shape[0], size=m, replace=replace, p=w / w.sum())
