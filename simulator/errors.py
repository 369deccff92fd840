"""Errors of simulation settings: each one line naming the setting (flag or file line) and the fix."""

__all__ = ["SimulationError"]


class SimulationError(ValueError):
    """A simulation setting is invalid: agents, rounds, replicates, history, a network, a condition or a treatment."""
