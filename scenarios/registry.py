"""Named one-dimensional scenarios: what the population builders fit and the demo scores.

A one-dimensional scenario maps each persona to a distribution over a numeric support and has a human sample on
that support:

* ``bigfive:E`` (``:N``, ``:A``, ``:C``, ``:O``) — a Big Five trait sum (10–50) from the IPIP-50 items, whose
  distribution is the exact convolution of the persona's keyed item distributions (items answered in separate
  conversations, hence independent given the persona);
* a game role (``dictator``, ``ultimatum_proposer``, …) — the decision's own answer distribution.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from scenarios.big5 import load_big5
from scenarios.errors import ScenarioError
from scenarios.games import ROLES, GameRole, game_role
from scenarios.ipip50 import TRAITS, ipip50_survey
from scenarios.moblab import human_decisions
from scenarios.question import Question
from scenarios.survey import Survey, keyed_score_pmf, sum_score_pmf


@dataclass(frozen=True, kw_only=True)
class TraitScenario:
    """A Big Five trait sum.

    Attributes:
        name: ``bigfive:<trait>``.
        survey: the IPIP-50 survey.
        dimension: trait code.
    """

    name: str
    survey: Survey
    dimension: str

    @property
    def support(self) -> np.ndarray:
        """Trait sums, shape ``(S,)`` (10..50)."""
        return self.survey.score_support(self.dimension).astype(float)

    def questions(self) -> tuple[Question, ...]:
        """The trait's items as questions."""
        return tuple(self.survey.question(it) for it in self.survey.items_for(self.dimension))

    def pmfs(self, item_probs: np.ndarray) -> np.ndarray:
        """Trait-sum distributions from item distributions.

        Args:
            item_probs: shape ``(K, Q, 5)``, the personas' raw answer distributions for :meth:`questions`.

        Returns:
            shape ``(K, S)``.
        """
        items = self.survey.items_for(self.dimension)
        probs = np.asarray(item_probs, dtype=float)
        if probs.ndim != 3 or probs.shape[1] != len(items):
            raise ValueError(f"item_probs has shape {probs.shape}, expected (K, {len(items)}, S)")
        return np.stack(
            [
                sum_score_pmf([keyed_score_pmf(probs[k, q], it.reverse) for q, it in enumerate(items)])
                for k in range(probs.shape[0])
            ]
        )

    def human_values(self, source: str | os.PathLike[str] | None = None) -> np.ndarray:
        """Human trait sums from ``big5_osp`` (complete cases), shape ``(n,)``."""
        data = load_big5(source)
        scores = self.survey.score(data.items)[:, self.survey.dimensions.index(self.dimension)]
        return scores[~np.isnan(scores)]


@dataclass(frozen=True, kw_only=True)
class GameScenario:
    """One game decision.

    Attributes:
        name: the role name.
        role: the role spec.
    """

    name: str
    role: GameRole

    @property
    def support(self) -> np.ndarray:
        """Valid decisions, shape ``(S,)``."""
        return np.asarray(self.role.answers.values, dtype=float)

    def questions(self) -> tuple[Question, ...]:
        """The single decision question."""
        return (self.role.question(),)

    def pmfs(self, item_probs: np.ndarray) -> np.ndarray:
        """Decision distributions, shape ``(K, 1, S)`` → ``(K, S)``."""
        probs = np.asarray(item_probs, dtype=float)
        if probs.ndim != 3 or probs.shape[1] != 1:
            raise ValueError(f"item_probs has shape {probs.shape}, expected (K, 1, S)")
        return probs[:, 0, :]

    def human_values(self, source: str | os.PathLike[str] | None = None) -> np.ndarray:
        """Human first-round decisions rounded to the integer support, shape ``(n,)``.

        Raises:
            ScenarioError: when the game parameters differ from those the humans played under.
        """
        if not self.role.game.matches_human_data:
            raise ScenarioError(f"{self.name}: no human data for parameters {self.role.game.params}")
        return np.rint(human_decisions(self.role.role, source))


OneDimScenario = TraitScenario | GameScenario


def scenario_names() -> list[str]:
    """All known one-dimensional scenario names."""
    return [f"bigfive:{t}" for t in TRAITS] + sorted(ROLES)


def get_scenario(name: str, *, source: str | os.PathLike[str] | None = None, wording: str = "own") -> OneDimScenario:
    """Resolve a scenario name (``bigfive:E``, ``dictator``, …).

    Raises:
        ScenarioError: for an unknown name, listing the known ones.
    """
    if name.startswith("bigfive:"):
        trait = name.split(":", 1)[1].upper()
        if trait not in TRAITS:
            raise ScenarioError(f"unknown Big Five trait {trait!r} in {name!r}; use one of {list(TRAITS)}")
        return TraitScenario(name=f"bigfive:{trait}", survey=ipip50_survey(source), dimension=trait)
    if name in ROLES:
        return GameScenario(name=name, role=game_role(name, wording=wording, source=source))  # type: ignore[arg-type]
    raise ScenarioError(f"unknown scenario {name!r}; scenarios: {scenario_names()}")
