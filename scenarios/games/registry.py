"""The registered games: one path, :func:`register_game`, for the built-in games and a researcher's own.

Adding a game needs one spec module and one line, in your own code — no edit of this package::

    from scenarios.games import register_game
    from my_study.effort_game import EFFORT       # a GameSpec: parameters, roles, instruction, settle

    register_game(EFFORT)                          # the one registration line

After it, in the same process, the game and its roles work wherever a built-in does: ``RunConfig(scenario=...)``,
``run_whatif`` with game-parameter interventions, ``get_scenario(role)`` and ``populace run/whatif --scenario``
(the CLI must import the module that registers). A role without human data (``RoleSpec(human_column=None)``, the
default) runs and what-ifs; ``human_values`` — and so ``fit``/``compare`` — refuses it in one line.

Games and roles live in the one name table of :mod:`scenarios.catalog` beside the built-in instruments and the
scenarios registered with :func:`scenarios.registry.register_scenario`: :data:`GAMES` and :data:`ROLES` are that
table's dicts, updated in place, so every module that imported them sees a registered game. Names must not collide:
a game name is new (it may equal one of its own roles, as ``dictator`` does), a role name is unique over all games
and is no other game's name, and neither is held by an instrument or a code-registered scenario.
"""

from __future__ import annotations

from scenarios.catalog import GAMES, ROLES, holder
from scenarios.errors import ScenarioError
from scenarios.games.bomb_risk import BOMB_RISK
from scenarios.games.dictator import DICTATOR
from scenarios.games.public_goods import PUBLIC_GOODS
from scenarios.games.spec import GameSpec, RoleSpec
from scenarios.games.trust import TRUST
from scenarios.games.ultimatum import ULTIMATUM

__all__ = ["BUILTIN_GAMES", "GAMES", "ROLES", "game_spec", "register_game", "role_spec", "unregister_game"]


def register_game(spec: GameSpec) -> GameSpec:
    """Register a game so every command and API that takes a game or role name can use it.

    Args:
        spec: the game (validated by :class:`GameSpec` itself: parameters, roles, first stage, matching).

    Returns:
        ``spec``, so a module can write ``MY_GAME = register_game(GameSpec(...))``.

    Raises:
        ScenarioError: one line naming the clashing name and the fix — a game already registered, a role name
            taken by another game (or equal to another game's name), or a name of another scenario.
    """
    if not isinstance(spec, GameSpec):
        raise ScenarioError(f"register_game needs a GameSpec, got {type(spec).__name__}")
    if spec.name in GAMES:
        raise ScenarioError(
            f"game {spec.name!r} is already registered; give your GameSpec another name "
            "(or unregister_game it first to replace it)"
        )
    roles = [r.name for r in spec.roles]
    for kind, name in (("game name", spec.name), *(("role name", r) for r in roles)):
        if not name.isidentifier():
            raise ScenarioError(
                f"{kind} {name!r} of game {spec.name!r} must be an identifier (letters, digits, _), as it is typed "
                f"after --scenario; rename your {kind.split()[0]}"
            )
    if len(set(roles)) != len(roles):
        raise ScenarioError(f"game {spec.name!r} lists a role name twice ({roles}); role names must be unique")
    if spec.name in ROLES:
        raise ScenarioError(f"game name {spec.name!r} is a role of game {ROLES[spec.name][0]!r}; rename your game")
    for role in roles:
        if role in ROLES:
            raise ScenarioError(
                f"role {role!r} of game {spec.name!r} is already a role of game {ROLES[role][0]!r}; rename your role"
            )
        if role in GAMES:
            raise ScenarioError(f"role {role!r} of game {spec.name!r} is the name of game {role!r}; rename your role")
    for name in dict.fromkeys((spec.name, *roles)):
        held = holder(name)
        if held is not None:
            raise ScenarioError(
                f"{name!r} (game {spec.name!r}) is already a scenario name, {held}; rename your game or role"
            )
    GAMES[spec.name] = spec
    ROLES.update({r.name: (spec.name, r.human_column) for r in spec.roles})
    return spec


def unregister_game(name: str) -> GameSpec:
    """Remove a game registered with :func:`register_game` and its roles (to replace it, or in tests).

    Returns:
        The removed spec.

    Raises:
        ScenarioError: an unknown game, or a built-in game (those are always registered).
    """
    if name in BUILTIN_GAMES:
        raise ScenarioError(f"{name!r} is a built-in game and cannot be unregistered")
    spec = game_spec(name)
    del GAMES[name]
    for role in spec.roles:
        ROLES.pop(role.name, None)
    return spec


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
    for game in GAMES.values():
        for role in game.roles:
            if role.name == name:
                return game, role
    raise ScenarioError(f"unknown game role {name!r}; roles: {sorted(r.name for g in GAMES.values() for r in g.roles)}")


for _builtin in (DICTATOR, ULTIMATUM, TRUST, PUBLIC_GOODS, BOMB_RISK):
    register_game(_builtin)
del _builtin

BUILTIN_GAMES: tuple[str, ...] = tuple(GAMES)
"""Names of the games that ship with Populace (registered at import, in this order)."""
