"""The W1-fitted mixture kinds: ``em`` and ``gb`` (crafted prompt mixtures [1]) and ``mop`` (Mixture-of-Personas [3]).

On several dimensions each is fitted per dimension and joined with one weight vector
(:func:`populations.constructions.build_construction`).

References:
    [1] "Distributional Alignment for Social Simulation with LLMs: A Prompt Mixture Modeling Approach" (EM, GB).
    [3] Bui et al. (2025), "Mixture-of-Personas Language Models for Population Simulation".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from populations.constructions.params import CRAFTING, WEIGHT_METHOD, resolve_pool
from populations.constructions.registry import (
    _ANSWER_TOKENS,
    _CRAFT_TOKENS,
    BuildContext,
    BuiltConstruction,
    ConstructionKind,
    Estimate,
    register_construction,
)
from scenarios.schema import Param, at_least, one_of

__all__ = ["EM", "GB", "MOP"]


def _mixture(method: str) -> Any:
    def build(ctx: BuildContext, p: Mapping[str, Any]) -> BuiltConstruction:
        from populations.baselines import DEFAULT_SYSTEM_PROMPT
        from populations.mixture import PromptMixtureBuilder

        b = PromptMixtureBuilder(
            method=method,
            n_components=p.get("n_components", 5),
            crafter=ctx.crafter if ctx.crafter is not None else ctx.model,
            respondent=ctx.model,
            max_iter=p.get("max_iter", 5),
            n_rounds=p.get("n_rounds", 10),
            patience=p.get("patience", 3),
            improve_rounds=p["improve_rounds"],
            weight_method=p["weight_method"],
            forbid_target_number=p["forbid_target_number"],
            max_retries=p["crafter_retries"],
            crafter_max_tokens=p["crafter_max_tokens"],
            default_prompt=p["default_prompt"] or DEFAULT_SYSTEM_PROMPT,
            progress=ctx.progress,
            random_state=ctx.seed,
        ).fit(ctx.scenario, ctx.fit, sample_weight=ctx.fit_weights)
        info = {"n_failed": b.n_failed_, "fallback": b.fallback_, "failure_reasons": dict(b.failure_reasons_)}
        return BuiltConstruction(b.population_, info, b)

    return build


def _crafts(crafts: int, p: Mapping[str, Any], q: int, components: int) -> Estimate:
    """The estimate of a crafting kind: the fixed prompt on ``q`` questions plus ``crafts`` crafting jobs.

    Each job writes ``1 + improve_rounds`` drafts, every draft one generation and ``q`` distribution requests.
    """
    drafts = crafts * (1 + p["improve_rounds"])
    return Estimate(components, q + drafts * (1 + q), (q + drafts * q) * _ANSWER_TOKENS + drafts * _CRAFT_TOKENS)


def _mop(ctx: BuildContext, p: Mapping[str, Any]) -> BuiltConstruction:
    from populations.mop import MixtureOfPersonasBuilder

    b = MixtureOfPersonasBuilder(
        respondent=ctx.model,
        pool=p["pool"],
        n_personas=p["n_personas"],
        n_exemplars=p["n_exemplars"],
        weight_method=p["weight_method"],
        gate=p["gate"],
        gate_rank=p["gate_rank"],
        gate_steps=p["gate_steps"],
        progress=ctx.progress,
        random_state=ctx.seed,
    )
    if p["gate"] == "context":
        from populations.mop_context import ItemSet

        b.fit(ItemSet(ctx.scenario.name, ctx.parts), ctx.fit, sample_weight=ctx.fit_weights)
    else:
        b.fit(ctx.scenario, ctx.fit, sample_weight=ctx.fit_weights)
    return BuiltConstruction(b.population_, {}, b)  # MoP crafts nothing: no crafting failures to count


def _mop_estimate(p: Mapping[str, Any], q: int) -> Estimate:
    """The fixed prompt plus one component per (persona, exemplar): an upper bound on the distinct requests.

    Exemplars drawn with the same human answer give the same prompt, which is asked once.
    """
    k = 1 + p["n_personas"] * p["n_exemplars"]
    return Estimate(k, k * q, k * q * _ANSWER_TOKENS)


EM = register_construction(
    ConstructionKind(
        name="em",
        help="a mixture of crafted system prompts fitted by EM on W1 [1]",
        params={
            "n_components": Param("int", 5, at_least(1), "crafted prompts K"),
            "max_iter": Param("int", 5, at_least(1), "EM iterations"),
            **CRAFTING,
        },
        build=_mixture("em"),
        estimate=lambda p, q: _crafts(p["n_components"] * (1 + p["max_iter"]), p, q, p["n_components"] + 1),
        ordered_only=True,
        per_dimension=True,
    )
)
GB = register_construction(
    ConstructionKind(
        name="gb",
        help="a mixture of crafted system prompts grown by gradient boosting on W1 [1]",
        params={
            "n_rounds": Param("int", 10, at_least(1), "boosting rounds"),
            "patience": Param("int", 3, at_least(1), "rounds without improvement before stopping"),
            **CRAFTING,
        },
        build=_mixture("gb"),
        estimate=lambda p, q: _crafts(p["n_rounds"], p, q, p["n_rounds"] + 1),
        ordered_only=True,
        per_dimension=True,
    )
)
MOP = register_construction(
    ConstructionKind(
        name="mop",
        help="Mixture-of-Personas: pool personas with fit-half exemplars, weights fitted on W1 [3]",
        params={
            "pool": Param("str", "personahub", None, "persona pool", resolve=resolve_pool),
            "n_personas": Param("int", 8, at_least(1), "personas drawn from the pool"),
            "n_exemplars": Param("int", 2, at_least(1), "fit-half exemplars per persona"),
            "weight_method": WEIGHT_METHOD,
            "gate": Param(
                "str",
                "lp",
                one_of("lp", "context"),
                "weights: one vector per scenario (lp) or per question from a gate on sentence embeddings (context, "
                "several dimensions)",
            ),
            "gate_rank": Param("int", 8, at_least(1), "rank of the context gate's learned maps"),
            "gate_steps": Param("int", 400, at_least(1), "optimiser steps of the context gate"),
        },
        build=_mop,
        estimate=_mop_estimate,
        joins_itself=lambda p: p.get("gate") == "context",
        ordered_only=True,
        needs_pool=True,
        per_dimension=True,
    )
)
