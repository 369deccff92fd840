"""Games with validated parameters and their decisions asked as :class:`~scenarios.question.Question`.

Also the dataset's verbatim prompts and free-text answer parsing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from populace_lm.parsing import parse_integer_reply
from populace_lm.types import IntegerAnswers
from scenarios.errors import DataError, ScenarioError
from scenarios.games.registry import game_spec, role_spec
from scenarios.games.spec import GameSpec, RoleSpec
from scenarios.question import Question
from scenarios.sources import find_dataset_file

__all__ = ["Game", "GameRole", "ParsedAnswer", "game_role", "load_verbatim_prompts", "parse_answer"]


@dataclass(frozen=True, kw_only=True)
class Game:
    """A registered game with validated parameters.

    Attributes:
        name: a name in :data:`scenarios.games.GAMES`.
        params: parameter values (defaults filled in, types coerced, ranges checked).
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", game_spec(self.name).resolve(self.params))

    @property
    def spec(self) -> GameSpec:
        """The game's spec."""
        return game_spec(self.name)

    def with_params(self, **changes: Any) -> Game:
        """A copy with some parameters changed (validated)."""
        return Game(name=self.name, params={**self.params, **changes})

    @property
    def matches_human_data(self) -> bool:
        """True when the parameters are those under which the MobLab humans played."""
        return all(self.params[k] == v for k, v in self.spec.human_params.items())

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
        role: a role name of :data:`scenarios.games.ROLES`.
        game: the game and its parameters.
        wording: ``"own"`` (the spec's instruction + answer stem) or ``"verbatim"`` (dataset prompts).
        verbatim_prompt: the dataset's prompt text when ``wording="verbatim"``.
    """

    role: str
    game: Game
    wording: Literal["own", "verbatim"] = "own"
    verbatim_prompt: str = ""

    def __post_init__(self) -> None:
        owner, _ = role_spec(self.role)
        if owner.name != self.game.name:
            raise ScenarioError(f"role {self.role!r} belongs to game {owner.name!r}, not {self.game.name!r}")
        if self.wording == "verbatim" and not self.verbatim_prompt:
            raise ScenarioError("wording='verbatim' needs the dataset prompt (use load_verbatim_prompts)")

    @property
    def spec(self) -> RoleSpec:
        """The role's spec."""
        return role_spec(self.role)[1]

    @property
    def human_column(self) -> str | None:
        """Column of ``joint.csv`` with the humans' first-round decision (None: the role has no human data)."""
        return self.spec.human_column

    @property
    def answers(self) -> IntegerAnswers:
        """Valid answers of this decision."""
        return self.spec.answers(self.game.params)

    def question(self, history: str = "") -> Question:
        """The question for this decision; ``history`` (e.g. past rounds) is put before the task."""
        if self.wording == "verbatim":
            text, prefix = self.verbatim_prompt, ""
        else:
            text, prefix = self.spec.instruction(self.game.params)
        if history:
            text = f"{history.strip()}\n\n{text}"
        return Question(id=self.role, prompt=text, answers=self.answers, answer_prefix=prefix)


def game_role(
    role: str, *, wording: Literal["own", "verbatim"] = "own", source: str | None = None, **params: Any
) -> GameRole:
    """Build a role with its game's parameters (defaults = the MobLab setting).

    Args:
        role: a role name of :data:`scenarios.games.ROLES`.
        wording: ``"own"`` or ``"verbatim"`` (the latter reads ``game_prompts.json`` from ``source``).
        source: data source for verbatim prompts (see :mod:`scenarios.sources`).
        **params: game parameters, validated.
    """
    owner, spec = role_spec(role)
    game = Game(name=owner.name, params=params)
    if wording == "verbatim" and spec.verbatim_key is None:
        raise ScenarioError(f"game {owner.name} role {role} has no dataset prompt; use wording='own'")
    verbatim = load_verbatim_prompts(source)[spec.verbatim_key] if wording == "verbatim" else ""
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
