"""How many humans a population is worth (k̂, Huang, Wu & Wang 2025) on one scenario part, from its calibration tasks.

The calibration tasks of a scenario part are its score and, on a survey, each of its items
(:func:`populations.human_targets.human_targets`): for each, the population's exact answer distribution (the
mixture of its personas' distributions) and the test half's human answers. :func:`alignment.worth.worth_k`
chooses k̂ on those tasks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from populace_lm.seeds import seed_rng
from populations.human_targets import human_targets, simulated_targets

__all__ = ["MIN_TASKS", "calibration_tasks", "worth_record"]

#: Fewest calibration tasks for a k̂: with m tasks the miscoverage moves in steps of 1/m, so with one or two a
#: single human mean decides k̂ (a game has one task; its k̂ is left empty).
MIN_TASKS = 3


def calibration_tasks(
    part: Any,
    weights: np.ndarray,
    item_probs: np.ndarray,
    component_pmfs: np.ndarray,
    *,
    test_values: np.ndarray,
    test_rows: Any = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(pmf (S_t,), support (S_t,), human answers (m_t,))`` per task of one part.

    Args:
        part: a one-dimensional scenario part.
        weights: the population's weights ``(K,)``.
        item_probs: its personas' answer distributions ``(K, Q, C)``.
        component_pmfs: their score distributions ``(K, S)``.
        test_values: the test half's scores ``(m,)`` (the only task when ``test_rows`` is None: a game).
        test_rows: the test half's :class:`~scenarios.tabular.HumanRows` (items become tasks), or None.
    """
    w = np.asarray(weights, dtype=float)
    if test_rows is None:
        pmf = w @ np.asarray(component_pmfs, dtype=float)
        return [(pmf, np.asarray(part.support, dtype=float), np.asarray(test_values, dtype=float))]
    targets = human_targets(part, test_rows)
    sims = simulated_targets(part, targets, item_probs, component_pmfs)
    tasks = []
    for t, sim in zip(targets, sims, strict=True):
        humans = t.values[~np.isnan(t.values)]
        if humans.size >= 2:
            tasks.append((w @ sim, t.support, humans))
    return tasks


def worth_record(
    part: Any,
    population: Any,
    item_probs: np.ndarray,
    component_pmfs: np.ndarray,
    *,
    test_values: np.ndarray,
    test_rows: Any,
    seed: int,
    alpha: float = 0.1,
) -> dict[str, Any]:
    """``worth_k``, its range ``worth_k_lo``..``worth_k_hi`` and ``worth_tasks`` for one part and population.

    Every construction of a part uses the same seeded draws (common random numbers), so two constructions with the
    same distribution get the same k̂ and a comparison between constructions is not blurred by their draws.
    """
    from alignment.worth import worth_k

    tasks = calibration_tasks(
        part, population.weights, item_probs, component_pmfs, test_values=test_values, test_rows=test_rows
    )
    if not part.ordered or len(tasks) < MIN_TASKS:
        return {"worth_k": None, "worth_k_lo": None, "worth_k_hi": None, "worth_tasks": len(tasks)}
    w = worth_k(
        [t[0] for t in tasks],
        [t[2] for t in tasks],
        supports=[t[1] for t in tasks],
        alpha=alpha,
        rng=seed_rng(seed, "worth", part.name),  # common random numbers: constructions compared on the same draws
    )
    return {"worth_k": int(w.k_hat), "worth_k_lo": w.k_lo, "worth_k_hi": w.k_hi, "worth_tasks": int(w.n_tasks)}
