"""Plugins: user modules imported before the command line is built, so what they register is there for every command.

``POPULACE_PLUGINS`` is a comma-separated list of importable module names (on ``PYTHONPATH``) or paths of ``.py``
files (an entry ending in ``.py`` or holding a path separator). A plugin module registers at import whatever it
adds, through the register function of its kind:

- a backend: :func:`populace_lm.backends.register_backend` (``--backend NAME`` and its options);
- a construction kind: ``populations.constructions.register_construction``;
- a game or a scenario: :func:`scenarios.games.register_game`, :func:`scenarios.register_scenario`.

The loader knows none of these kinds: it imports the modules, in order, once per process.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from experiments.errors import PluginError

__all__ = ["PLUGINS_ENV", "PluginError", "load_plugins", "plugin_names"]

PLUGINS_ENV = "POPULACE_PLUGINS"


def plugin_names(value: str | None = None) -> list[str]:
    """The entries of ``value`` (default ``$POPULACE_PLUGINS``), stripped, empty ones dropped."""
    raw = os.environ.get(PLUGINS_ENV, "") if value is None else value
    return [entry.strip() for entry in raw.split(",") if entry.strip()]


def load_plugins(value: str | None = None) -> list[str]:
    """Import every plugin of ``value`` (default ``$POPULACE_PLUGINS``), in order.

    A module name is imported with :func:`importlib.import_module`; a path ending in ``.py`` is imported from
    that file as module ``populace_plugin_<stem>`` (once per process, like a module name).

    Args:
        value: the comma-separated list; None = the environment variable.

    Returns:
        The imported module names.

    Raises:
        PluginError: a plugin that cannot be imported (missing, or raising at import), in one line naming it,
            the error and :data:`PLUGINS_ENV`.
    """
    loaded = []
    for entry in plugin_names(value):
        is_file = _is_path(entry)
        try:
            loaded.append(_import_file(entry) if is_file else importlib.import_module(entry).__name__)
        except Exception as exc:  # noqa: BLE001 — any failure of a user's module is one line naming it
            kind, fix = ("file", "check the path") if is_file else ("module", "put it on PYTHONPATH")
            raise PluginError(
                f"{PLUGINS_ENV}: cannot import plugin {kind} {entry!r} ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())}); {fix} or fix the plugin"
            ) from exc
    return loaded


def _is_path(entry: str) -> bool:
    """Whether a plugin entry names a file rather than a module."""
    return entry.endswith(".py") or os.sep in entry or (os.altsep is not None and os.altsep in entry)


def _import_file(entry: str) -> str:
    """Import the ``.py`` file ``entry`` as ``populace_plugin_<stem>``, unless a file of that name already is."""
    path = Path(entry).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no file {path}")
    name = "populace_plugin_" + "".join(c if c.isalnum() else "_" for c in path.stem)
    module = sys.modules.get(name)
    if module is not None:
        if Path(getattr(module, "__file__", "") or "").resolve() != path:
            raise ImportError(f"another plugin file is imported as {name} already; rename one of them")
        return name
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return name
