"""The quantities a scenario's humans can be asked about: each dimension's score and each item's answer.

Valid inference (:mod:`populations.twin_inference`) and the worth-k̂ calibration tasks
(:func:`populations.worth_tasks.worth_record`) speak of the same *targets*: for a one-dimensional scenario part,
its score and, on a survey, each of its items. A target pairs the humans' value per row with the simulated
distribution of the same quantity, so that a human value and a simulated one always live on one support.

* :func:`human_targets` — per-row human values of every target of one scenario part, from the file's rows
  (:class:`scenarios.tabular.HumanRows`; NaN where a row did not answer).
* :func:`simulated_targets` — the exact distribution of every target per persona, from the answer distributions
  ``item_probs`` (``(K, Q, C)``) that :func:`populations.evaluation.population_pmfs` returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Target", "human_targets", "simulated_targets"]


@dataclass(frozen=True, kw_only=True)
class Target:
    """One target of a scenario part.

    Attributes:
        name: the dimension id (a score) or the item id (an item).
        kind: ``"score"`` or ``"item"``.
        ordered: False for unordered categories (shares only; no mean or median).
        support: the values the target takes, ascending, shape ``(S,)``.
        values: the humans' value per row, shape ``(n,)`` (NaN: no answer or an incomplete score).
        question: the item's index in ``part.questions()`` (None for a score).
    """

    name: str
    kind: str
    ordered: bool
    support: np.ndarray
    values: np.ndarray
    question: int | None = None


def _item_values(part: Any, item_id: str) -> np.ndarray:
    """The value of each answer option of one item, shape ``(C,)`` (:meth:`answer_values`)."""
    return np.asarray(part.answer_values(item_id), dtype=float)


def human_targets(part: Any, rows: Any) -> tuple[Target, ...]:
    """The score and (on a survey with several items) every item of a one-dimensional part, per human row.

    Args:
        part: a one-dimensional scenario (``len(part.dimensions) == 1``) read from a file (it has ``rows``).
        rows: the part's :class:`~scenarios.tabular.HumanRows` (any subset, e.g. one half), n rows.

    Returns:
        The score target first, then one target per item in question order (a decision task has the score only).
        Item values are in value units: answer ``a`` of an item is worth ``answer_values(item)[a - low]``.
    """
    questions = part.questions()
    cols = [rows.columns.index(q.id) for q in questions] if len(questions) > 1 else [0]
    answers = np.asarray(rows.answers, dtype=float)[:, cols]
    support = np.asarray(part.support, dtype=float)
    score = Target(
        name=part.dimensions[0],
        kind="score",
        ordered=bool(part.ordered),
        support=support,
        values=np.asarray(part.scores(answers), dtype=float).reshape(-1),
    )
    if len(questions) < 2:
        return (score,)
    items = []
    for q, question in enumerate(questions):
        vals = _item_values(part, question.id)
        low = question.answers.low
        a = answers[:, q]
        out = np.full(a.shape, np.nan)
        ok = ~np.isnan(a)
        out[ok] = vals[a[ok].astype(int) - low]
        items.append(
            Target(
                name=question.id,
                kind="item",
                ordered=bool(part.ordered),
                support=np.unique(vals),
                values=out,
                question=q,
            )
        )
    return (score, *items)


def simulated_targets(
    part: Any, targets: tuple[Target, ...], item_probs: np.ndarray, pmfs: np.ndarray
) -> list[np.ndarray]:
    """The exact distribution of each target per persona, on the target's support.

    Args:
        part: the scenario part of ``targets``.
        targets: :func:`human_targets` of the part.
        item_probs: answer distributions ``(K, Q, C)`` over the part's questions.
        pmfs: score distributions ``(K, S)`` on ``part.support``.

    Returns:
        One array per target, shape ``(K, S_t)`` on ``targets[t].support`` (rows sum to 1).
    """
    probs = np.asarray(item_probs, dtype=float)
    out = []
    questions = part.questions()
    for t in targets:
        if t.question is None:
            out.append(np.asarray(pmfs, dtype=float))
            continue
        vals = _item_values(part, questions[t.question].id)
        at = np.searchsorted(t.support, vals)
        p = np.zeros((probs.shape[0], t.support.size))
        np.add.at(p.T, at, probs[:, t.question, : vals.size].T)
        out.append(p)
    return out
