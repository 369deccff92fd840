"""Errors of the command line itself: a bad flag value, ``--out`` path or plugin, each one line naming the fix."""

__all__ = ["PluginError", "UsageError"]


class UsageError(ValueError):
    """A command-line input is invalid: a flag's value, a missing or conflicting option, an ``--out`` path."""


class PluginError(UsageError):
    """A module named in ``POPULACE_PLUGINS`` could not be imported."""
