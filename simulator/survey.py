"""A scenario's questions administered to a population, one question per step.

Works for any scenario of the :mod:`scenarios` protocol (``questions()``, ``support``, ``pmfs(item_probs)``): the
IPIP-50 traits, a game decision asked as the humans were asked, or a user's TOML survey or decision task. An
agent's score is the scenario's own ``scores(answers)`` (``(n,)``, or ``(n, D)`` for a multi-dimensional
instrument). Scenario classes that predate that protocol method are scored through their ``pmfs``: answers as
point masses give a point mass on the score support (:func:`score_answers`), so reverse keying, sums, means and
categories are scored exactly as the builders score them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from populations.persona import Population
from scenarios.question import Question
from simulator.agents import LLMAgent
from simulator.base import SimulationModel
from simulator.decisions import DecisionService
from simulator.treatment import Treatment

__all__ = ["SurveyModel", "score_answers", "scenario_scores"]


def score_answers(scenario: Any, questions: Sequence[Question], answers: np.ndarray) -> np.ndarray:
    """Each respondent's score from its answers, shape ``(n, Q)`` → ``(n,)``.

    Distinct answer patterns become one-hot item distributions ``(U, Q, S)``; ``scenario.pmfs`` maps them to
    score distributions ``(U, support)``, each a point mass whose location is the score.

    Raises:
        ValueError: an answer outside its question's answer set, questions with different answer sets, or a
            scenario whose ``pmfs`` does not map point masses to a point mass.
    """
    a = np.asarray(answers)
    values = [np.asarray(q.answers.values) for q in questions]
    if any(v.shape != values[0].shape or (v != values[0]).any() for v in values):
        raise ValueError("score_answers needs questions sharing one answer set")
    support = values[0]
    patterns, inverse = np.unique(a, axis=0, return_inverse=True)
    pos = np.searchsorted(support, patterns)
    if (pos >= support.size).any() or (support[np.minimum(pos, support.size - 1)] != patterns).any():
        raise ValueError(f"answers outside the answer set {support[0]}..{support[-1]}")
    onehot = np.zeros((*patterns.shape, support.size))
    np.put_along_axis(onehot, pos[..., None], 1.0, axis=-1)
    pmfs = np.asarray(scenario.pmfs(onehot), dtype=float)
    if not np.allclose(pmfs.max(axis=1), 1.0, atol=1e-9):
        raise ValueError("the scenario's pmfs did not map answers to a single score")
    scores = np.asarray(scenario.support, dtype=float)[np.argmax(pmfs, axis=1)]
    return scores[np.asarray(inverse).reshape(-1)]


def scenario_scores(scenario: Any, questions: Sequence[Question], answers: np.ndarray) -> np.ndarray:
    """Scores of complete answers ``(n, Q)`` through the protocol's ``scenario.scores`` → ``(n,)`` or ``(n, D)``."""
    return np.asarray(scenario.scores(answers), dtype=float)


class SurveyModel(SimulationModel):
    """Administer a scenario's questions to a population, one question per step.

    Args:
        scenario: any scenario of the :mod:`scenarios` protocol (a trait survey, a game decision, a TOML file).
        population, persona_indices, service, seed: see :class:`~simulator.base.SimulationModel`.
        treatment: an intervention message added to every question or system prompt (survey what-if).

    After ``len(scenario.questions())`` steps ``running`` is False and :meth:`scores` gives one value per agent.
    """

    def __init__(
        self,
        *,
        scenario: Any,
        population: Population,
        persona_indices: Sequence[int] | np.ndarray,
        service: DecisionService,
        seed: int,
        treatment: Treatment | None = None,
    ) -> None:
        super().__init__(
            population=population, persona_indices=persona_indices, service=service, seed=seed, treatment=treatment
        )
        self.scenario = scenario
        self.questions = tuple(scenario.questions())
        self._asked = tuple(self.treated(q) for q in self.questions)
        self.answers = np.full((self.n_agents, len(self.questions)), np.nan)
        self._current = 0

    @property
    def n_steps(self) -> int:
        """One step per question."""
        return len(self.questions)

    def tasks_for(self, agent: LLMAgent) -> list[tuple[Question, Any]]:
        """The current item (as this condition words it)."""
        q = self._asked[self._current]
        return [(q, q.id)]

    def step(self) -> None:
        """Ask every agent the next question."""
        if self._current >= len(self.questions):
            self.running = False
            return
        q = self.questions[self._current]
        self.agents.shuffle_do("step")
        index, _, draws = self.resolve(desc=f"survey {q.id}")
        self.answers[index, self._current] = draws.values
        self.record(
            agent=index,
            role="respondent",
            question=q.id,
            decision=draws.values.astype(float),
            valid_mass=draws.valid_mass,
            payoff=np.full(index.size, np.nan),
        )
        self.round_summary = {
            "round": float(self.steps),
            "mean_decision": float(np.mean(draws.values)),
            "parse_failure_rate": float(1.0 - np.mean(draws.valid_mass)),
        }
        self.datacollector.collect(self)
        self._current += 1
        if self._current >= len(self.questions):
            self.running = False

    def scores(self) -> np.ndarray:
        """The scenario's score of each agent's answers, shape ``(n,)`` (``(n, D)`` for D dimensions).

        Raises:
            RuntimeError: before every question has been asked.
        """
        if np.isnan(self.answers).any():
            raise RuntimeError("not every question has been asked yet: run the model to completion first")
        return scenario_scores(self.scenario, self.questions, self.answers.astype(np.int64))
