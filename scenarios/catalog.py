"""The one table of scenario names: built-in instrument files, scenarios registered in code, games and their roles.

Every name ``get_scenario`` (and so every command) resolves is held here, and both registration paths —
:func:`scenarios.registry.register_scenario` and :func:`scenarios.games.register_game` — claim their names in this
one table, so neither can take a name the other holds. The module imports nothing of the registries above it
(``scenarios.registry`` builds scenarios from it, ``scenarios.games.registry`` validates game specs into it).

:data:`GAMES`, :data:`ROLES` and :data:`FACTORIES` are updated in place, so a module that imported them sees
later registrations.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from importlib.abc import Traversable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scenarios.base import Scenario
    from scenarios.games.spec import GameSpec

__all__ = ["FACTORIES", "GAMES", "ROLES", "builtin_files", "holder", "influence_files"]

GAMES: dict[str, GameSpec] = {}
"""Game name → spec, in registration order (built-ins first)."""

ROLES: dict[str, tuple[str, str | None]] = {}
"""Role name → (game name, human column in MobLab ``joint.csv``, or None for a role without human data)."""

FACTORIES: dict[str, Callable[..., Scenario]] = {}
"""Name → factory of a scenario registered in code (``factory(source=…, wording=…)`` returns it)."""


def builtin_files() -> dict[str, Traversable]:
    """Stem → file of each built-in instrument (``scenarios/builtin/*.toml``), e.g. ``"bigfive"``."""
    return {
        p.name[: -len(".toml")]: p for p in resources.files("scenarios.builtin").iterdir() if p.name.endswith(".toml")
    }


def influence_files() -> dict[str, Traversable]:
    """Stem → file of each built-in social-influence scenario (``scenarios/builtin_influence/*.toml``)."""
    return {
        p.name[: -len(".toml")]: p
        for p in resources.files("scenarios.builtin_influence").iterdir()
        if p.name.endswith(".toml")
    }


def holder(name: str) -> str | None:
    """What already holds ``name`` in words (``"the built-in instrument 'bigfive'"``), or None when it is free."""
    if name in builtin_files():
        return f"the built-in instrument {name!r}"
    if name in influence_files():
        return f"the built-in social-influence scenario {name!r}"
    if name in FACTORIES:
        return f"the scenario {name!r} registered in code"
    if name in GAMES:
        return f"the game {name!r}"
    if name in ROLES:
        return f"a role of game {ROLES[name][0]!r}"
    return None
