"""Exact score distributions and human scores of a dimension: one item's value, or the sum or mean of items.

``"mean_answered"`` is the mean of the items a respondent answered, when they answered at least ``min_answered``
of them (psych's ``scoreItems(..., impute = "none")`` with a minimum count, Revelle 2024): a simulated respondent
answers every item, so its distribution is the mean's, placed on the wider support of every possible mean of
``min_answered..Q`` items (the humans' scores).

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


def _answered_support(keyed: np.ndarray, min_answered: int) -> np.ndarray:
    """Every mean of ``m`` of the items' keyed values, ``min_answered <= m <= Q``, ascending."""
    Q = keyed.shape[0]
    sums: list[np.ndarray] = [np.array([0.0])] + [np.empty(0)] * Q  # sums[m]: sums of m items seen so far
    for kv in keyed:
        for m in range(Q, 0, -1):
            if sums[m - 1].size:
                grown = np.round(sums[m - 1][:, None] + kv[None, :], _DECIMALS).ravel()
                sums[m] = np.unique(np.concatenate([sums[m], grown]))
    means = [sums[m] / m for m in range(max(1, min_answered), Q + 1)]
    return np.unique(np.round(np.concatenate(means), _DECIMALS))


def dimension_support(keyed: np.ndarray, scoring: str, min_answered: int = 1) -> np.ndarray:
    """Possible scores, ascending, shape ``(S,)``.

    Args:
        keyed: keyed values of the dimension's items, shape ``(Q, C)``.
        scoring: ``"item"``, ``"sum"``, ``"mean"`` or ``"mean_answered"``.
        min_answered: fewest answered items a ``"mean_answered"`` score needs.
    """
    kv = np.asarray(keyed, dtype=float)
    if scoring == "item":
        return np.sort(kv[0])
    if scoring == "mean_answered":
        return _answered_support(kv, min_answered)
    support = _sum_support(kv)
    return support / kv.shape[0] if scoring == "mean" else support


def dimension_pmfs(item_probs: np.ndarray, keyed: np.ndarray, scoring: str, min_answered: int = 1) -> np.ndarray:
    """Score distributions from item answer distributions.

    Args:
        item_probs: shape ``(K, Q, C)``: each persona's distribution over each item's answer options.
        keyed: shape ``(Q, C)``: scored value of each option after keying.
        scoring: ``"item"``, ``"sum"``, ``"mean"`` (the sum's distribution on ``support / Q``) or
            ``"mean_answered"`` (the mean's, placed on the support of every answered-items mean).
        min_answered: fewest answered items a ``"mean_answered"`` score needs.

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
    if scoring == "mean_answered":
        full = dimension_support(kv, scoring, min_answered)
        mean_support = np.round(_sum_support(kv) / kv.shape[0], _DECIMALS)
        out = np.zeros((probs.shape[0], full.size))
        out[:, np.searchsorted(full, mean_support)] = dimension_pmfs(probs, kv, "sum")
        return out
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


def dimension_scores(
    answers: np.ndarray, lows: np.ndarray, keyed: np.ndarray, scoring: str, min_answered: int = 1
) -> np.ndarray:
    """Scores of respondents from their integer answers.

    Args:
        answers: shape ``(n, Q)``: each item's integer answer (range scales: the number; categories: the option
            number); NaN = missing.
        lows: shape ``(Q,)``: each item's smallest answer (option ``low`` is index 0 of ``keyed``).
        keyed: shape ``(Q, C)``.
        scoring: ``"item"``, ``"sum"``, ``"mean"`` or ``"mean_answered"``.
        min_answered: fewest answered items a ``"mean_answered"`` score needs.

    Returns:
        shape ``(n,)``; NaN where any item of the dimension is missing (complete cases), or for
        ``"mean_answered"`` where fewer than ``min_answered`` items were answered (the mean of the answered ones
        otherwise, on :func:`dimension_support`).
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
    if scoring == "mean_answered":
        count = (~miss).sum(axis=1)
        total = np.round(np.nansum(vals, axis=1), _DECIMALS)
        out = np.full(a.shape[0], np.nan)
        ok = count >= max(1, min_answered)
        out[ok] = np.round(total[ok] / count[ok], _DECIMALS)
        return out
    total = vals.sum(axis=1)
    return total / kv.shape[0] if scoring == "mean" else total
