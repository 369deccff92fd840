"""The ``aligned`` kind: IS + OT [2] on expected dimension scores of ``n_pool`` pool personas.

References:
    [2] "Population-Aligned Persona Generation for LLM-based Social Simulation" (IS + OT).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from populations.constructions.params import resolve_pool
from populations.constructions.registry import (
    _ANSWER_TOKENS,
    BuildContext,
    BuiltConstruction,
    ConstructionError,
    ConstructionKind,
    Estimate,
    register_construction,
)
from scenarios.schema import Param, at_least, one_of, unit

__all__ = ["ALIGNED"]


def _build(ctx: BuildContext, p: Mapping[str, Any]) -> BuiltConstruction:
    """IS + OT of the candidates' expected scores to the fit half's ``(M, D)`` scores, survey weights included.

    See :meth:`populations.aligned.AlignedPersonaBuilder.fit`.
    """
    from populations.aligned import AlignedPersonaBuilder
    from populations.pools import load_pool

    size = len(load_pool(p["pool"]))
    if p["n_pool"] > size:
        raise ConstructionError(f"construction {ctx.name!r}: n_pool = {p['n_pool']} exceeds the pool size {size}")
    b = AlignedPersonaBuilder(
        p["method"],
        n_select=p["n_select"],
        keep_fraction=p["keep_fraction"],
        random_state=ctx.seed,
        respondent=ctx.model,
        pool=p["pool"],
        n_pool=p["n_pool"],
        progress=ctx.progress,
    ).fit(ctx.scenario, ctx.fit, sample_weight=ctx.fit_weights)
    return BuiltConstruction(b.population_, {}, b)


def _check(p: Mapping[str, Any]) -> tuple[str, str] | None:
    if p["n_select"] > p["n_pool"]:
        return "n_select", f"= {p['n_select']} exceeds n_pool = {p['n_pool']}"
    return None


ALIGNED = register_construction(
    ConstructionKind(
        name="aligned",
        help="a persona set resampled from a pool so its expected scores match the fit half (IS + OT [2])",
        params={
            "pool": Param("str", help="persona pool the aligned set is drawn from", resolve=resolve_pool),
            "n_pool": Param("int", 40, at_least(2), "pool personas drawn as candidates (each answers the scenario)"),
            "n_select": Param("int", 10, at_least(1), "size of the aligned set"),
            "method": Param(
                "str",
                "resample",
                one_of("resample", "is_only", "ot_only", "random", "raw"),
                "resample (IS then OT, [2]), is_only, ot_only, random or raw",
            ),
            "keep_fraction": Param("float", 0.7, unit, "share of the pool kept by importance weight"),
        },
        build=_build,
        estimate=lambda p, q: Estimate(p["n_select"], p["n_pool"] * q, p["n_pool"] * q * _ANSWER_TOKENS),
        ordered_only=True,
        needs_pool=True,
        check=_check,
    )
)
