"""A reproducibility checker in the spirit of Gymnasium's ``utils/env_checker.py``: run twice, compare.

Every random choice of a simulation flows from ``config.seed`` (population draws, networks, matching, activation
order, answer draws), so two runs with the same seed and the same answer distributions must give identical
records, outcomes and scores. :func:`check_reproducible` runs the simulation twice with fresh decision services
(no shared memo) and raises :class:`ReproducibilityError` naming the first table that differs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from populace_lm.base import LanguageModel
from populations.persona import Population
from simulator.decisions import DecisionService
from simulator.runner import RunConfig, RunResult, run_simulation
from simulator.treatment import Treatment

__all__ = ["ReproducibilityError", "check_reproducible"]


class ReproducibilityError(RuntimeError):
    """Two runs with the same seed differed."""


def check_reproducible(
    config: RunConfig,
    population: Population,
    make_model: Callable[[], LanguageModel],
    *,
    treatment: Treatment | None = None,
) -> RunResult:
    """Run ``config`` twice, each with a fresh model from ``make_model`` and a fresh service; assert identical.

    Args:
        config: the run (its seed fixes every random choice).
        population: who the agents are.
        make_model: returns the language model for one run (e.g. a fake, or a cache-wrapped backend).
        treatment: optional treatment message.

    Returns:
        The first run's result.

    Raises:
        ReproducibilityError: the records, outcomes or scores differ between the two runs.
    """
    a, b = (run_simulation(config, population, DecisionService(make_model()), treatment=treatment) for _ in range(2))
    for name in ("records", "outcomes"):
        try:
            pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
        except AssertionError as exc:
            raise ReproducibilityError(
                f"{config.scenario}: two runs with seed {config.seed} gave different {name}: {exc}"
            ) from exc
    if len(a.scores) != len(b.scores) or any(not np.array_equal(x, y) for x, y in zip(a.scores, b.scores, strict=True)):
        raise ReproducibilityError(f"{config.scenario}: two runs with seed {config.seed} gave different scores")
    return a
