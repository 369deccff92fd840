r"""Distances between distributions over unordered categories: total variation and per-category gaps.

For answers without an order (a party voted for, a preferred option) there is no distance between categories,
so the Wasserstein distance (which moves mass *along* an axis) does not apply. The total variation distance

.. math:: \mathrm{TV}(p, q) = \tfrac12 \sum_{c=1}^{C} |p_c - q_c| = \max_{A} |p(A) - q(A)|

is the largest difference in probability the two distributions give to any set of categories [1]; it lies in
``[0, 1]`` and is a metric on the simplex. The signed per-category gaps :math:`p_c - q_c` show where the mass
differs (they sum to 0, and half their absolute sum is the TV distance).

SimBench's score (Hu et al. 2025, arXiv 2510.17516, §3) rescales TV against a uniform guess,
:math:`S = 100\,(1 - \mathrm{TV}(p, q) / \mathrm{TV}(u, q))`: 100 is a perfect match, 0 is no better than
answering uniformly at random, and a negative score is worse than that.

References:
    [1] Levin, D. A., Peres, Y. & Wilmer, E. L. (2017). *Markov Chains and Mixing Times*, 2nd ed., Prop. 4.2.
"""

from __future__ import annotations

import numpy as np

from alignment import _validation as v

__all__ = ["category_gaps", "category_pmf", "simbench_score", "total_variation"]


def _pair(p, q) -> tuple[np.ndarray, np.ndarray]:
    a = v.pmf("p", p)
    b = v.pmf("q", q)
    if a.shape != b.shape:
        raise ValueError(f"p and q must have the same shape (..., C), got shapes {a.shape} and {b.shape}")
    return a, b


def total_variation(p, q) -> float | np.ndarray:
    r"""Total variation distance :math:`\tfrac12 \sum_c |p_c - q_c|`.

    Args:
        p: array-like, shape ``(C,)`` or ``(..., C)``: probability vectors over the same C categories.
        q: array-like, same shape as ``p``.

    Returns:
        A float in ``[0, 1]`` for ``(C,)`` inputs, else an array of shape ``p.shape[:-1]``.

    Raises:
        ValueError: shapes differ, or an input is not a probability vector (naming it and its shape).

    Examples:
        >>> total_variation([0.5, 0.5, 0.0], [0.0, 0.5, 0.5])
        0.5
    """
    a, b = _pair(p, q)
    d = 0.5 * np.abs(a - b).sum(axis=-1)
    return float(d) if d.ndim == 0 else d


def simbench_score(p_sim, p_human) -> float:
    """SimBench's S = 100 · (1 − TV(p_sim, p_human) / TV(uniform, p_human)) for one question, shape ``(C,)`` each.

    Returns:
        A float ≤ 100; NaN when the humans are themselves uniform (TV to uniform is 0, so S is undefined).

    Examples:
        >>> simbench_score([0.5, 0.5], [0.5, 0.5])
        nan
        >>> round(simbench_score([0.8, 0.2], [0.8, 0.2]), 1)
        100.0
        >>> round(simbench_score([0.5, 0.5], [0.8, 0.2]), 1)
        0.0
    """
    a, b = _pair(p_sim, p_human)
    if a.ndim != 1:
        raise ValueError(f"simbench_score takes one question's two pmfs of shape (C,), got {a.shape}")
    floor = total_variation(np.full(b.size, 1.0 / b.size), b)
    if floor <= 1e-12:
        return float("nan")
    return float(100.0 * (1.0 - total_variation(a, b) / floor))


def category_gaps(p, q) -> np.ndarray:
    """Signed per-category differences ``p - q``, shape ``(C,)`` (or ``(..., C)``); they sum to 0.

    Examples:
        >>> category_gaps([0.7, 0.3], [0.5, 0.5]).round(2).tolist()
        [0.2, -0.2]
    """
    a, b = _pair(p, q)
    return a - b


def category_pmf(values, n_categories: int, weights=None) -> np.ndarray:
    r"""Empirical distribution of category answers coded ``1..C``.

    .. math:: p_c = \frac{\sum_i w_i [x_i = c]}{\sum_i w_i}

    Args:
        values: array-like, shape ``(n,)``: category numbers ``1..n_categories``.
        n_categories: C.
        weights: array-like, shape ``(n,)``, optional non-negative weights.

    Returns:
        shape ``(C,)``, summing to 1.

    Raises:
        ValueError: a value that is not a category number (listing them), or bad weights.

    Examples:
        >>> category_pmf([1, 3, 3, 3], 3).tolist()
        [0.25, 0.0, 0.75]
    """
    x = v.as_samples_1d("values", values)
    c = v.positive_int("n_categories", n_categories)
    w = v.sample_weights("weights", weights, x.shape[0])
    bad = (x != np.rint(x)) | (x < 1) | (x > c)
    if np.any(bad):
        raise ValueError(
            f"values (shape {x.shape}) hold entries that are not categories 1..{c}: {np.unique(x[bad])[:10].tolist()}"
        )
    counts = np.bincount(x.astype(int) - 1, weights=w, minlength=c)
    return counts / counts.sum()
