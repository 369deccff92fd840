"""Errors for data and scenario problems, each naming the file, row, column or name and the fix."""

__all__ = ["DataError", "MultiDimensionError", "ScenarioError", "ScenarioFileError"]


class DataError(ValueError):
    """Human data could not be found, fetched or parsed."""


class ScenarioError(ValueError):
    """An unknown scenario, scale or parameter, or a value out of range."""


class ScenarioFileError(ScenarioError):
    """A scenario TOML file (or its human data) is invalid.

    The message is one line: the file, the dotted key (or the data row and column), what is wrong and the fix,
    e.g. ``my.toml: unknown key 'scale.lables'; did you mean 'labels'? allowed keys: [...]``.
    """


class MultiDimensionError(ScenarioError, AttributeError):
    """A one-dimensional member (``support``, ``pmfs``, ``describe_target`` …) asked of several dimensions.

    It is an ``AttributeError`` too, so ``isinstance(x, Scenario)`` is False for a multi-dimensional selection.
    """
