"""The parts of a game spec: parameters, roles and the game itself, as frozen, self-validating dataclasses.

A :class:`GameSpec` is everything Populace knows about one economic game: its parameters with bounds and defaults,
the parameter values the MobLab humans played under, its decision roles (answer bound, instruction and answer stem,
optional human data column and dataset prompt key), how players are matched, and :attr:`GameSpec.settle` — the
payoffs, records and one-line history of a round. The generic Mesa engine (:class:`simulator.game.GameModel`) runs any
spec; it talks to ``settle`` through the :class:`RoundContext` protocol, so no spec imports Mesa.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from populace_lm.types import IntegerAnswers
from scenarios.errors import ScenarioError

__all__ = ["GameSpec", "Param", "RoleSpec", "RoundContext", "RoundOutcome"]

_TRUE = ("true", "on", "1", "yes")
_BOOL_WORDS = (*_TRUE, "false", "off", "0", "no")


@dataclass(frozen=True, kw_only=True)
class Param:
    """One game parameter.

    Attributes:
        name: parameter name (``stakes``, ``multiplier`` …).
        type: ``int``, ``float`` or ``bool``.
        low, high: inclusive bounds (ignored for ``bool``).
        default: value when not given (the MobLab setting where there is one).
    """

    name: str
    type: type
    low: float
    high: float
    default: Any

    def __post_init__(self) -> None:
        if self.type not in (int, float, bool):
            raise ScenarioError(f"parameter {self.name!r}: type must be int, float or bool, got {self.type}")
        if self.type is not bool and not self.low <= self.default <= self.high:
            raise ScenarioError(f"parameter {self.name!r}: default {self.default} outside [{self.low}, {self.high}]")

    def coerce(self, game: str, value: Any) -> Any:
        """The validated value (strings from the command line are converted).

        Raises:
            ScenarioError: wrong type, non-whole number for an ``int``, or out of range — naming ``game.name``.
        """
        if self.type is bool:
            if isinstance(value, str):
                if value.lower() not in _BOOL_WORDS:
                    raise ScenarioError(f"{game}.{self.name} must be true/false, got {value!r}")
                return value.lower() in _TRUE
            return bool(value)
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"{game}.{self.name} must be a number, got {value!r}") from exc
        if self.type is int and not number.is_integer():
            raise ScenarioError(f"{game}.{self.name} must be a whole number, got {value!r}")
        v = self.type(number)
        if not self.low <= v <= self.high:
            raise ScenarioError(f"{game}.{self.name}={v} is out of range [{self.low}, {self.high}]")
        return v


@dataclass(frozen=True, kw_only=True)
class RoleSpec:
    """One decision of a game.

    Attributes:
        name: role name, unique over all games (``ultimatum_responder``).
        high: parameters → largest valid answer (answers are ``0..high``).
        instruction: parameters → (our instruction text, answer stem prefilled in the assistant turn).
        human_column: column of MobLab ``joint.csv`` with the humans' first-round decision, or None (a game of
            your own: it runs and what-ifs, but has no human values to fit or score against).
        human_max: largest valid value of that column under the MobLab parameters (needed with a column).
        verbatim_key: key of the dataset's chatbot prompt in ``game_prompts.json``, or None (only our wording).
        label: what the number is, in words (``"amount given"``; default: the role name).
    """

    name: str
    high: Callable[[Mapping[str, Any]], int]
    instruction: Callable[[Mapping[str, Any]], tuple[str, str]]
    human_column: str | None = None
    human_max: int | None = None
    verbatim_key: str | None = None
    label: str = ""

    def __post_init__(self) -> None:
        # "" reads as "none", as in specs written before these fields became optional.
        for attr in ("human_column", "verbatim_key"):
            if getattr(self, attr) == "":
                object.__setattr__(self, attr, None)
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " "))
        if self.human_column is not None and (self.human_max is None or self.human_max < 0):
            raise ScenarioError(
                f"role {self.name!r}: human_column {self.human_column!r} needs human_max, the largest valid value"
            )

    @property
    def has_human_data(self) -> bool:
        """True when the role names a MobLab ``joint.csv`` column."""
        return self.human_column is not None

    def answers(self, params: Mapping[str, Any]) -> IntegerAnswers:
        """Valid answers ``0..high(params)``."""
        return IntegerAnswers(low=0, high=int(self.high(params)))


class RoundContext(Protocol):
    """What :attr:`GameSpec.settle` sees of a round (implemented by the engine, :mod:`simulator.game`).

    Attributes:
        n: number of agents.
        params: the game's parameters.
        partner: each agent's partner this round, shape ``(n,)`` (pair games; ``-1`` otherwise).
        groups: groups of agent indices this round (group games; a network group is centred on its first member).
        neighbors: each agent's neighbours on the network, or None under random matching.
        group_size: each agent's group size, shape ``(n,)``.
        rng: the model's generator (draws after the round's answers, e.g. the bomb's box).
        remembers: True when agents keep histories (repeated games): only then are history lines needed.
    """

    n: int
    params: Mapping[str, Any]
    partner: np.ndarray
    groups: list[np.ndarray]
    neighbors: list[np.ndarray] | None
    group_size: np.ndarray
    rng: np.random.Generator
    remembers: bool

    def decision(self, role: str) -> tuple[np.ndarray, np.ndarray]:
        """(decisions, valid masses) of a first-stage role, each ``(n,)`` (NaN for agents without one)."""
        ...

    def ask(
        self, role: str, requests: Mapping[int, list[tuple[dict[str, Any], Any]]], *, desc: str
    ) -> tuple[np.ndarray, list[Any], np.ndarray, np.ndarray]:
        """A follow-up stage: agent → [(parameter overrides, tag)] → (agents, tags, answers, valid masses)."""
        ...

    def record(self, **columns: Any) -> None:
        """Add record rows (``agent, role, question, decision, valid_mass, payoff[, partner, group_size]``)."""
        ...

    def about(self, x: float) -> int:
        """An amount rounded for a history line ("about $50")."""
        ...


@dataclass(frozen=True, kw_only=True)
class RoundOutcome:
    """The result of settling a round.

    Attributes:
        payoff: each agent's total payoff this round, shape ``(n,)``.
        history: one line per agent for its memory (None when ``remembers`` is False).
    """

    payoff: np.ndarray
    history: list[str] | None = None


@dataclass(frozen=True, kw_only=True)
class GameSpec:
    """One economic game.

    Attributes:
        name: game name (``public_goods``).
        params: its parameters.
        human_params: parameter values under which the MobLab humans played.
        roles: its decisions; every agent answers those in :attr:`first_stage` each round.
        first_stage: roles asked of every agent at the start of a round (the first is the "first mover" whose
            mean decision and cooperation rate are reported).
        matching: ``pair`` (ring or network neighbour), ``group`` (random groups of the ``group_size``
            parameter, or closed network neighbourhoods) or ``individual``.
        scale: parameter giving the stakes: history amounts are rounded to half of it, and cooperation means
            giving at least half of it.
        cooperation: whether a cooperation rate is meaningful.
        settle: pays off a round from the context's decisions (:class:`RoundContext` → :class:`RoundOutcome`).
        check: parameters → raises ``ScenarioError`` for inconsistent combinations (e.g. invested > stakes).
        unsupported: parameters → a reason the engine cannot simulate them, or None.
    """

    name: str
    params: tuple[Param, ...]
    human_params: Mapping[str, Any]
    roles: tuple[RoleSpec, ...]
    first_stage: tuple[str, ...]
    matching: Literal["pair", "group", "individual"]
    scale: str
    settle: Callable[[RoundContext], RoundOutcome]
    cooperation: bool = True
    check: Callable[[Mapping[str, Any]], None] = field(default=lambda p: None)
    unsupported: Callable[[Mapping[str, Any]], str | None] = field(default=lambda p: None)

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ScenarioError(f"game {self.name!r}: duplicate parameter names {names}")
        if self.scale not in names:
            raise ScenarioError(f"game {self.name!r}: scale {self.scale!r} is not a parameter ({names})")
        if self.matching == "group" and "group_size" not in names:
            raise ScenarioError(f"game {self.name!r}: group matching needs a 'group_size' parameter")
        roles = {r.name for r in self.roles}
        if not self.first_stage or not set(self.first_stage) <= roles:
            raise ScenarioError(
                f"game {self.name!r}: first_stage {self.first_stage} must name roles of {sorted(roles)}"
            )
        unknown = set(self.human_params) - set(names)
        if unknown:
            raise ScenarioError(f"game {self.name!r}: human_params names unknown parameters {sorted(unknown)}")

    @property
    def first_mover(self) -> str:
        """The role whose decision summarises a round."""
        return self.first_stage[0]

    def param(self, name: str) -> Param:
        """A parameter by name.

        Raises:
            ScenarioError: unknown name, listing the parameters.
        """
        for p in self.params:
            if p.name == name:
                return p
        raise ScenarioError(
            f"unknown parameter {name!r} for game {self.name!r}; parameters: {sorted(p.name for p in self.params)}"
        )

    def role(self, name: str) -> RoleSpec:
        """A role by name."""
        for r in self.roles:
            if r.name == name:
                return r
        raise ScenarioError(f"role {name!r} does not belong to game {self.name!r}")

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults filled in, values coerced and range-checked, cross-parameter checks applied."""
        full = {p.name: p.default for p in self.params}
        full.update({k: self.param(k).coerce(self.name, v) for k, v in params.items()})
        self.check(full)
        return full
