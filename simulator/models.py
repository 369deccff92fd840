"""Mesa models: a survey administered to a population, and economic games played once or repeatedly.

Every model owns its random generators (``mesa.Model(seed=...)``): activation order comes from
``self.agents.shuffle_do`` (``self.random``), pairings, bomb positions and answer draws from ``self.rng``. Agents
submit their questions during activation; the model resolves the whole batch through a
:class:`~simulator.decisions.DecisionService`, so agents sharing a prompt and a question share one answer
distribution and each agent's answer is a seeded draw from it.

Records are tidy: one row per agent, round and decision (or payoff-only role such as a dictator's recipient) with
columns ``round, agent, persona_index, persona_id, role, question, partner, group_size, decision, valid_mass,
payoff`` (see :data:`RECORD_COLUMNS`). Model-level outcomes per round are collected with ``mesa.DataCollector``.

Repeated games (``rounds > 1``) remember each agent's own last ``history_rounds`` rounds, with amounts rounded to
``history_step`` ("about $10"), so the number of distinct prompts — and LLM calls — stays bounded however many
agents and rounds there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mesa
import networkx as nx
import numpy as np
import pandas as pd

from populations.persona import Population
from scenarios.errors import ScenarioError
from scenarios.games import (
    Game,
    GameRole,
    bomb_payoffs,
    dictator_payoffs,
    game_role,
    public_goods_payoffs,
    trust_payoffs,
    ultimatum_payoffs,
)
from scenarios.question import Question
from scenarios.registry import GameScenario, TraitScenario
from simulator.agents import LLMAgent
from simulator.decisions import DecisionBatch, DecisionService, Draws
from simulator.networks import check_group_graph

__all__ = ["FIRST_MOVER", "RECORD_COLUMNS", "GameModel", "SimulationModel", "SurveyModel", "gini"]

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
FIRST_MOVER = {
    "dictator": "dictator",
    "ultimatum": "ultimatum_proposer",
    "trust": "trust_investor",
    "public_goods": "public_goods",
    "bomb_risk": "bomb_risk",
}
_SCALE = {
    "dictator": "stakes",
    "ultimatum": "stakes",
    "trust": "stakes",
    "public_goods": "endowment",
    "bomb_risk": "n_boxes",
}


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
    """Shared machinery: agents from a population, a decision batch, tidy records.

    Args:
        population: the population agents are drawn from.
        persona_indices: each agent's persona, shape ``(n,)`` (usually ``population.sample(n, rng=...)``).
        service: the decision service (shared across models to share work).
        seed: the Mesa model seed (a child stream of the run seed).
        history_rounds: rounds each agent remembers.
    """

    def __init__(
        self,
        *,
        population: Population,
        persona_indices: Sequence[int] | np.ndarray,
        service: DecisionService,
        seed: int,
        history_rounds: int = 0,
    ) -> None:
        super().__init__(seed=int(seed))
        idx = np.asarray(persona_indices, dtype=np.int64)
        if idx.ndim != 1 or idx.size < 1:
            raise ValueError(f"persona_indices must be a non-empty 1-D array, got shape {idx.shape}")
        if idx.min() < 0 or idx.max() >= len(population):
            raise ValueError(f"persona_indices must be in 0..{len(population) - 1}")
        self.population = population
        self.service = service
        self.persona_indices = idx
        self.n_agents = int(idx.size)
        self.batch = DecisionBatch()
        self._columns: list[dict[str, np.ndarray]] = []
        self._persona_ids = np.asarray([p.id for p in population.personas], dtype=object)
        texts = [p.text for p in population.personas]
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
                name: (lambda m, name=name: m.round_summary.get(name, float("nan")))
                for name in (
                    "round",
                    "mean_decision",
                    "cooperation_rate",
                    "gini_payoff",
                    "mean_payoff",
                    "parse_failure_rate",
                )
            }
        )

    def tasks_for(self, agent: LLMAgent) -> list[tuple[Question, Any]]:
        """The (question, tag) pairs ``agent`` answers in the current phase."""
        raise NotImplementedError

    def _resolve(self, desc: str) -> tuple[np.ndarray, list[Any], Draws]:
        batch, self.batch = self.batch, DecisionBatch()
        draws = self.service.draw(batch, self.rng, desc=desc)
        index = np.fromiter((a.index for a in batch.agents), dtype=np.int64, count=len(batch))
        return index, batch.tags, draws

    def _record(
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
        a = np.asarray(agent, dtype=np.int64)
        n = a.size

        def col(v: Any, dtype: Any) -> np.ndarray:
            arr = np.asarray(v, dtype=dtype)
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


class SurveyModel(SimulationModel):
    """Administer a scenario's questions to a population, one question per step.

    Args:
        scenario: a :class:`~scenarios.registry.TraitScenario` (its items; scores are keyed sums) or a
            :class:`~scenarios.registry.GameScenario` (one decision, asked as the humans were asked).
        population, persona_indices, service, seed: see :class:`SimulationModel`.

    After ``len(scenario.questions())`` steps ``running`` is False and :meth:`scores` gives one value per agent.
    """

    def __init__(
        self,
        *,
        scenario: TraitScenario | GameScenario,
        population: Population,
        persona_indices: Sequence[int] | np.ndarray,
        service: DecisionService,
        seed: int,
    ) -> None:
        super().__init__(population=population, persona_indices=persona_indices, service=service, seed=seed)
        self.scenario = scenario
        self.questions = scenario.questions()
        self.answers = np.full((self.n_agents, len(self.questions)), np.nan)
        self._current = 0

    def tasks_for(self, agent: LLMAgent) -> list[tuple[Question, Any]]:
        """The current item."""
        q = self.questions[self._current]
        return [(q, q.id)]

    def step(self) -> None:
        """Ask every agent the next question."""
        if self._current >= len(self.questions):
            self.running = False
            return
        q = self.questions[self._current]
        self.agents.shuffle_do("step")
        index, _, draws = self._resolve(desc=f"survey {q.id}")
        self.answers[index, self._current] = draws.values
        self._record(
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
        """One value per agent, shape ``(n,)``: the keyed trait sum, or the game decision.

        Raises:
            RuntimeError: before every question has been asked.
        """
        if np.isnan(self.answers).any():
            raise RuntimeError("not every question has been asked yet: run the model to completion first")
        if isinstance(self.scenario, TraitScenario):
            items = self.scenario.survey.items_for(self.scenario.dimension)
            survey = self.scenario.survey
            return np.sum([survey.keyed(it, self.answers[:, j]) for j, it in enumerate(items)], axis=0)
        return self.answers[:, 0].copy()


class GameModel(SimulationModel):
    """An economic game, one-shot or repeated, between agents optionally placed on a network.

    Matching per round:

    * pair games (dictator, ultimatum, trust) — without a network, agents are put in a random ring each round
      and every agent moves first towards the next one, so everyone plays both roles once; on a network, every
      agent moves first towards one neighbour drawn at random and answers every first mover that chose it
      (the ultimatum responder states one minimum acceptable offer per round, a trust banker decides per amount
      received);
    * public goods — without a network, random groups of ``group_size`` (``n`` must be a multiple); on a
      network, each agent's closed neighbourhood is a group, an agent's contribution is split equally among the
      ``degree + 1`` groups it belongs to, and its prompt states its own group size;
    * bomb risk — individual decisions, the bomb's box drawn per agent.

    Args:
        game: the game and its validated parameters (:class:`~scenarios.games.Game`).
        rounds: number of rounds (1 = one-shot).
        network: an undirected graph on nodes ``0..n-1``, or None for random matching.
        history_rounds: past rounds each agent sees in its prompt (repeated games only).
        history_step: amounts in histories are rounded to multiples of this (default: half the stakes, so each
            amount is one of three levels: nothing, about half, everything).
        population, persona_indices, service, seed: see :class:`SimulationModel`.

    Raises:
        ScenarioError: public goods with punishment (no punishment-stage question exists yet).
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
    ) -> None:
        n = len(persona_indices)
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        if n < 2:
            raise ValueError(f"a game needs at least 2 agents, got {n}")
        if game.name == "public_goods" and game.params["punishment"]:
            raise ScenarioError(
                "public_goods with punishment=true is not simulated: there is no punishment-stage question yet; "
                "use punishment=false"
            )
        if network is not None:
            if sorted(network.nodes) != list(range(n)):
                raise ValueError(
                    f"the network must have nodes 0..{n - 1} for {n} agents, got {network.number_of_nodes()} nodes"
                )
            if game.name != "bomb_risk":
                check_group_graph(network, max_group=100 if game.name == "public_goods" else None)
        elif game.name == "public_goods" and n % game.params["group_size"]:
            raise ValueError(
                f"{n} agents cannot be split into public-goods groups of {game.params['group_size']}; "
                "use a multiple of group_size or a network"
            )
        super().__init__(
            population=population,
            persona_indices=persona_indices,
            service=service,
            seed=seed,
            history_rounds=history_rounds if rounds > 1 else 0,
        )
        self.game = game
        self.rounds = rounds
        self.network = network
        scale = int(game.params[_SCALE[game.name]])
        self.scale = scale
        self.history_step = int(history_step) if history_step else max(1, scale // 2)
        self._neighbors = (
            [np.asarray(sorted(network.neighbors(i)), dtype=np.int64) for i in range(n)]
            if network is not None
            else None
        )
        self._roles: dict[tuple, GameRole] = {}
        self._questions: dict[tuple, Question] = {}
        self._phase = "first"
        self.partner = np.full(n, -1, dtype=np.int64)
        self.group_size = np.full(n, 2, dtype=np.int64)
        self._incoming: dict[int, list[int]] = {}
        self._sent = np.zeros(n)
        self._extra_mass: list[np.ndarray] = []  # valid masses of decisions outside by_role (trust bankers)
        if game.name == "public_goods":
            if network is not None:
                self.group_size = np.asarray([len(nb) + 1 for nb in self._neighbors], dtype=np.int64)
            else:
                self.group_size = np.full(n, game.params["group_size"], dtype=np.int64)
        elif game.name == "bomb_risk":
            self.group_size = np.ones(n, dtype=np.int64)

    # -- questions ------------------------------------------------------------------------------------------

    def _question(self, role: str, agent: LLMAgent, **overrides: Any) -> Question:
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
            q = spec.question(history)
            self._questions[key] = q
        return q

    def tasks_for(self, agent: LLMAgent) -> list[tuple[Question, Any]]:
        """The agent's decisions in the current phase."""
        name = self.game.name
        if self._phase == "second":  # trust bankers, one decision per amount received
            return [
                (self._question("trust_banker", agent, invested=int(self._sent[i])), i)
                for i in self._incoming.get(agent.index, ())
            ]
        if name == "ultimatum":
            return [
                (self._question("ultimatum_proposer", agent), "ultimatum_proposer"),
                (self._question("ultimatum_responder", agent), "ultimatum_responder"),
            ]
        if name == "public_goods":
            return [
                (self._question("public_goods", agent, group_size=int(self.group_size[agent.index])), "public_goods")
            ]
        return [(self._question(FIRST_MOVER[name], agent), FIRST_MOVER[name])]

    # -- matching -------------------------------------------------------------------------------------------

    def _match(self) -> list[np.ndarray]:
        """Set partners (pair games) or return groups (public goods) for this round."""
        n = self.n_agents
        if self.game.name == "public_goods":
            if self._neighbors is not None:
                return [np.concatenate(([v], nb)) for v, nb in enumerate(self._neighbors)]
            return list(self.rng.permutation(n).reshape(-1, self.game.params["group_size"]))
        if self.game.name == "bomb_risk":
            return []
        if self._neighbors is None:
            perm = self.rng.permutation(n)
            self.partner[perm] = np.roll(perm, -1)
        else:
            u = self.rng.random(n)
            self.partner = np.asarray([nb[int(u[i] * nb.size)] for i, nb in enumerate(self._neighbors)], dtype=np.int64)
        return []

    # -- one round ------------------------------------------------------------------------------------------

    def step(self) -> None:
        """Play one round: match, collect decisions, pay off, record, update histories."""
        if self.steps > self.rounds:
            self.running = False
            return
        groups = self._match()
        self._phase = "first"
        self.agents.shuffle_do("step")
        index, tags, draws = self._resolve(desc=f"round {self.steps}")
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
        name = self.game.name
        total, lines = getattr(self, f"_play_{name}")(by_role, groups)
        first = by_role[FIRST_MOVER[name]][0]
        llm_mass = np.concatenate([vm[np.isfinite(vm)] for _, vm in by_role.values()] + self._extra_mass)
        self._extra_mass = []
        self.round_summary = {
            "round": float(self.steps),
            "mean_decision": float(np.mean(first)),
            "cooperation_rate": float(np.mean(first >= self.scale / 2)) if name != "bomb_risk" else float("nan"),
            "gini_payoff": gini(total),
            "mean_payoff": float(np.mean(total)),
            "parse_failure_rate": float(1.0 - np.mean(llm_mass)) if llm_mass.size else float("nan"),
        }
        self.datacollector.collect(self)
        for agent in self.agent_list:
            agent.payoff = float(total[agent.index])
        if self.rounds > 1 and lines is not None:
            for agent in self.agent_list:
                agent.remember(lines[agent.index])
        if self.steps >= self.rounds:
            self.running = False

    def _about(self, x: float) -> int:
        return int(self.history_step * round(float(x) / self.history_step))

    def _play_dictator(self, by_role, groups):
        give, vm = by_role["dictator"]
        stakes = self.game.params["stakes"]
        pay_d, _ = dictator_payoffs(give, stakes)
        received = np.bincount(self.partner, weights=give, minlength=self.n_agents)
        idx = np.arange(self.n_agents)
        self._record(
            agent=idx,
            role="dictator",
            question="dictator",
            decision=give,
            valid_mass=vm,
            payoff=pay_d,
            partner=self.partner,
        )
        self._record(
            agent=idx,
            role="recipient",
            question="",
            decision=np.full(self.n_agents, np.nan),
            valid_mass=np.full(self.n_agents, np.nan),
            payoff=received,
        )
        lines = None
        if self.rounds > 1:
            lines = [
                f"you gave about ${self._about(g)} of ${stakes} and received about ${self._about(r)}"
                for g, r in zip(give, received, strict=True)
            ]
        return pay_d + received, lines

    def _play_ultimatum(self, by_role, groups):
        offer, vm_o = by_role["ultimatum_proposer"]
        min_acc, vm_m = by_role["ultimatum_responder"]
        stakes = self.game.params["stakes"]
        pay_p, pay_r = ultimatum_payoffs(offer, min_acc[self.partner], stakes)
        got = np.bincount(self.partner, weights=pay_r, minlength=self.n_agents)
        idx = np.arange(self.n_agents)
        self._record(
            agent=idx,
            role="ultimatum_proposer",
            question="ultimatum_proposer",
            decision=offer,
            valid_mass=vm_o,
            payoff=pay_p,
            partner=self.partner,
        )
        self._record(
            agent=idx,
            role="ultimatum_responder",
            question="ultimatum_responder",
            decision=min_acc,
            valid_mass=vm_m,
            payoff=got,
        )
        lines = None
        if self.rounds > 1:
            accepted = offer >= min_acc[self.partner]
            lines = [
                f"you offered about ${self._about(o)} and it was {'accepted' if a else 'rejected'}; "
                f"you asked for at least about ${self._about(m)}"
                for o, a, m in zip(offer, accepted, min_acc, strict=True)
            ]
        return pay_p + got, lines

    def _play_trust(self, by_role, groups):
        sent, vm_s = by_role["trust_investor"]
        p = self.game.params
        self._sent = sent
        self._incoming = {}
        for i in np.flatnonzero(sent > 0):
            self._incoming.setdefault(int(self.partner[i]), []).append(int(i))
        self._phase = "second"
        self.agents.shuffle_do("step")
        index, tags, draws = self._resolve(desc=f"round {self.steps} bankers")
        self._phase = "first"
        returned = np.zeros(self.n_agents)
        vm_r = np.full(self.n_agents, np.nan)  # no question is asked when nothing was sent
        investor = np.asarray(tags, dtype=np.int64)
        # an answer set rounds multiplier × sent; never return more than was actually received
        returned[investor] = np.minimum(draws.values, p["multiplier"] * sent[investor])
        vm_r[investor] = draws.valid_mass
        self._extra_mass = [draws.valid_mass]
        pay_i, pay_b = trust_payoffs(sent, returned, p["stakes"], p["multiplier"])
        idx = np.arange(self.n_agents)
        self._record(
            agent=idx,
            role="trust_investor",
            question="trust_investor",
            decision=sent,
            valid_mass=vm_s,
            payoff=pay_i,
            partner=self.partner,
        )
        self._record(
            agent=self.partner,
            role="trust_banker",
            question="trust_banker",
            decision=returned,
            valid_mass=vm_r,
            payoff=pay_b,
            partner=idx,
        )
        banked = np.bincount(self.partner, weights=pay_b, minlength=self.n_agents)
        lines = None
        if self.rounds > 1:
            back = np.bincount(self.partner, weights=returned, minlength=self.n_agents)
            lines = [
                f"you sent about ${self._about(s)} and got back about ${self._about(r)}; "
                f"as a receiver you returned about ${self._about(b)} in total"
                for s, r, b in zip(sent, returned, back, strict=True)
            ]
        return pay_i + banked, lines

    def _play_public_goods(self, by_role, groups):
        c, vm = by_role["public_goods"]
        p = self.game.params
        n = self.n_agents
        payoff = np.zeros(n)
        others = np.zeros(n)
        if self._neighbors is not None:
            share = c / self.group_size
            for g in groups:  # group centred on g[0]: each member puts in its share of its contribution
                payoff[g] += public_goods_payoffs(share[g], 0, p["multiplier"])
            payoff += p["endowment"]
            others = np.asarray([c[nb].mean() for nb in self._neighbors])
        else:
            for g in groups:
                payoff[g] = public_goods_payoffs(c[g], p["endowment"], p["multiplier"])
                others[g] = (c[g].sum() - c[g]) / (g.size - 1)
        idx = np.arange(n)
        self._record(
            agent=idx,
            role="public_goods",
            question="public_goods",
            decision=c,
            valid_mass=vm,
            payoff=payoff,
            group_size=self.group_size,
        )
        lines = None
        if self.rounds > 1:
            lines = [
                f"you contributed about ${self._about(ci)}; the others in your group contributed about "
                f"${self._about(oi)} on average"
                for ci, oi in zip(c, others, strict=True)
            ]
        return payoff, lines

    def _play_bomb_risk(self, by_role, groups):
        boxes, vm = by_role["bomb_risk"]
        bomb = self.rng.integers(1, self.game.params["n_boxes"] + 1, size=self.n_agents)
        payoff = bomb_payoffs(boxes, bomb)
        self._record(
            agent=np.arange(self.n_agents),
            role="bomb_risk",
            question="bomb_risk",
            decision=boxes,
            valid_mass=vm,
            payoff=payoff,
            group_size=1,
        )
        lines = None
        if self.rounds > 1:
            lines = [
                f"you opened about {self._about(b)} boxes and {'avoided' if bomb[i] > b else 'hit'} the bomb"
                for i, b in enumerate(boxes)
            ]
        return payoff, lines
