r"""Probability mass functions on a known finite support (Likert items, bounded integer games).

A distribution over the answer set :math:`s_1 < \dots < s_S` is a vector :math:`p \in \Delta_S`.
These helpers turn samples into such vectors, mix them and sample from them.

References:
    [1] "Distributional Alignment for Social Simulation with LLMs: A Prompt Mixture Modeling
        Approach" (prompt-mixture paper): answer distributions on a common support.

"""

from __future__ import annotations

import numpy as np

from alignment import _validation as v

__all__ = ["mixture_pmf", "pmf_from_samples", "sample_from_pmf", "sample_mixture"]


def pmf_from_samples(values, support, weights=None) -> np.ndarray:
    r"""Empirical probability mass function of samples on a known support.

    .. math:: p_j = \frac{\sum_i w_i \, [x_i = s_j]}{\sum_i w_i}

    Args:
        values: array-like, shape (n,). Observed answers; every value must be an element of ``support``
            (exact equality).
        support: array-like, shape (S,). Strictly increasing answer set.
        weights: array-like, shape (n,), optional. Non-negative sample weights (normalised internally);
            uniform when ``None``.

    Returns:
        np.ndarray, shape (S,): the pmf, non-negative and summing to 1.

    Raises:
        ValueError: bad shapes, NaNs, negative weights, or values that are not on the support
            (the offending values are listed).

    Examples:
        >>> pmf_from_samples([1, 2, 2, 5], support=[1, 2, 3, 4, 5])
        array([0.25, 0.5 , 0.  , 0.  , 0.25])

    """
    x = v.as_samples_1d("values", values)
    s = v.support("support", support)
    w = v.sample_weights("weights", weights, x.shape[0])
    idx = np.clip(np.searchsorted(s, x), 0, s.shape[0] - 1)
    off = s[idx] != x
    if np.any(off):
        bad = np.unique(x[off])[:10]
        raise ValueError(f"values (shape {x.shape}) contain entries not on support (shape {s.shape}): {bad.tolist()}")
    counts = np.bincount(idx, weights=w, minlength=s.shape[0])
    return counts / counts.sum()


def mixture_pmf(weights, component_pmfs) -> np.ndarray:
    r"""Mixture of K pmfs on a common support.

    .. math:: p = \sum_{k=1}^K w_k \, p^{(k)}

    Args:
        weights: array-like, shape (K,). Mixture weights on the simplex.
        component_pmfs: array-like, shape (K, S). One pmf per row.

    Returns:
        np.ndarray, shape (S,): the mixture pmf.

    Raises:
        ValueError: shape mismatch, negative or non-normalised weights or pmfs.

    Examples:
        >>> mixture_pmf([0.5, 0.5], [[1.0, 0.0], [0.0, 1.0]])
        array([0.5, 0.5])

    """
    comps = np.asarray(component_pmfs, dtype=np.float64)
    if comps.ndim != 2:
        raise ValueError(f"component_pmfs must have shape (K, S), got shape {comps.shape}")
    comps = v.pmf("component_pmfs", comps, axis=1)
    w = v.pmf("weights", weights, shape=(comps.shape[0],))
    return w @ comps


def sample_from_pmf(pmf, support, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` i.i.d. answers from a pmf on a support.

    Args:
        pmf: array-like, shape (S,). Probabilities summing to 1.
        support: array-like, shape (S,). Answer values.
        n: number of draws.
        rng: the generator to draw from (the caller owns the seed).

    Returns:
        np.ndarray, shape (n,): values from ``support``.

    Raises:
        ValueError: mismatched shapes, negative or non-normalised ``pmf``.

    Examples:
        >>> sample_from_pmf([0.0, 1.0], [1, 2], 3, np.random.default_rng(0))
        array([2., 2., 2.])

    """
    s = v.support("support", support)
    p = v.pmf("pmf", pmf, shape=s.shape)
    n = v.positive_int("n", n)
    return rng.choice(s, size=n, p=p / p.sum())


def sample_mixture(
    weights, component_pmfs, support, n: int, *, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    r"""Draw ``n`` agents from a mixture: a component by weight, then one answer from that component's pmf.

    Component :math:`k_i \sim w` (``rng.choice``), then the answer by the inverse CDF of :math:`p^{(k_i)}`:
    with :math:`u_i \sim U[0, 1)` and :math:`F_k(s_j) = \sum_{l \le j} p^{(k)}_l`, the answer is
    :math:`s_{j^*}` with :math:`j^* = \min\{j : u_i < F_{k_i}(s_j)\}` (so :math:`P(j^* = j) = p^{(k)}_j`
    exactly; an answer with zero mass is never drawn).

    Args:
        weights: array-like, shape (K,). Mixture weights on the simplex.
        component_pmfs: array-like, shape (K, S). One pmf per component.
        support: array-like, shape (S,). Answer values.
        n: number of agents.
        rng: the generator (the caller owns the seed).

    Returns:
        tuple: component indices, shape (n,), and answers from ``support``, shape (n,).

    Raises:
        ValueError: mismatched shapes, negative or non-normalised weights or pmfs.

    Examples:
        >>> comp, ans = sample_mixture([0.0, 1.0], [[1.0, 0.0], [0.0, 1.0]], [3, 7], 2, rng=np.random.default_rng(0))
        >>> comp.tolist(), ans.tolist()
        ([1, 1], [7.0, 7.0])

    """
    s = v.support("support", support)
    comps = np.asarray(component_pmfs, dtype=np.float64)
    if comps.ndim != 2 or comps.shape[1] != s.shape[0]:
        raise ValueError(f"component_pmfs must have shape (K, S) with S = {s.shape[0]}, got shape {comps.shape}")
    comps = v.pmf("component_pmfs", comps, axis=1)
    w = v.pmf("weights", weights, shape=(comps.shape[0],))
    n = v.positive_int("n", n)
    comp = rng.choice(w.shape[0], size=n, p=w / w.sum())
    cdf = np.cumsum(comps / comps.sum(axis=1, keepdims=True), axis=1)
    cdf[:, -1] = 1.0  # rounding: the last CDF value is exactly 1, so every u < 1 finds an answer
    u = rng.random(n)
    idx = (cdf[comp] <= u[:, None]).sum(axis=1)  # = searchsorted(cdf[k], u, side="right"), row by row
    return comp, s[idx]
