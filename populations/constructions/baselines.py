"""The target-free kinds: ``fixed``, ``pool``, ``demographic`` and ``file`` (built once, without the humans)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from populations.constructions.params import population_file, resolve_pool
from populations.constructions.registry import (
    _ANSWER_TOKENS,
    BuildContext,
    BuiltConstruction,
    ConstructionKind,
    Estimate,
    register_construction,
)
from scenarios.schema import Param, at_least

__all__ = ["DEMOGRAPHIC", "FILE", "FIXED", "POOL", "big5_fit_rows"]


def _per_persona(k: int, q: int) -> Estimate:
    return Estimate(k, k * q, k * q * _ANSWER_TOKENS)


def _fixed(ctx: BuildContext, p: Mapping[str, Any]) -> BuiltConstruction:
    from populations.baselines import DEFAULT_SYSTEM_PROMPT, FixedPromptBuilder

    b = FixedPromptBuilder(p["system_prompt"] or DEFAULT_SYSTEM_PROMPT).fit(ctx.scenario, ctx.fit)
    return BuiltConstruction(b.population_, {}, b)


def _pool(ctx: BuildContext, p: Mapping[str, Any]) -> BuiltConstruction:
    from populations.baselines import RandomPersonaBuilder

    b = RandomPersonaBuilder(p["pool"], p["n_personas"], random_state=ctx.seed).fit(ctx.scenario, ctx.fit)
    return BuiltConstruction(b.population_, {}, b)


def big5_fit_rows(scenario: Any, *, seed: int, fit_fraction: float, source: str | None) -> np.ndarray | None:
    """BIG5 rows a demographic persona may come from: the fit half's rows for a Big Five scenario, else all rows.

    For a ``bigfive:*`` scenario the humans *are* BIG5 respondents, split by rows with the one split
    (:func:`scenarios.split.split_indices`, as :func:`populations.evaluation.human_split` does), so the demographic
    personas are drawn only from the fit half's respondents; for other scenarios the BIG5 respondents are not the
    scenario's humans and every row may be used (None).
    """
    name = str(getattr(scenario, "name", ""))
    if name != "bigfive" and not name.startswith("bigfive:"):
        return None
    from scenarios.big5 import load_big5
    from scenarios.split import split_indices

    fit_rows, _ = split_indices(load_big5(source).items.shape[0], seed=seed, fit_fraction=fit_fraction)
    return fit_rows


def _demographic(ctx: BuildContext, p: Mapping[str, Any]) -> BuiltConstruction:
    """The scenario's own fit-half respondents, from its declared demographics; BIG5 respondents on Big Five.

    A ``bigfive:*`` scenario keeps the cleaned BIG5 respondents (:func:`scenarios.big5.load_big5` recodes
    birth-year ages and junk countries, which a label table cannot) and their narrative; every other scenario
    needs ``data.demographics`` (:class:`populations.demographic.ScenarioDemographicBuilder`).
    """
    from populations.baselines import DemographicPersonaBuilder
    from populations.demographic import ScenarioDemographicBuilder, declared_demographics, no_demographics_error

    rows = big5_fit_rows(ctx.scenario, seed=ctx.split_seed, fit_fraction=ctx.fit_fraction, source=ctx.source)
    if rows is not None:
        b = DemographicPersonaBuilder(p["n_personas"], source=ctx.source, rows=rows, random_state=ctx.seed)
        return BuiltConstruction(b.fit(ctx.scenario, ctx.fit).population_, {}, b)
    if not declared_demographics(ctx.scenario):
        raise no_demographics_error(ctx.scenario)
    g = ScenarioDemographicBuilder(
        p["n_personas"],
        split_seed=ctx.split_seed,
        fit_fraction=ctx.fit_fraction,
        source=ctx.source,
        random_state=ctx.seed,
    )
    return BuiltConstruction(g.fit(ctx.scenario, ctx.fit).population_, {}, g)


def _demographic_check(scenario: Any) -> str | None:
    """Why ``demographic`` cannot build on ``scenario`` (no declared demographics, not Big Five), or None."""
    from populations.demographic import declared_demographics, no_demographics_error

    name = str(getattr(scenario, "name", ""))
    if name == "bigfive" or name.startswith("bigfive:") or declared_demographics(scenario):
        return None
    return str(no_demographics_error(scenario))


def _file(_ctx: BuildContext, p: Mapping[str, Any]) -> BuiltConstruction:
    from populations.io import load_population_file

    return BuiltConstruction(load_population_file(p["path"]), {})


def _file_estimate(p: Mapping[str, Any], q: int) -> Estimate:
    from populations.io import load_population_file

    return _per_persona(len(load_population_file(p["path"])), q)


def _file_preload(p: Mapping[str, Any]) -> None:
    from populations.io import load_population_file

    load_population_file(p["path"])


FIXED = register_construction(
    ConstructionKind(
        name="fixed",
        help="one system prompt for every agent (the average-person baseline)",
        params={"system_prompt": Param("str", None, None, "the one system prompt (default: the fixed baseline)")},
        build=_fixed,
        estimate=lambda p, q: _per_persona(1, q),
        target_free=True,
        needs_model=False,
    )
)
POOL = register_construction(
    ConstructionKind(
        name="pool",
        help="personas drawn uniformly from a persona pool, equal weights",
        params={
            "pool": Param("str", help="pool name in $POPULACE_PERSONAS or a JSONL path", resolve=resolve_pool),
            "n_personas": Param("int", 20, at_least(1), "personas drawn uniformly without replacement"),
        },
        build=_pool,
        estimate=lambda p, q: _per_persona(p["n_personas"], q),
        needs_pool=True,
        target_free=True,
        needs_model=False,
    )
)
DEMOGRAPHIC = register_construction(
    ConstructionKind(
        name="demographic",
        help="personas written from the scenario's fit-half respondents' data.demographics (labels and template "
        "from its file; BIG5 respondents on bigfive)",
        params={"n_personas": Param("int", 20, at_least(1), "fit-half respondents rendered as personas")},
        build=_demographic,
        estimate=lambda p, q: _per_persona(p["n_personas"], q),
        target_free=True,
        needs_model=False,
        scenario_check=_demographic_check,
    )
)
FILE = register_construction(
    ConstructionKind(
        name="file",
        help="a population file written by populace fit, align or select",
        params={
            "path": Param("str", help="a population file (populace fit/align/select output)", resolve=population_file)
        },
        build=_file,
        estimate=_file_estimate,
        target_free=True,
        needs_model=False,
        external=True,
        preload=_file_preload,
    )
)
