"""The generic game engine: any :class:`~scenarios.games.GameSpec`, one-shot or repeated, optionally on a network.

The engine owns everything common to games — matching, activation, the decision batch, outcome summaries and
bounded histories — and hands each round to the spec's ``settle`` through a :class:`RoundState` (the
:class:`~scenarios.games.RoundContext` protocol), which pays off, records and writes history lines.

Matching per round (the spec's ``matching``):

* ``pair`` — without a network, agents are put in a random ring each round and every agent moves first towards
  the next one, so everyone plays every first-stage role once; on a network, every agent moves first towards one
  neighbour drawn at random and answers every first mover that chose it (an ultimatum responder states one
  minimum acceptable offer per round, a trust banker decides per amount received);
* ``group`` — without a network, random groups of the ``group_size`` parameter (``n`` must be a multiple); on a
  network, each agent's closed neighbourhood is a group, an agent's contribution is split equally among the
  ``degree + 1`` groups it belongs to, and its prompt states its own group size;
* ``individual`` — no partners.

Repeated games (``rounds > 1``) remember each agent's own last ``history_rounds`` rounds, with amounts rounded to
``history_step`` ("about $10"), so the number of distinct prompts — and LLM calls — stays bounded however many
agents and rounds there are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np

from populations.persona import Population
from scenarios.errors import ScenarioError
from scenarios.games import Game, GameRole, game_role
from scenarios.question import Question
from simulator.agents import LLMAgent
from simulator.base import SimulationModel, gini
from simulator.decisions import DecisionService
from simulator.errors import SimulationError
from simulator.networks import check_group_graph
from simulator.treatment import Treatment

__all__ = ["GameModel", "RoundState"]


class RoundState:
    """One round as a spec's ``settle`` sees it (implements :class:`~scenarios.games.RoundContext`)."""

    def __init__(self, model: GameModel, by_role: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        self._model = model
        self._by_role = by_role
        self.n = model.n_agents
        self.params = model.game.params
        self.partner = model.partner
        self.groups = model.groups
        self.neighbors = model.neighbors
        self.group_size = model.group_size
        self.rng = model.rng
        self.remembers = model.rounds > 1

    def decision(self, role: str) -> tuple[np.ndarray, np.ndarray]:
        """(decisions, valid masses) of a first-stage role, each shape ``(n,)``."""
        return self._by_role[role]

    def ask(
        self, role: str, requests: Mapping[int, list[tuple[dict[str, Any], Any]]], *, desc: str
    ) -> tuple[np.ndarray, list[Any], np.ndarray, np.ndarray]:
        """A follow-up stage; see :meth:`GameModel.follow_up`."""
        return self._model.follow_up(role, requests, desc=desc)

    def record(self, **columns: Any) -> None:
        """Add record rows (see :meth:`~simulator.base.SimulationModel.record`)."""
        self._model.record(**columns)

    def about(self, x: float) -> int:
        """``x`` rounded to the model's ``history_step``."""
        step = self._model.history_step
        return int(step * round(float(x) / step))


class GameModel(SimulationModel):
    """A game, one-shot or repeated, between agents optionally placed on a network.

    Args:
        game: the game and its validated parameters (:class:`~scenarios.games.Game`); its spec says how it is
            matched, asked and paid off.
        rounds: number of rounds (1 = one-shot).
        network: an undirected graph on nodes ``0..n-1``, or None for random matching.
        history_rounds: past rounds each agent sees in its prompt (repeated games only).
        history_step: amounts in histories are rounded to multiples of this (default: half the stakes, so each
            amount is one of three levels: nothing, about half, everything).
        treatment: an intervention message added to every question or system prompt.
        population, persona_indices, service, seed: see :class:`~simulator.base.SimulationModel`.

    Raises:
        ScenarioError: parameters the spec cannot simulate (e.g. public goods with punishment).
        ValueError: a network of the wrong size, isolated agents, or a group size that does not divide ``n`` —
            all before any LLM call.
    """

    def __init__(
        self,
        *,
        game: Game,
        population: Population,
        persona_indices: Sequence[int] | np.ndarray,
        service: DecisionService,
        seed: int,
        rounds: int = 1,
        network: nx.Graph | None = None,
        history_rounds: int = 1,
        history_step: int | None = None,
        treatment: Treatment | None = None,
    ) -> None:
        spec = game.spec
        n = len(persona_indices)
        if rounds < 1:
            raise SimulationError(f"rounds must be >= 1, got {rounds}")
        if n < 2:
            raise SimulationError(f"a game needs at least 2 agents, got {n}")
        reason = spec.unsupported(game.params)
        if reason:
            raise ScenarioError(reason)
        if network is not None:
            if sorted(network.nodes) != list(range(n)):
                raise SimulationError(
                    f"the network must have nodes 0..{n - 1} for {n} agents, got {network.number_of_nodes()} nodes"
                )
            if spec.matching != "individual":
                max_group = int(spec.param("group_size").high) if spec.matching == "group" else None
                check_group_graph(network, max_group=max_group)
        elif spec.matching == "group" and n % game.params["group_size"]:
            raise SimulationError(
                f"{n} agents cannot be split into {spec.name.replace('_', '-')} groups of "
                f"{game.params['group_size']}; use a multiple of group_size or a network"
            )
        super().__init__(
            population=population,
            persona_indices=persona_indices,
            service=service,
            seed=seed,
            history_rounds=history_rounds if rounds > 1 else 0,
            treatment=treatment,
        )
        self.game = game
        self.spec = spec
        self.rounds = rounds
        self.network = network
        self.scale = int(game.params[spec.scale])
        self.history_step = int(history_step) if history_step else max(1, self.scale // 2)
        self.neighbors = (
            [np.asarray(sorted(network.neighbors(i)), dtype=np.int64) for i in range(n)]
            if network is not None
            else None
        )
        self._roles: dict[tuple, GameRole] = {}
        self._questions: dict[tuple, Question] = {}
        self._requests: Mapping[int, list[tuple[dict[str, Any], Any]]] | None = None
        self._follow_role = ""
        self._extra_mass: list[np.ndarray] = []
        self.partner = np.full(n, -1, dtype=np.int64)
        self.groups: list[np.ndarray] = []
        if spec.matching == "group":
            self.group_size = (
                np.asarray([len(nb) + 1 for nb in self.neighbors], dtype=np.int64)
                if self.neighbors is not None
                else np.full(n, game.params["group_size"], dtype=np.int64)
            )
        else:
            self.group_size = np.full(n, 2 if spec.matching == "pair" else 1, dtype=np.int64)

    @property
    def n_steps(self) -> int:
        """One step per round."""
        return self.rounds

    # -- questions ------------------------------------------------------------------------------------------

    def question(self, role: str, agent: LLMAgent, **overrides: Any) -> Question:
        """The question ``agent`` is asked for ``role`` (with its history and any parameter overrides)."""
        history = ""
        if self.rounds > 1:
            where = (
                "with the people around you" if self.network is not None else "with a new partner or group each round"
            )
            history = f"You play this game for {self.rounds} rounds, {where}."
            past = agent.history_text()
            if past:
                history = f"{history}\n{past}"
        key = (role, tuple(sorted(overrides.items())), history)
        q = self._questions.get(key)
        if q is None:
            rkey = key[:2]
            spec = self._roles.get(rkey)
            if spec is None:
                spec = game_role(role, **{**self.game.params, **overrides})
                self._roles[rkey] = spec
            q = self.treated(spec.question(history))
            self._questions[key] = q
        return q

    def tasks_for(self, agent: LLMAgent) -> list[tuple[Question, Any]]:
        """The agent's decisions in the current phase: the first stage, or its follow-up requests."""
        if self._requests is not None:
            return [
                (self.question(self._follow_role, agent, **over), tag)
                for over, tag in self._requests.get(agent.index, ())
            ]
        over = {"group_size": int(self.group_size[agent.index])} if self.spec.matching == "group" else {}
        return [(self.question(role, agent, **over), role) for role in self.spec.first_stage]

    def follow_up(
        self, role: str, requests: Mapping[int, list[tuple[dict[str, Any], Any]]], *, desc: str
    ) -> tuple[np.ndarray, list[Any], np.ndarray, np.ndarray]:
        """Ask a second-stage role: agent → [(parameter overrides, tag)], activated in a fresh shuffled order.

        Returns:
            (agent indices, tags, answers, valid masses) in submission order.
        """
        self._requests, self._follow_role = requests, role
        try:
            self.agents.shuffle_do("step")
            index, tags, draws = self.resolve(desc=f"round {self.steps} {desc}")
        finally:
            self._requests = None
        self._extra_mass.append(draws.valid_mass)
        return index, tags, draws.values, draws.valid_mass

    # -- matching -------------------------------------------------------------------------------------------

    def _match(self) -> None:
        """Set partners (pair games) or groups (group games) for this round from ``self.rng``."""
        n = self.n_agents
        if self.spec.matching == "group":
            if self.neighbors is not None:
                self.groups = [np.concatenate(([v], nb)) for v, nb in enumerate(self.neighbors)]
            else:
                self.groups = list(self.rng.permutation(n).reshape(-1, self.game.params["group_size"]))
        elif self.spec.matching == "pair":
            if self.neighbors is None:
                perm = self.rng.permutation(n)
                self.partner[perm] = np.roll(perm, -1)
            else:
                u = self.rng.random(n)
                self.partner = np.asarray(
                    [nb[int(u[i] * nb.size)] for i, nb in enumerate(self.neighbors)], dtype=np.int64
                )

    # -- one round ------------------------------------------------------------------------------------------

    def step(self) -> None:
        """Play one round: match, collect first-stage decisions, let the spec settle, summarise, remember."""
        if self.steps > self.rounds:
            self.running = False
            return
        self._match()
        self.agents.shuffle_do("step")
        index, tags, draws = self.resolve(desc=f"round {self.steps}")
        n = self.n_agents
        by_role: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        tag_arr = np.asarray(tags, dtype=object)
        for role in dict.fromkeys(tags):
            sel = tag_arr == role
            dec = np.full(n, np.nan)
            vm = np.full(n, np.nan)
            dec[index[sel]] = draws.values[sel]
            vm[index[sel]] = draws.valid_mass[sel]
            by_role[role] = (dec, vm)
        outcome = self.spec.settle(RoundState(self, by_role))
        total = outcome.payoff
        first = by_role[self.spec.first_mover][0]
        llm_mass = np.concatenate([vm[np.isfinite(vm)] for _, vm in by_role.values()] + self._extra_mass)
        self._extra_mass = []
        self.round_summary = {
            "round": float(self.steps),
            "mean_decision": float(np.mean(first)),
            "cooperation_rate": float(np.mean(first >= self.scale / 2)) if self.spec.cooperation else float("nan"),
            "gini_payoff": gini(total),
            "mean_payoff": float(np.mean(total)),
            "parse_failure_rate": float(1.0 - np.mean(llm_mass)) if llm_mass.size else float("nan"),
        }
        self.datacollector.collect(self)
        for agent in self.agent_list:
            agent.payoff = float(total[agent.index])
        if self.rounds > 1 and outcome.history is not None:
            for agent in self.agent_list:
                agent.remember(outcome.history[agent.index])
        if self.steps >= self.rounds:
            self.running = False
