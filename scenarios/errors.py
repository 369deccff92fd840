"""Errors for data and scenario problems, each naming the file, row, column or name and the fix."""


class DataError(ValueError):
    """Human data could not be found, fetched or parsed."""


class ScenarioError(ValueError):
    """An unknown scenario, scale or parameter, or a value out of range."""
