"""The one seed contract: every random choice of a run flows from its root seed through a stable name.

A named stream is ``numpy.random.SeedSequence(entropy=root, spawn_key=(sha256(name_1), sha256(name_2), ...))``:
the same root and the same names give the same stream in every command, every process and every thread order, and
two different names never share a stream (adding a stream never shifts another). Commands name their streams
after what they draw; these names are the contract (a test checks that ``demo``, ``fit``, ``compare`` and
``experiment seed000`` report the same split and the same floor for the same ``--seed``):

==============================================  ================================================================
stream                                          what it draws (where)
==============================================  ================================================================
``("split",)``                                  the fit/test permutation of a scenario's human rows
                                                (:func:`scenarios.split.split_indices`)
``("floor", scenario)``                         the human floor of a one-dimensional scenario (``bigfive:E``,
                                                ``dictator``; :func:`populations.evaluation.seeded_floor`)
``("score", scenario, construction)``           the sampled score of a construction (agents drawn from its pmf)
``("vectors", scenario, construction)``         simulated score vectors of a multi-dimensional scenario
``("vector-floor", scenario)``                  its multivariate floor and the draws scored against it
``("persona-vectors", scenario)``               one integer answer draw per persona (``populace align``)
``("replicate", r, "population"|"network"|"model")``  replicate ``r`` of a simulation (:mod:`simulator.runner`)
``("bootstrap", ...)``                          bootstrap CIs of a what-if (:mod:`simulator.whatif`)
==============================================  ================================================================

``scenario`` is the scenario's name (``scenario.name``) and ``construction`` the row label (``fixed``, ``em`` …),
so a stream does not depend on the order in which a command visits scenarios or constructions.

Example:
    >>> a = seed_stream(0, "floor", "bigfive:E").generate_state(1)[0]
    >>> bool(a == seed_stream(0, "floor", "bigfive:E").generate_state(1)[0])
    True
    >>> bool(a == seed_stream(0, "floor", "dictator").generate_state(1)[0])
    False
"""

from __future__ import annotations

import numpy as np

from populace_lm.types import stable_seed

__all__ = ["seed_int", "seed_rng", "seed_stream"]


def seed_stream(root: int, *names: object) -> np.random.SeedSequence:
    """The named child stream ``names`` of the root seed.

    Args:
        root: the run's root seed (``--seed``), a non-negative integer.
        *names: stable names of the stream (strings or integers; each is hashed with sha256 as text).

    Returns:
        A :class:`numpy.random.SeedSequence` with ``entropy=root`` and one spawn key per name.

    Raises:
        ValueError: a negative or non-integer root seed.
    """
    if isinstance(root, bool) or not isinstance(root, int | np.integer) or int(root) < 0:
        raise ValueError(f"a root seed must be a non-negative integer, got {root!r}")
    return np.random.SeedSequence(entropy=int(root), spawn_key=tuple(stable_seed(n) for n in names))


def seed_rng(root: int, *names: object) -> np.random.Generator:
    """A generator on the named stream ``names`` of ``root`` (see :func:`seed_stream`)."""
    return np.random.default_rng(seed_stream(root, *names))


def seed_int(root: int | np.random.SeedSequence, *names: object) -> int:
    """A 32-bit integer seed of the named stream, for libraries that take an int (Mesa, networkx, builders).

    ``root`` may also be a :class:`~numpy.random.SeedSequence` already derived (then ``names`` must be empty).
    """
    if isinstance(root, np.random.SeedSequence):
        if names:
            raise ValueError("seed_int: give a root seed with names, or a SeedSequence alone")
        return int(root.generate_state(1)[0])
    return int(seed_stream(root, *names).generate_state(1)[0])
