"""Economic games as frozen, validated specs: roles, instructions, answer parsing and payoffs.

Seven decision roles have human first-round data in MobLab ``joint.csv`` (Mei et al. 2024, PNAS):

=====================  ==========================  ==============  ==============
role                   decision                    answers         human column
=====================  ==========================  ==============  ==============
dictator               amount given of the stakes  0..stakes       ``dictator``
ultimatum_proposer     offer to the responder      0..stakes       ``ultimatum_1``
ultimatum_responder    minimum acceptable offer    0..stakes       ``ultimatum_2``
trust_investor         amount sent (multiplied)    0..stakes       ``trust_1``
trust_banker           amount returned             0..mult×sent    ``trust_3``
public_goods           contribution to the pot     0..endowment    ``PG``
bomb_risk              boxes opened                0..n_boxes      ``bomb``
=====================  ==========================  ==============  ==============

Default instructions are our own wording and end with a prefilled answer stem (e.g. ``"I give $"``) so the
answer distribution can be read exactly. ``wording="verbatim"`` uses the chatbot instructions that the dataset
ships in ``game_prompts.json`` (opener and task joined into one user message) instead.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from populace_lm.parsing import parse_integer_reply
from populace_lm.types import IntegerAnswers
from scenarios.errors import DataError, ScenarioError
from scenarios.question import Question
from scenarios.sources import find_dataset_file

# game → parameter → (type, minimum, maximum, default)
PARAMETERS: dict[str, dict[str, tuple[type, float, float, Any]]] = {
    "dictator": {"stakes": (int, 1, 10_000, 100)},
    "ultimatum": {"stakes": (int, 1, 10_000, 100)},
    "trust": {"stakes": (int, 1, 10_000, 100), "multiplier": (float, 1.0, 10.0, 3.0), "invested": (int, 0, 10_000, 50)},
    "public_goods": {
        "endowment": (int, 1, 10_000, 20),
        "multiplier": (float, 0.0, 100.0, 2.0),
        "group_size": (int, 2, 100, 4),
        "punishment": (bool, 0, 1, False),
        "punishment_cost": (float, 0.0, 100.0, 1.0),
        "punishment_impact": (float, 0.0, 100.0, 3.0),
    },
    "bomb_risk": {"n_boxes": (int, 1, 10_000, 100)},
}
ROLES: dict[str, tuple[str, str]] = {  # role → (game, human column in joint.csv)
    "dictator": ("dictator", "dictator"),
    "ultimatum_proposer": ("ultimatum", "ultimatum_1"),
    "ultimatum_responder": ("ultimatum", "ultimatum_2"),
    "trust_investor": ("trust", "trust_1"),
    "trust_banker": ("trust", "trust_3"),
    "public_goods": ("public_goods", "PG"),
    "bomb_risk": ("bomb_risk", "bomb"),
}
# joint.csv holds humans for these parameter values only (see moblab_games/SOURCE.md).
HUMAN_PARAMS = {
    "dictator": {"stakes": 100},
    "ultimatum": {"stakes": 100},
    "trust": {"stakes": 100, "multiplier": 3.0, "invested": 50},
    "public_goods": {"endowment": 20, "multiplier": 2.0, "group_size": 4},
    "bomb_risk": {"n_boxes": 100},
}
VERBATIM_KEYS = {
    "dictator": "dictator",
    "ultimatum_proposer": "ultimatum_1",
    "ultimatum_responder": "ultimatum_2",
    "trust_investor": "trust_1",
    "trust_banker": "trust_3",
    "public_goods": "PG",
    "bomb_risk": "bomb",
}


def _coerce(game: str, name: str, value: Any) -> Any:
    schema = PARAMETERS[game]
    if name not in schema:
        raise ScenarioError(f"unknown parameter {name!r} for game {game!r}; parameters: {sorted(schema)}")
    typ, lo, hi, _ = schema[name]
    if typ is bool:
        if isinstance(value, str):
            if value.lower() not in ("true", "false", "on", "off", "1", "0", "yes", "no"):
                raise ScenarioError(f"{game}.{name} must be true/false, got {value!r}")
            return value.lower() in ("true", "on", "1", "yes")
        return bool(value)
    try:
        v = typ(value)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{game}.{name} must be a {typ.__name__}, got {value!r}") from exc
    if typ is int and float(value) != v:
        raise ScenarioError(f"{game}.{name} must be a whole number, got {value!r}")
    if not lo <= v <= hi:
        raise ScenarioError(f"{game}.{name}={v} is out of range [{lo}, {hi}]")
    return v


@dataclass(frozen=True, kw_only=True)
class Game:
    """A game with validated parameters.

    Attributes:
        name: ``dictator``, ``ultimatum``, ``trust``, ``public_goods`` or ``bomb_risk``.
        params: parameter values (defaults filled in, types coerced, ranges checked).
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in PARAMETERS:
            raise ScenarioError(f"unknown game {self.name!r}; games: {sorted(PARAMETERS)}")
        full = {k: spec[3] for k, spec in PARAMETERS[self.name].items()}
        full.update({k: _coerce(self.name, k, v) for k, v in self.params.items()})
        if self.name == "trust" and full["invested"] > full["stakes"]:
            raise ScenarioError(f"trust.invested={full['invested']} exceeds trust.stakes={full['stakes']}")
        object.__setattr__(self, "params", full)

    def with_params(self, **changes: Any) -> Game:
        """A copy with some parameters changed (validated)."""
        return Game(name=self.name, params={**self.params, **changes})

    @property
    def matches_human_data(self) -> bool:
        """True when the parameters are those under which the MobLab humans played."""
        return all(self.params[k] == v for k, v in HUMAN_PARAMS[self.name].items())

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"name": self.name, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Game:
        """Inverse of :meth:`to_dict`."""
        return cls(name=d["name"], params=dict(d.get("params", {})))


@dataclass(frozen=True, kw_only=True)
class GameRole:
    """One decision of a game, asked as a :class:`Question`.

    Attributes:
        role: one of :data:`ROLES`.
        game: the game and its parameters.
        wording: ``"own"`` (our instructions + answer stem) or ``"verbatim"`` (dataset prompts).
        verbatim_prompt: the dataset's prompt text when ``wording="verbatim"``.
    """

    role: str
    game: Game
    wording: Literal["own", "verbatim"] = "own"
    verbatim_prompt: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ScenarioError(f"unknown game role {self.role!r}; roles: {sorted(ROLES)}")
        if ROLES[self.role][0] != self.game.name:
            raise ScenarioError(f"role {self.role!r} belongs to game {ROLES[self.role][0]!r}, not {self.game.name!r}")
        if self.wording == "verbatim" and not self.verbatim_prompt:
            raise ScenarioError("wording='verbatim' needs the dataset prompt (use load_verbatim_prompts)")

    @property
    def human_column(self) -> str:
        """Column of ``joint.csv`` with the humans' first-round decision."""
        return ROLES[self.role][1]

    @property
    def answers(self) -> IntegerAnswers:
        """Valid answers of this decision."""
        p = self.game.params
        high = {
            "dictator": p.get("stakes"),
            "ultimatum_proposer": p.get("stakes"),
            "ultimatum_responder": p.get("stakes"),
            "trust_investor": p.get("stakes"),
            "trust_banker": int(round(p.get("multiplier", 0) * p.get("invested", 0))),
            "public_goods": p.get("endowment"),
            "bomb_risk": p.get("n_boxes"),
        }[self.role]
        return IntegerAnswers(low=0, high=int(high))

    def question(self, history: str = "") -> Question:
        """The question for this decision; ``history`` (e.g. past rounds) is put before the task."""
        if self.wording == "verbatim":
            text, prefix = self.verbatim_prompt, ""
        else:
            text, prefix = _own_instruction(self.role, self.game.params)
        if history:
            text = f"{history.strip()}\n\n{text}"
        return Question(id=self.role, prompt=text, answers=self.answers, answer_prefix=prefix)


def _own_instruction(role: str, p: dict[str, Any]) -> tuple[str, str]:
    """Our own instruction wording and answer stem for a role."""
    if role == "dictator":
        s = p["stakes"]
        return (
            f"You are paired with another participant. You have ${s} to split between the two of you, and the other "
            f"participant has no say: they receive whatever you decide. How many dollars, from 0 to {s}, do you give "
            "to the other participant? Answer with a whole number.",
            "I give the other participant $",
        )
    if role == "ultimatum_proposer":
        s = p["stakes"]
        return (
            f"You are paired with another participant. You propose how to split ${s}. The other participant either "
            "accepts your proposal, and you both get the proposed amounts, or rejects it, and you both get nothing. "
            f"How many dollars, from 0 to {s}, do you offer the other participant? Answer with a whole number.",
            "I offer $",
        )
    if role == "ultimatum_responder":
        s = p["stakes"]
        return (
            f"You are paired with another participant who proposes how to split ${s} between you. If you accept, you "
            "both get the proposed amounts; if you reject, you both get nothing. What is the smallest offer, from 0 "
            f"to {s} dollars, that you would accept? Answer with a whole number.",
            "The smallest offer I would accept is $",
        )
    if role == "trust_investor":
        s, m = p["stakes"], p["multiplier"]
        return (
            f"You have ${s}. You may send any part of it to another participant; whatever you send is multiplied by "
            f"{m:g} before they receive it. They then decide how much of that to send back to you. How many dollars, "
            f"from 0 to {s}, do you send? Answer with a whole number.",
            "I send $",
        )
    if role == "trust_banker":
        m, inv = p["multiplier"], p["invested"]
        pot = int(round(m * inv))
        return (
            f"Another participant had ${p['stakes']} and chose to send you ${inv}. It was multiplied by {m:g}, so you "
            f"now hold ${pot}. You may return any part of it to them and keep the rest. How many dollars, from 0 to "
            f"{pot}, do you return? Answer with a whole number.",
            "I return $",
        )
    if role == "public_goods":
        e, m, g = p["endowment"], p["multiplier"], p["group_size"]
        share = m / g
        text = (
            f"You are in a group of {g} participants. Each of you receives ${e} and decides how much to put into a "
            f"shared project. Everything put in is multiplied by {m:g} and split equally among all {g} members, so "
            f"each dollar contributed returns ${share:.2f} to every member. You keep whatever you do not contribute. "
        )
        if p["punishment"]:
            text += (
                f"After contributions are shown, each member may pay ${p['punishment_cost']:g} per point to reduce "
                f"another member's earnings by ${p['punishment_impact']:g}. "
            )
        text += f"How many dollars, from 0 to {e}, do you contribute? Answer with a whole number."
        return text, "I contribute $"
    if role == "bomb_risk":
        n = p["n_boxes"]
        return (
            f"There are {n} boxes. One of them, chosen at random, holds a bomb. You choose how many boxes to open, "
            f"from 0 to {n}. If none of the opened boxes holds the bomb, you earn one point per opened box; if the bomb "
            "is among them, you earn nothing. How many boxes do you open? Answer with a whole number.",
            "I open ",
        )
    raise ScenarioError(f"unknown game role {role!r}")


def game_role(
    role: str, *, wording: Literal["own", "verbatim"] = "own", source: str | None = None, **params: Any
) -> GameRole:
    """Build a role with its game's parameters (defaults = the MobLab setting).

    Args:
        role: one of :data:`ROLES`.
        wording: ``"own"`` or ``"verbatim"`` (the latter reads ``game_prompts.json`` from ``source``).
        source: data source for verbatim prompts (see :mod:`scenarios.sources`).
        **params: game parameters, validated.
    """
    if role not in ROLES:
        raise ScenarioError(f"unknown game role {role!r}; roles: {sorted(ROLES)}")
    game = Game(name=ROLES[role][0], params=params)
    verbatim = load_verbatim_prompts(source)[VERBATIM_KEYS[role]] if wording == "verbatim" else ""
    if wording == "verbatim" and not game.matches_human_data:
        raise ScenarioError("verbatim dataset prompts describe the MobLab parameters only; use wording='own'")
    return GameRole(role=role, game=game, wording=wording, verbatim_prompt=verbatim)


def load_verbatim_prompts(source: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Game key → the dataset's chatbot instruction (opener and first task turn, joined by a blank line)."""
    path = find_dataset_file(source, "moblab_games", "game_prompts.json")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        out = {}
        for e in entries:
            turns = [m["content"].strip() for m in e["messages_sent_in_first_logged_session"] if m["role"] == "user"]
            out[e["game"]] = "\n\n".join(turns[:2])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: unexpected structure: {exc}") from exc
    return out


# ----------------------------------------------------------------------------- parsing free text
@dataclass(frozen=True, kw_only=True)
class ParsedAnswer:
    """A free-text reply read as an answer.

    Attributes:
        value: the integer answer, or None.
        status: ``"ok"``, ``"unparsed"`` (no number) or ``"out_of_range"`` (a number outside the answer set).
        raw: the reply text, kept for inspection.
    """

    value: int | None
    status: Literal["ok", "unparsed", "out_of_range"]
    raw: str


def parse_answer(text: str, answers: IntegerAnswers) -> ParsedAnswer:
    """Read an integer answer from a reply: a bracketed number (``[$40]``, ``[40]``) first, else the first number.

    No default is ever substituted: a reply without a usable number has ``value=None``.

    >>> parse_answer("I would give [$40] to them", IntegerAnswers(low=0, high=100)).value
    40
    >>> parse_answer("Nothing to say", IntegerAnswers(low=0, high=100)).status
    'unparsed'
    """
    value, status = parse_integer_reply(text, answers)
    return ParsedAnswer(value=value, status=status, raw=text)


# ----------------------------------------------------------------------------- payoffs
def dictator_payoffs(give: np.ndarray, stakes: int) -> tuple[np.ndarray, np.ndarray]:
    """(dictator, recipient) payoffs; ``give`` shape ``(n,)``."""
    g = np.asarray(give, dtype=float)
    return stakes - g, g


def ultimatum_payoffs(offer: np.ndarray, min_accept: np.ndarray, stakes: int) -> tuple[np.ndarray, np.ndarray]:
    """(proposer, responder) payoffs; an offer is accepted when ``offer >= min_accept``; shapes ``(n,)``."""
    o = np.asarray(offer, dtype=float)
    accepted = o >= np.asarray(min_accept, dtype=float)
    return np.where(accepted, stakes - o, 0.0), np.where(accepted, o, 0.0)


def trust_payoffs(
    sent: np.ndarray, returned: np.ndarray, stakes: int, multiplier: float
) -> tuple[np.ndarray, np.ndarray]:
    """(investor, banker) payoffs; ``returned`` must not exceed ``multiplier * sent``; shapes ``(n,)``."""
    s, r = np.asarray(sent, dtype=float), np.asarray(returned, dtype=float)
    if np.any(r > multiplier * s + 1e-9):
        raise ValueError("a banker returned more than the multiplied amount received")
    return stakes - s + r, multiplier * s - r


def public_goods_payoffs(
    contributions: np.ndarray,
    endowment: int,
    multiplier: float,
    punishment_given: np.ndarray | None = None,
    punishment_cost: float = 1.0,
    punishment_impact: float = 3.0,
) -> np.ndarray:
    """Payoffs of one group, shape ``(g,)``.

    ``payoff_i = endowment − c_i + multiplier · Σc / g`` minus, with punishment, ``cost · Σ_j P_ij`` paid and
    ``impact · Σ_j P_ji`` received, where ``punishment_given`` is the ``(g, g)`` matrix of points ``P``.
    """
    c = np.asarray(contributions, dtype=float)
    pay = endowment - c + multiplier * c.sum() / c.size
    if punishment_given is not None:
        P = np.asarray(punishment_given, dtype=float)
        if P.shape != (c.size, c.size):
            raise ValueError(f"punishment_given has shape {P.shape}, expected ({c.size}, {c.size})")
        pay = pay - punishment_cost * P.sum(axis=1) - punishment_impact * P.sum(axis=0)
    return pay


def bomb_payoffs(boxes: np.ndarray, bomb_position: np.ndarray) -> np.ndarray:
    """Points: ``boxes`` if the bomb (at position 1..n) is not among the first ``boxes`` opened, else 0."""
    b = np.asarray(boxes, dtype=float)
    return np.where(np.asarray(bomb_position) > b, b, 0.0)
