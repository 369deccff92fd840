"""The one :class:`Scenario` protocol: what builders, crafting, MoP, evaluation and the simulator may use.

A scenario is what a population is asked and scored on: a survey dimension (a trait sum, a single ordinal item,
an unordered item), a decision task or a game role. It maps each persona's answer distributions over its
questions to one scored distribution on ``support`` and has a human sample on the same support. Code that uses
scenarios speaks only this protocol — no ``hasattr`` checks and no scenario wording of its own.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import numpy as np

from scenarios.question import Question

__all__ = ["Scenario"]


@runtime_checkable
class Scenario(Protocol):
    """A scenario.

    Attributes:
        name: the name :func:`scenarios.get_scenario` resolves (``bigfive:E``, ``dictator``, ``my.toml:Q1``).
        label: readable name of the scored quantity (``"Extraversion"``, ``"amount given"``).
        ordered: False for unordered categories: compare with total variation, never W1.
        dimensions: the dimension ids; one for a one-dimensional scenario.
    """

    name: str
    label: str
    ordered: bool
    dimensions: tuple[str, ...]

    @property
    def support(self) -> np.ndarray:
        """The possible scores, ascending, shape ``(S,)``."""

    def questions(self) -> tuple[Question, ...]:
        """The questions each respondent answers, in order (Q of them)."""

    def pmfs(self, item_probs: np.ndarray) -> np.ndarray:
        """Score distributions from answer distributions: ``(K, Q, C)`` → ``(K, S)``."""

    def scores(self, answers: np.ndarray) -> np.ndarray:
        """Scores from integer answers to :meth:`questions`: ``(n, Q)`` → ``(n,)`` (NaN where incomplete)."""

    def human_values(
        self,
        split: str = "all",
        *,
        seed: int = 0,
        source: str | os.PathLike[str] | None = None,
        fit_fraction: float = 0.5,
    ) -> np.ndarray:
        """Human scores of one half (``"all"``, ``"fit"``, ``"test"``) of the rows split by ``seed``, ``(n,)``."""

    def human_weights(
        self,
        split: str = "all",
        *,
        seed: int = 0,
        source: str | os.PathLike[str] | None = None,
        fit_fraction: float = 0.5,
    ) -> np.ndarray | None:
        """Survey weights of the rows :meth:`human_values` returns, shape ``(n,)``, or None (unweighted data)."""

    def describe(self) -> str:
        """The situation, in words for a prompt writer (our own wording)."""

    def describe_target(self, x: float) -> str:
        """The desired behaviour for score ``x`` in words (may name the number)."""

    def describe_exemplar(self, x: float) -> str:
        """One line telling a persona how someone like them answered (``x`` on the support)."""
