"""The round-by-round Mesa model of a social-influence experiment with LLM agents.

Rounds are synchronous, as in Lorenz et al. (2011): every agent answers round ``t``, then the information shown
in round ``t + 1`` is computed from the answers of round ``t`` only. An agent's prompt holds the question, its own
last answer and what its information rule shows (:mod:`scenarios.influence`); numbers shown are rounded to
``shown_digits`` significant figures (default 3: the knob trades fidelity for shared prompts — agents whose prompts
coincide share one answer distribution through :class:`~simulator.decisions.DecisionService`). The agent's own
last answer is shown exactly. The truth is never part of a prompt.

Answers are exact distributions over the item's answer set (:class:`scenarios.influence.AnswerGrid`: the integers
themselves when few, else numbered options of a log-scale grid; the grid's label goes into every output). The mass
a model puts on invalid text is the parse-failure rate, reported per round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alignment.influence import InfluencePanel
from populations.persona import Population
from scenarios.influence import InfluenceItem, InfluenceSpec, format_number
from scenarios.question import Question
from simulator.agents import LLMAgent
from simulator.base import SimulationModel
from simulator.decisions import DecisionService
from simulator.errors import SimulationError
from simulator.influence_graph import SocietyGraph

__all__ = ["InfluenceModel", "InfluenceRun", "information_text"]


def information_text(spec: InfluenceSpec, rule: str, show: str, values: np.ndarray, digits: int | None) -> str:
    """The information line of one agent: what its rule shows of its view's last answers ``values``, ``(k,)``."""
    if rule == "none" or values.size == 0:
        return ""
    if show == "mean":
        key = "neighbours_mean" if rule == "neighbours" else "mean"
        return spec.prompt[key].format(mean=format_number(float(np.mean(values)), digits))
    key = "neighbours_all" if rule == "neighbours" else "all"
    return spec.prompt[key].format(values=", ".join(format_number(v, digits) for v in np.sort(values)))


@dataclass(frozen=True, kw_only=True)
class InfluenceRun:
    """What one influence model produced.

    Attributes:
        estimates: every agent's estimate per round, shape ``(G, N, R)``.
        references: geometric mean of each agent's view per round (the revision weight's ``m_t``), ``(G, N, R)``.
        valid_mass: mass on valid answers of each decision, ``(G, N, R)``.
        condition: the information condition.
        item: the item id.
        truth: the item's true answer.
        answer_grid: how answers were asked (``AnswerGrid.label``).
        network: the within-group graph family.
        distinct_prompts: new distinct prompts asked in each round, length ``R``.
        source: the construction's name (``"fixed"`` …).
        asked_from: the first round asked of the model (1 when round 1 was given: held-out humans' answers).
        groups: group keys (default: ``item/condition/index``).
    """

    estimates: np.ndarray
    references: np.ndarray
    valid_mass: np.ndarray
    condition: str
    item: str
    truth: float
    answer_grid: str
    network: str
    distinct_prompts: tuple[int, ...]
    source: str = "llm"
    asked_from: int = 0
    groups: tuple[str, ...] = field(default=())

    @property
    def parse_failure_rate(self) -> float:
        """``1 - mean valid mass`` over every decision asked of the model (given rounds excluded)."""
        return float(1.0 - np.mean(self.valid_mass[:, :, self.asked_from :]))

    def panel(self) -> InfluencePanel:
        """The estimates as a metrics panel (one group per experiment group)."""
        g = self.estimates.shape[0]
        keys = self.groups or tuple(f"{self.item}/{self.condition}/{i}" for i in range(g))
        return InfluencePanel(estimates=self.estimates, conditions=(self.condition,) * g,
                              truth=np.full(g, self.truth), groups=keys, source=self.source)  # fmt: skip


class InfluenceModel(SimulationModel):
    """LLM agents estimating one item over rounds on a society graph.

    Args:
        spec: the social-influence scenario.
        item: the item (or its id).
        condition: the information condition (its rule and ``show``), a name of ``spec.conditions``.
        graph: the society (groups and who sees whom), from :func:`simulator.influence_graph.society_graph`.
        population, persona_indices, service, seed: see :class:`~simulator.base.SimulationModel`; agent ``i`` is
            node ``i`` of ``graph``.
        rounds: rounds (default ``spec.rounds``).
        shown_digits: significant figures of numbers shown to agents (None shows them exactly).
        rule: override the condition's rule (``populace run --influence``); ``show`` then defaults to ``"mean"``.
        show: override what a ``neighbours`` rule shows (``"mean"`` or ``"all"``).
        initial: round-1 estimates given instead of asked, shape ``(n,)`` (held-out humans' first answers, so
            only the dynamics are the model's); None asks round 1 too.

    After ``rounds`` steps ``running`` is False and :meth:`result` gives an :class:`InfluenceRun`.
    """

    def __init__(
        self,
        *,
        spec: InfluenceSpec,
        item: InfluenceItem | str,
        condition: str,
        graph: SocietyGraph,
        population: Population,
        persona_indices: Sequence[int] | np.ndarray,
        service: DecisionService,
        seed: int,
        rounds: int | None = None,
        shown_digits: int | None = 3,
        rule: str | None = None,
        show: str | None = None,
        initial: np.ndarray | None = None,
    ) -> None:
        super().__init__(population=population, persona_indices=persona_indices, service=service, seed=seed)
        if graph.n != self.n_agents:
            raise SimulationError(
                f"the society graph has {graph.n} nodes but there are {self.n_agents} agents; build it with "
                f"n_groups × group_size = {self.n_agents}"
            )
        if shown_digits is not None and shown_digits < 1:
            raise SimulationError(f"shown_digits must be >= 1 (or None for exact numbers), got {shown_digits}")
        self.spec = spec
        self.item = spec.item(item) if isinstance(item, str) else item
        cond = spec.condition(condition)
        self.condition = cond.name
        self.rule = rule or cond.rule
        self.show = show or (cond.show if rule is None else ("mean" if self.rule in ("mean", "neighbours") else "all"))
        self.graph = graph
        self.rounds = int(rounds if rounds is not None else spec.rounds)
        if self.rounds < 1:
            raise SimulationError(f"rounds must be >= 1, got {self.rounds}")
        self.shown_digits = shown_digits
        self.estimates = np.full((self.n_agents, self.rounds), np.nan)
        self.references = np.full((self.n_agents, self.rounds), np.nan)
        self.valid_mass = np.full((self.n_agents, self.rounds), np.nan)
        self._views = [graph.view(i, self.rule) for i in range(self.n_agents)]
        self._questions: dict[tuple[str, str], Question] = {}
        self._current: list[Question] = []
        self._round = 0
        self._distinct: list[int] = []
        self.initial = None if initial is None else np.asarray(initial, dtype=float)
        if self.initial is not None and self.initial.shape != (self.n_agents,):
            raise SimulationError(
                f"initial has shape {self.initial.shape}; give one estimate per agent ({self.n_agents},)"
            )

    @property
    def n_steps(self) -> int:
        """One step per round."""
        return self.rounds

    def _question(self, own: str | None, info: str) -> Question:
        key = (own or "", info)
        q = self._questions.get(key)
        if q is None:
            q = self._questions[key] = self.spec.question(self.item, own=own, information=info)
        return q

    def prompt_of(self, agent_index: int) -> Question:
        """The question agent ``agent_index`` is asked in the current round (from the previous round's answers)."""
        t = self._round
        if t == 0:
            return self._question(None, "")
        prev = self.estimates[:, t - 1]
        seen = prev[self._views[agent_index]]
        info = information_text(self.spec, self.rule, self.show, seen, self.shown_digits)
        return self._question(format_number(prev[agent_index], None), info)

    def tasks_for(self, agent: LLMAgent) -> list[tuple[Question, Any]]:
        """The question ``agent`` answers in the current round."""
        return [(self._current[agent.index], self._round)]

    def step(self) -> None:
        """One synchronous round: every agent answers, then the answers become the next round's information."""
        if self._round >= self.rounds:
            self.running = False
            return
        t = self._round
        before = self.service.stats().distinct_prompts
        self._current = [self.prompt_of(i) for i in range(self.n_agents)]
        if t > 0:
            logs = np.log(np.maximum(self.estimates[:, t - 1], 1.0))
            self.references[:, t - 1] = [
                np.exp(logs[v].mean()) if v.size else self.estimates[i, t - 1] for i, v in enumerate(self._views)
            ]
        if t == 0 and self.initial is not None:
            index, values, mass = np.arange(self.n_agents), self.initial, np.ones(self.n_agents)
        else:
            self.agents.shuffle_do("step")
            index, _, draws = self.resolve(desc=f"round {t + 1} {self.condition}")
            values, mass = self.item.grid.value_of(draws.values), draws.valid_mass
        self.estimates[index, t] = values
        self.valid_mass[index, t] = mass
        self.record(agent=index, role=self.condition, question=self.item.id, decision=values,
                    valid_mass=mass, payoff=np.full(index.size, np.nan), group_size=self.graph.group_size)  # fmt: skip
        self._distinct.append(self.service.stats().distinct_prompts - before)
        self.round_summary = {
            "round": float(t + 1),
            "mean_decision": float(np.mean(values)),
            "parse_failure_rate": float(1.0 - np.mean(mass)),
        }
        self.datacollector.collect(self)
        self._round += 1
        if self._round >= self.rounds:
            logs = np.log(np.maximum(self.estimates[:, -1], 1.0))
            self.references[:, -1] = [
                np.exp(logs[v].mean()) if v.size else self.estimates[i, -1] for i, v in enumerate(self._views)
            ]
            self.running = False

    def result(self, source: str = "llm") -> InfluenceRun:
        """The run as arrays per group (see :class:`InfluenceRun`).

        Raises:
            RuntimeError: before the last round.
        """
        if self._round < self.rounds:
            raise RuntimeError("run the model to the last round first")
        g, n = self.graph.n_groups, self.graph.group_size
        return InfluenceRun(
            estimates=self.estimates.reshape(g, n, self.rounds),
            references=self.references.reshape(g, n, self.rounds),
            valid_mass=self.valid_mass.reshape(g, n, self.rounds),
            condition=self.condition,
            item=self.item.id,
            truth=self.item.truth,
            answer_grid=self.item.grid.label,
            network=self.graph.network,
            distinct_prompts=tuple(self._distinct),
            source=source,
            asked_from=0 if self.initial is None else 1,
        )
