"""The shared Mesa machinery: agents drawn from a population, a decision batch per step, tidy records.

Every model owns its random generators (``mesa.Model(seed=...)``): activation order comes from
``self.agents.shuffle_do`` (``self.random``), pairings, bomb positions and answer draws from ``self.rng``. Agents
submit their questions during activation; the model resolves the whole batch through a
:class:`~simulator.decisions.DecisionService`, so agents sharing a prompt and a question share one answer
distribution and each agent's answer is a seeded draw from it.

Records are tidy: one row per agent, round and decision (or payoff-only role such as a dictator's recipient) with
the columns of :data:`RECORD_COLUMNS`. Model-level outcomes per round are collected with ``mesa.DataCollector``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mesa
import numpy as np
import pandas as pd

from populations.persona import Population
from scenarios.question import Question
from simulator.agents import LLMAgent
from simulator.decisions import DecisionBatch, DecisionService, Draws
from simulator.treatment import Treatment, treated_question, treated_system_prompt

__all__ = ["OUTCOME_COLUMNS", "RECORD_COLUMNS", "SimulationModel", "gini"]

RECORD_COLUMNS = (
    "round",
    "agent",
    "persona_index",
    "persona_id",
    "role",
    "question",
    "partner",
    "group_size",
    "decision",
    "valid_mass",
    "payoff",
)
OUTCOME_COLUMNS = ("round", "mean_decision", "cooperation_rate", "gini_payoff", "mean_payoff", "parse_failure_rate")


def gini(x: np.ndarray) -> float:
    """Gini coefficient of non-negative values, shape ``(n,)``: ``Σ_i Σ_j |x_i − x_j| / (2 n² mean)``.

    Returns NaN for an empty sample or a non-positive mean.

    >>> gini(np.array([1.0, 1.0, 1.0]))
    0.0
    >>> round(gini(np.array([0.0, 0.0, 0.0, 4.0])), 4)
    0.75
    """
    v = np.sort(np.asarray(x, dtype=float))
    v = v[np.isfinite(v)]
    n = v.size
    if n == 0 or v.sum() <= 0:
        return float("nan")
    ranks = np.arange(1, n + 1)
    return float(2.0 * np.sum(ranks * v) / (n * v.sum()) - (n + 1) / n)


class SimulationModel(mesa.Model):
    """Shared machinery of :class:`~simulator.survey.SurveyModel` and :class:`~simulator.game.GameModel`.

    Args:
        population: the population agents are drawn from.
        persona_indices: each agent's persona, shape ``(n,)`` (usually ``population.sample(n, rng=...)``).
        service: the decision service (shared across models to share work).
        seed: the Mesa model seed (a child stream of the run seed).
        history_rounds: rounds each agent remembers.
        treatment: an intervention message (what-if), or None for the control condition.
    """

    def __init__(
        self,
        *,
        population: Population,
        persona_indices: Sequence[int] | np.ndarray,
        service: DecisionService,
        seed: int,
        history_rounds: int = 0,
        treatment: Treatment | None = None,
    ) -> None:
        super().__init__(seed=int(seed))
        idx = np.asarray(persona_indices, dtype=np.int64)
        if idx.ndim != 1 or idx.size < 1:
            raise ValueError(f"persona_indices must be a non-empty 1-D array, got shape {idx.shape}")
        if idx.min() < 0 or idx.max() >= len(population):
            raise ValueError(f"persona_indices must be in 0..{len(population) - 1}")
        self.population = population
        self.service = service
        self.treatment = treatment
        self.persona_indices = idx
        self.n_agents = int(idx.size)
        self.batch = DecisionBatch()
        self._columns: list[dict[str, np.ndarray]] = []
        self._persona_ids = np.asarray([p.id for p in population.personas], dtype=object)
        texts = [treated_system_prompt(treatment, p.text) for p in population.personas]
        self.agent_list = [
            LLMAgent(
                self,
                index=i,
                persona_index=int(k),
                persona_id=self._persona_ids[k],
                system_prompt=texts[k],
                history_rounds=history_rounds,
            )
            for i, k in enumerate(idx.tolist())
        ]
        self.round_summary: dict[str, float] = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={
                name: (lambda m, name=name: m.round_summary.get(name, float("nan"))) for name in OUTCOME_COLUMNS
            }
        )

    @property
    def n_steps(self) -> int:
        """Steps until the model stops running."""
        raise NotImplementedError

    def treated(self, question: Question) -> Question:
        """``question`` as this condition asks it (with the treatment message when there is one)."""
        return treated_question(self.treatment, question)

    def tasks_for(self, agent: LLMAgent) -> list[tuple[Question, Any]]:
        """The (question, tag) pairs ``agent`` answers in the current phase."""
        raise NotImplementedError

    def resolve(self, desc: str) -> tuple[np.ndarray, list[Any], Draws]:
        """Resolve the step's batch: (agent indices, tags, draws), in submission order."""
        batch, self.batch = self.batch, DecisionBatch()
        draws = self.service.draw(batch, self.rng, desc=desc)
        index = np.fromiter((a.index for a in batch.agents), dtype=np.int64, count=len(batch))
        return index, batch.tags, draws

    def record(
        self,
        *,
        agent: np.ndarray,
        role: str | np.ndarray,
        question: str | np.ndarray,
        decision: np.ndarray,
        valid_mass: np.ndarray,
        payoff: np.ndarray,
        partner: np.ndarray | int = -1,
        group_size: np.ndarray | int = 1,
    ) -> None:
        """Add record rows for the current step (scalars are broadcast over ``agent``)."""
        a = np.array(agent, dtype=np.int64)  # a copy, like every column below
        n = a.size

        def col(v: Any, dtype: Any) -> np.ndarray:
            arr = np.array(v, dtype=dtype)  # a copy: the model reuses arrays (e.g. partners) across rounds
            return np.full(n, arr, dtype=dtype) if arr.ndim == 0 else arr

        self._columns.append(
            {
                "round": np.full(n, self.steps, dtype=np.int64),
                "agent": a,
                "persona_index": self.persona_indices[a],
                "persona_id": self._persona_ids[self.persona_indices[a]],
                "role": col(role, object),
                "question": col(question, object),
                "partner": col(partner, np.int64),
                "group_size": col(group_size, np.int64),
                "decision": col(decision, float),
                "valid_mass": col(valid_mass, float),
                "payoff": col(payoff, float),
            }
        )

    def records(self) -> pd.DataFrame:
        """All records so far, one row per agent, round and role, sorted by round and agent (stable)."""
        if not self._columns:
            return pd.DataFrame({c: [] for c in RECORD_COLUMNS})
        data = {c: np.concatenate([cols[c] for cols in self._columns]) for c in RECORD_COLUMNS}
        order = np.lexsort((data["agent"], data["round"]))  # stable: roles keep their recording order
        return pd.DataFrame({c: v[order] for c, v in data.items()})

    def outcomes(self) -> pd.DataFrame:
        """Model-level outcomes per round (the DataCollector's table)."""
        frame = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        if "round" in frame:
            frame["round"] = frame["round"].astype(np.int64)
        return frame
