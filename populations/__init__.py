"""Who the agents are: personas, populations and the builders that fit them to human data.

Populations are personas + weights; builders are prompt mixtures (EM, gradient boosting), Mixture-of-Personas,
OT-aligned persona sets and baselines; the one construction registry (:mod:`populations.constructions`) declares
every kind a command builds; plus the FAISS subgroup index and the one evaluation module.

>>> from populations import PromptMixtureBuilder, AlignedPersonaBuilder, Population   # doctest: +SKIP

Names are imported lazily (PEP 562), so importing one module of the package stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

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
    "AlignedPersonaBuilder",
    "BaseBuilder",
    "CraftSystemPrompt",
    "DemographicPersonaBuilder",
    "FixedPromptBuilder",
    "MixtureOfPersonasBuilder",
    "ContextGate",
    "ItemSet",
    "NotFittedError",
    "Persona",
    "PersonaIndex",
    "Population",
    "PromptMixtureBuilder",
    "RandomPersonaBuilder",
    "answer_distributions",
    "check_is_fitted",
    "human_floor",
    "human_halves",
    "scenario_floor",
    "simulate_score_vectors",
    "weighted_resample",
    "human_split",
    "load_population_file",
    "score_distribution",
    "score_vectors",
    "split_humans",
]

_WHERE = {
    "BuildContext": "populations.constructions",
    "BuiltConstruction": "populations.constructions",
    "ConstructionError": "populations.constructions",
    "ConstructionKind": "populations.constructions",
    "Estimate": "populations.constructions",
    "build_construction": "populations.constructions",
    "construction_kinds": "populations.constructions",
    "estimate_construction": "populations.constructions",
    "get_construction": "populations.constructions",
    "register_construction": "populations.constructions",
    "AlignedPersonaBuilder": "populations.aligned",
    "BaseBuilder": "populations.base",
    "CraftSystemPrompt": "populations.crafting",
    "DemographicPersonaBuilder": "populations.baselines",
    "FixedPromptBuilder": "populations.baselines",
    "MixtureOfPersonasBuilder": "populations.mop",
    "ContextGate": "populations.mop_gate",
    "ItemSet": "populations.mop_context",
    "NotFittedError": "populations.base",
    "Persona": "populations.persona",
    "PersonaIndex": "populations.subgroups",
    "Population": "populations.persona",
    "PromptMixtureBuilder": "populations.mixture",
    "RandomPersonaBuilder": "populations.baselines",
    "answer_distributions": "populations.responses",
    "check_is_fitted": "populations.base",
    "human_floor": "populations.evaluation",
    "human_halves": "populations.evaluation",
    "scenario_floor": "populations.evaluation",
    "simulate_score_vectors": "populations.evaluation",
    "weighted_resample": "populations.evaluation",
    "human_split": "populations.evaluation",
    "load_population_file": "populations.io",
    "score_distribution": "populations.evaluation",
    "score_vectors": "populations.evaluation",
    "split_humans": "populations.evaluation",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'populations' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
