"""Exact score distributions and human scores of a dimension: one item's value, or the sum or mean of items.

Items of one respondent are answered in separate conversations, so given the persona they are independent and the
distribution of a sum is the convolution of the keyed item distributions (exact, no sampling). Keyed values
``(Q, C)`` give the scored value of each answer option of each item after reverse keying
(:meth:`scenarios.scales.Scale.keyed_values`).
"""

from __future__ import annotations

import numpy as np

from scenarios.survey import sum_score_pmf

__all__ = ["dimension_pmfs", "dimension_scores", "dimension_support"]

_DECIMALS = 9  # sums of scored values are merged when equal to 1e-9


def _consecutive(keyed: np.ndarray) -> bool:
    """True when every item's keyed values are consecutive integers (the convolution fast path)."""
    s = np.sort(keyed, axis=1)
    return bool(np.all(s == np.rint(s)) and np.all(np.diff(s, axis=1) == 1))


def _sum_support(keyed: np.ndarray) -> np.ndarray:
    if _consecutive(keyed):
        return np.arange(keyed.min(axis=1).sum(), keyed.max(axis=1).sum() + 1, dtype=float)
    support = np.array([0.0])
    for kv in keyed:
        support = np.unique(np.round(support[:, None] + kv[None, :], _DECIMALS))
    return support


def dimension_support(keyed: np.ndarray, scoring: str) -> np.ndarray:
    """Possible scores, ascending, shape ``(S,)``.

    Args:
        keyed: keyed values of the dimension's items, shape ``(Q, C)``.
        scoring: ``"item"``, ``"sum"`` or ``"mean"``.
    """
    kv = np.asarray(keyed, dtype=float)
    if scoring == "item":
        return np.sort(kv[0])
    support = _sum_support(kv)
    return support / kv.shape[0] if scoring == "mean" else support


def dimension_pmfs(item_probs: np.ndarray, keyed: np.ndarray, scoring: str) -> np.ndarray:
    """Score distributions from item answer distributions.

    Args:
        item_probs: shape ``(K, Q, C)``: each persona's distribution over each item's answer options.
        keyed: shape ``(Q, C)``: scored value of each option after keying.
        scoring: ``"item"``, ``"sum"`` or ``"mean"`` (the mean has the sum's distribution on ``support / Q``).

    Returns:
        shape ``(K, S)`` on :func:`dimension_support`.

    Raises:
        ValueError: shapes that do not match, naming them.

    Example:
        >>> p = np.array([[[0.5, 0.5], [0.25, 0.75]]])  # one persona, two items answered 1..2
        >>> dimension_pmfs(p, np.array([[1.0, 2.0], [1.0, 2.0]]), "sum").round(3).tolist()
        [[0.125, 0.5, 0.375]]
    """
    probs = np.asarray(item_probs, dtype=float)
    kv = np.asarray(keyed, dtype=float)
    if probs.ndim != 3 or probs.shape[1:] != kv.shape:
        raise ValueError(f"item_probs has shape {probs.shape}, expected (K, {kv.shape[0]}, {kv.shape[1]})")
    order = np.argsort(kv, axis=1, kind="stable")
    if scoring == "item":
        return probs[:, 0, order[0]].copy()
    K, Q, _ = probs.shape
    if _consecutive(kv):
        return np.stack([sum_score_pmf([probs[k, q, order[q]] for q in range(Q)]) for k in range(K)])
    support = np.array([0.0])
    acc = np.ones((K, 1))
    for q in range(Q):
        sums = np.round(support[:, None] + kv[q][None, :], _DECIMALS).ravel()
        support, inverse = np.unique(sums, return_inverse=True)
        joint = (acc[:, :, None] * probs[:, q][:, None, :]).reshape(K, -1)
        acc = np.stack([np.bincount(inverse, weights=joint[k], minlength=support.size) for k in range(K)])
    return acc


def dimension_scores(answers: np.ndarray, lows: np.ndarray, keyed: np.ndarray, scoring: str) -> np.ndarray:
    """Scores of respondents from their integer answers.

    Args:
        answers: shape ``(n, Q)``: each item's integer answer (range scales: the number; categories: the option
            number); NaN = missing.
        lows: shape ``(Q,)``: each item's smallest answer (option ``low`` is index 0 of ``keyed``).
        keyed: shape ``(Q, C)``.
        scoring: ``"item"``, ``"sum"`` or ``"mean"``.

    Returns:
        shape ``(n,)``; NaN where any item of the dimension is missing (complete cases).
    """
    a = np.asarray(answers, dtype=float)
    kv = np.asarray(keyed, dtype=float)
    if a.ndim != 2 or a.shape[1] != kv.shape[0]:
        raise ValueError(f"answers has shape {a.shape}, expected (n, {kv.shape[0]})")
    idx = a - np.asarray(lows, dtype=float)[None, :]
    miss = np.isnan(idx)
    if np.any((idx[~miss] < 0) | (idx[~miss] >= kv.shape[1]) | (idx[~miss] != np.rint(idx[~miss]))):
        raise ValueError("answers hold a value outside the items' answer sets")
    safe = np.where(miss, 0, idx).astype(int)
    vals = kv[np.arange(kv.shape[0])[None, :], safe]
    vals = np.where(miss, np.nan, vals)
    total = vals.sum(axis=1)
    return total / kv.shape[0] if scoring == "mean" else total
