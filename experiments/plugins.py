"""``POPULACE_PLUGINS``: user modules imported when the CLI starts, so what they register is seen by every command.

A plugin is a module name on ``sys.path`` (``my_lab.kinds``) or the path of a ``.py`` file; several are separated
by commas. At import a plugin registers what it adds: a construction kind
(:func:`populations.constructions.register_construction`), a game (:func:`scenarios.games.register_game`) or a
scenario (:func:`scenarios.register_scenario`). Nothing inside the package is edited.

Example:
    >>> load_plugins("")
    []
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["PLUGINS_ENV", "PluginError", "load_plugins"]

PLUGINS_ENV = "POPULACE_PLUGINS"


class PluginError(ValueError):
    """A plugin named in ``POPULACE_PLUGINS`` cannot be imported (one line naming it and the fix)."""


def _is_path(entry: str) -> bool:
    return entry.endswith(".py") or os.sep in entry or (os.altsep is not None and os.altsep in entry)


def _import_file(entry: str) -> str:
    path = Path(entry).expanduser().resolve()
    if not path.is_file():
        raise PluginError(f"{PLUGINS_ENV}: plugin file {path} does not exist; fix the path or unset {PLUGINS_ENV}")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"populace_plugin_{path.stem}_{digest}"
    if name in sys.modules:  # imported already in this process: its registrations stand
        return name
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"{PLUGINS_ENV}: {path} is not a Python module; name a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return name


def load_plugins(value: str | None = None) -> list[str]:
    """Import every plugin of ``$POPULACE_PLUGINS`` (or of ``value``), in order.

    Args:
        value: comma-separated module names or ``.py`` paths (default: the environment variable).

    Returns:
        The imported modules' names (a file gets a private name derived from its path).

    Raises:
        PluginError: a plugin that cannot be found or fails at import, in one line naming it and
            ``POPULACE_PLUGINS``.
    """
    raw = os.environ.get(PLUGINS_ENV, "") if value is None else value
    loaded = []
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        try:
            loaded.append(_import_file(entry) if _is_path(entry) else importlib.import_module(entry).__name__)
        except PluginError:
            raise
        except Exception as exc:  # noqa: BLE001 — any failure of a user's module is one line
            raise PluginError(
                f"{PLUGINS_ENV}: cannot import plugin module {entry!r} ({type(exc).__name__}: {' '.join(str(exc).split())}); "
                f"put it on PYTHONPATH, fix it, or remove it from {PLUGINS_ENV}"
            ) from exc
    return loaded
