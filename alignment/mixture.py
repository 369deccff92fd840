r"""Mixture weights on the simplex that bring a mixture of K answer distributions closest to a target.

Given component pmfs :math:`p^{(k)}` on a common sorted support :math:`s_1 < \dots < s_S` and a target
pmf :math:`q`, with CDFs :math:`F_k` and :math:`G`, the 1-Wasserstein distance of the mixture is

.. math::
    W_1\Big(\sum_k w_k p^{(k)}, q\Big)
    = \sum_{j=1}^{S-1} \Big|\sum_k w_k F_k(s_j) - G(s_j)\Big|\,(s_{j+1} - s_j),

which is the L1 norm of a vector *linear in w*. Minimising it over the simplex is therefore a linear
program (``method="lp"``, exact, ``scipy.optimize.linprog`` with HiGHS):

.. math::
    \min_{w, t} \sum_j \Delta_j t_j \quad \text{s.t.}\quad -t \le F^\top w - G \le t,\quad
    \mathbf 1^\top w = 1,\quad w \ge 0.

``method="slsqp"`` reproduces the prompt-mixture paper [1]: SLSQP on the same objective from random
normalised starting weights, best of ``n_restarts`` seeded restarts. Being non-smooth, it can stop
above the LP optimum.

References:
    [1] "Distributional Alignment for Social Simulation with LLMs: A Prompt Mixture Modeling Approach".
    [2] Peyré, G. & Cuturi, M. (2019). Computational Optimal Transport. Foundations and Trends in ML
        (1-D W1 as the L1 distance of CDFs).

"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.optimize

from alignment import _validation as v

__all__ = ["MixtureFit", "fit_mixture_weights", "fit_mixture_weights_multi"]


@dataclass(frozen=True, kw_only=True)
class MixtureFit:
    """Result of a mixture-weight fit.

    Attributes:
        weights: np.ndarray, shape (K,), on the simplex.
        loss: the (mean) W1 of the fitted mixture to the target.
        n_iter: solver iterations (summed over restarts for SLSQP).
        converged: whether the solver reported success.
        method: ``"lp"`` or ``"slsqp"``.

    """

    weights: np.ndarray
    loss: float
    n_iter: int
    converged: bool
    method: str


def _check(component_pmfs, support, target_pmf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return CDFs ``F`` (K, D, S), ``G`` (D, S) and gaps (S-1,) for a (K, D, S) problem."""
    s = v.support("support", support)
    comps = np.asarray(component_pmfs, dtype=np.float64)
    target = np.asarray(target_pmf, dtype=np.float64)
    if comps.ndim != 3 or comps.shape[2] != s.shape[0] or target.shape != comps.shape[1:]:
        raise ValueError(
            "component_pmfs, target_pmf and support must have shapes (K, D, S), (D, S) and (S,); got "
            f"{comps.shape}, {target.shape} and {s.shape}"
        )
    comps = v.pmf("component_pmfs", comps, axis=2)
    target = v.pmf("target_pmf", target, axis=1)
    return np.cumsum(comps, axis=2), np.cumsum(target, axis=1), np.diff(s)


def _loss(w: np.ndarray, cdf: np.ndarray, tcdf: np.ndarray, gaps: np.ndarray) -> float:
    diff = np.tensordot(w, cdf, axes=1)[:, :-1] - tcdf[:, :-1]
    return float(np.mean(np.abs(diff) @ gaps))


def _fit_lp(cdf: np.ndarray, tcdf: np.ndarray, gaps: np.ndarray, tol: float) -> MixtureFit:
    k, d, s = cdf.shape
    if s == 1:
        w = np.full(k, 1.0 / k)
        return MixtureFit(weights=w, loss=0.0, n_iter=0, converged=True, method="lp")
    f = cdf[:, :, :-1].reshape(k, d * (s - 1)).T  # (D(S-1), K)
    g = tcdf[:, :-1].ravel()
    n_t = f.shape[0]
    eye = np.eye(n_t)
    c = np.concatenate([np.zeros(k), np.tile(gaps, d) / d])
    a_ub = np.block([[f, -eye], [-f, -eye]])
    b_ub = np.concatenate([g, -g])
    a_eq = np.concatenate([np.ones(k), np.zeros(n_t)])[None, :]
    res = scipy.optimize.linprog(
        c,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=[1.0],
        bounds=(0, None),
        method="highs",
        options={
            "primal_feasibility_tolerance": max(tol, 1e-10),
            "dual_feasibility_tolerance": max(tol, 1e-10),
        },
    )
    if res.status != 0:
        warnings.warn(
            f"linprog (HiGHS) stopped with status {res.status}: {res.message}; loosen tol or check the inputs",
            RuntimeWarning,
            stacklevel=4,
        )
        w = np.full(k, 1.0 / k)
    else:
        w = np.clip(res.x[:k], 0.0, None)
        w /= w.sum()
    return MixtureFit(
        weights=w, loss=_loss(w, cdf, tcdf, gaps), n_iter=int(res.nit), converged=res.status == 0, method="lp"
    )


def _fit_slsqp(cdf, tcdf, gaps, n_restarts: int, tol: float, rng: np.random.Generator) -> MixtureFit:
    k = cdf.shape[0]
    best, n_iter = None, 0
    for _ in range(n_restarts):
        start = rng.random(k)
        start /= start.sum()
        res = scipy.optimize.minimize(
            _loss,
            start,
            args=(cdf, tcdf, gaps),
            method="SLSQP",
            bounds=[(0.0, 1.0)] * k,
            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
            tol=tol,
            options={"maxiter": 1000},
        )
        n_iter += int(res.nit)
        w = np.clip(res.x, 0.0, None)
        w /= w.sum()
        cand = (_loss(w, cdf, tcdf, gaps), bool(res.success), w)
        if best is None or cand[0] < best[0]:
            best = cand
    loss, ok, w = best
    if not ok:
        warnings.warn(
            "SLSQP did not report convergence for the best restart; increase n_restarts or tol, "
            "or use method='lp' (exact)",
            RuntimeWarning,
            stacklevel=4,
        )
    return MixtureFit(weights=w, loss=loss, n_iter=n_iter, converged=ok, method="slsqp")


def _dispatch(cdf, tcdf, gaps, method, n_restarts, tol, rng) -> MixtureFit:
    if method == "lp":
        return _fit_lp(cdf, tcdf, gaps, tol)
    if method == "slsqp":
        n_restarts = v.positive_int("n_restarts", n_restarts)
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)
        return _fit_slsqp(cdf, tcdf, gaps, n_restarts, tol, gen)
    raise ValueError(f"method must be 'lp' or 'slsqp', got {method!r}")


def fit_mixture_weights(
    component_pmfs,
    support,
    target_pmf,
    *,
    method: str = "lp",
    n_restarts: int = 5,
    tol: float = 1e-6,
    rng: np.random.Generator | int | None = None,
) -> MixtureFit:
    """Weights on the simplex minimising W1 between the mixture of K pmfs and a target pmf.

    Args:
        component_pmfs: array-like, shape (K, S). One answer distribution per component (e.g. prompt).
        support: array-like, shape (S,). Strictly increasing common support.
        target_pmf: array-like, shape (S,). Human answer distribution.
        method: ``"lp"`` (exact linear program, HiGHS) or ``"slsqp"`` (the paper's local search).
        n_restarts: SLSQP random restarts (ignored by ``"lp"``).
        tol: solver tolerance (SLSQP ``tol``; HiGHS feasibility tolerances, floored at 1e-10).
        rng: generator or int seed of the SLSQP starts; ``None`` means seed 0 (reproducible).

    Returns:
        MixtureFit: weights (K,) on the simplex and the W1 loss.

    Raises:
        ValueError: shape mismatch, non-normalised or negative pmfs, unknown method.

    Examples:
        >>> comps = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
        >>> fit = fit_mixture_weights(comps, [1, 2, 3], [0.25, 0.0, 0.75])
        >>> fit.weights.round(6), round(fit.loss, 9)
        (array([0.25, 0.75]), 0.0)

    """
    comps = np.asarray(component_pmfs, dtype=np.float64)
    if comps.ndim != 2:
        raise ValueError(f"component_pmfs must have shape (K, S), got shape {comps.shape}")
    target = np.asarray(target_pmf, dtype=np.float64)
    if target.ndim != 1:
        raise ValueError(f"target_pmf must have shape (S,), got shape {target.shape}")
    n_support = np.shape(support)
    if comps.shape[1] != target.shape[0] or n_support != target.shape:
        raise ValueError(
            "component_pmfs (K, S), target_pmf (S,) and support (S,) disagree in S: got shapes "
            f"{comps.shape}, {target.shape} and {n_support}"
        )
    cdf, tcdf, gaps = _check(comps[:, None, :], support, target[None, :])
    return _dispatch(cdf, tcdf, gaps, method, n_restarts, tol, rng)


def fit_mixture_weights_multi(
    component_pmfs,
    support,
    target_pmfs,
    *,
    method: str = "lp",
    n_restarts: int = 5,
    tol: float = 1e-6,
    rng: np.random.Generator | int | None = None,
) -> MixtureFit:
    r"""One weight vector minimising the mean W1 over D items.

    .. math:: \min_{w \in \Delta_K} \frac1D\sum_d W_1\Big(\sum_k w_k p^{(k)}_d, q_d\Big)


    The LP gains one slack block per item; the objective stays linear in ``w``.

    Args:
        component_pmfs: array-like, shape (K, D, S). Component k's answer distribution on item d.
        support: array-like, shape (S,). Common support of all items.
        target_pmfs: array-like, shape (D, S). Human distribution per item.
        method: ``"lp"`` or ``"slsqp"``.
        n_restarts: SLSQP random restarts.
        tol: solver tolerance.
        rng: generator or int seed of the SLSQP starts; ``None`` means seed 0.

    Returns:
        MixtureFit: weights (K,) and the mean W1 loss.

    Examples:
        >>> comps = [[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]]
        >>> fit_mixture_weights_multi(comps, [0, 1], [[0.5, 0.5], [0.5, 0.5]]).weights.round(6)
        array([0.5, 0.5])

    """
    cdf, tcdf, gaps = _check(component_pmfs, support, target_pmfs)
    return _dispatch(cdf, tcdf, gaps, method, n_restarts, tol, rng)
