"""The registered games. Adding a game = one spec module plus one line in :data:`GAMES`."""

from __future__ import annotations

from scenarios.errors import ScenarioError
from scenarios.games.bomb_risk import BOMB_RISK
from scenarios.games.dictator import DICTATOR
from scenarios.games.public_goods import PUBLIC_GOODS
from scenarios.games.spec import GameSpec, RoleSpec
from scenarios.games.trust import TRUST
from scenarios.games.ultimatum import ULTIMATUM

__all__ = ["GAMES", "ROLES", "game_spec", "role_spec"]

GAMES: dict[str, GameSpec] = {spec.name: spec for spec in (DICTATOR, ULTIMATUM, TRUST, PUBLIC_GOODS, BOMB_RISK)}


def _role_index() -> dict[str, tuple[GameSpec, RoleSpec]]:
    """Role name → (game, role) over the games registered now."""
    index = {r.name: (g, r) for g in GAMES.values() for r in g.roles}
    if len(index) != sum(len(g.roles) for g in GAMES.values()):
        raise ScenarioError("two registered games share a role name; role names must be unique")
    return index


ROLES: dict[str, tuple[str, str]] = {name: (g.name, r.human_column) for name, (g, r) in _role_index().items()}
"""Built-in role → (game, human column in MobLab ``joint.csv``)."""


def game_spec(name: str) -> GameSpec:
    """The registered game ``name``.

    Raises:
        ScenarioError: unknown name, listing the games.
    """
    if name not in GAMES:
        raise ScenarioError(f"unknown game {name!r}; games: {sorted(GAMES)}")
    return GAMES[name]


def role_spec(name: str) -> tuple[GameSpec, RoleSpec]:
    """(game, role) of a registered role name.

    Raises:
        ScenarioError: unknown role, listing the roles.
    """
    index = _role_index()
    if name not in index:
        raise ScenarioError(f"unknown game role {name!r}; roles: {sorted(index)}")
    return index[name]
