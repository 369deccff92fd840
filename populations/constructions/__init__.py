"""The one construction registry (see :mod:`populations.constructions.registry`).

Built-in kinds: ``fixed``, ``pool``, ``demographic``, ``file`` (target-free), ``em``, ``gb``, ``mop`` (W1-fitted
mixtures) and ``aligned`` (IS + OT). A plugin adds one with :func:`register_construction`.
"""

from __future__ import annotations

from populations.constructions.registry import (
    BuildContext,
    BuiltConstruction,
    ConstructionError,
    ConstructionKind,
    Estimate,
    build_construction,
    construction_kinds,
    estimate_construction,
    get_construction,
    register_construction,
)

__all__ = [
    "BuildContext",
    "BuiltConstruction",
    "ConstructionError",
    "ConstructionKind",
    "Estimate",
    "build_construction",
    "construction_kinds",
    "estimate_construction",
    "get_construction",
    "register_construction",
]
