"""``populace fit --builder KIND --scenario NAME --out population.json``: fit a population to human data.

``KIND`` is any construction kind of the registry fitted to humans (:mod:`populations.constructions`: ``em``,
``gb``, ``mop``, ``aligned`` or a plugin's); its parameters are options named after them (``--n-components``).
Splits the scenario's human rows with the one seeded split (:func:`populations.evaluation.human_halves`), builds
the kind on the fit half only, exactly as ``compare`` does, scores it on the test half with
:mod:`populations.evaluation` (W1 sampled beside the human floor, W1 exact apart) and writes **one population
file**: a ``populace.population`` document that ``run``, ``whatif``, ``compare`` and ``select`` read, carrying the
fit record (the builder's record, split and test scores) under the key ``"fit"``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from experiments.common import (
    add_crafter_args,
    add_data_args,
    add_model_args,
    crafter_from_args,
    model_from_args,
    write_json,
)
from experiments.plan import add_plan_flag

#: Flags of earlier releases kept beside the parameter's own ``--n-rounds``.
_ALIASES = {"n_rounds": ("--rounds",)}
_TYPES = {"int": int, "float": float, "str": str}


def _fitted_kinds() -> list[Any]:
    from populations.constructions import construction_kinds

    return [k for k in construction_kinds() if not k.target_free]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``fit`` sub-command; one option per parameter of the fitted kinds of the registry."""
    kinds = _fitted_kinds()
    p = sub.add_parser(
        "fit",
        help="fit a population of a registered kind (em, gb, mop, aligned, ...) to humans",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--builder", choices=[k.name for k in kinds], required=True, help="construction kind")
    p.add_argument(
        "--scenario", required=True, help="a built-in scenario (bigfive:E, dictator, …) or FILE.toml[:DIMENSION]"
    )
    p.add_argument("--out", required=True, help="output population file (JSON, kind populace.population)")
    owners: dict[str, list[str]] = {}
    specs: dict[str, Any] = {}
    for k in kinds:
        for name, param in k.params.items():
            owners.setdefault(name, []).append(f"{k.name} {param.default_text().strip('`')}")
            specs.setdefault(name, param)
    for name, param in specs.items():
        flags = (f"--{name.replace('_', '-')}", *_ALIASES.get(name, ()))
        extra: dict[str, Any] = (
            {"action": argparse.BooleanOptionalAction}
            if param.type == "bool"
            else {"type": _TYPES.get(param.type, str)}
        )
        defaults = "; ".join(owners[name])
        if param.type != "bool":
            extra["metavar"] = param.type.upper()
        p.add_argument(*flags, dest=f"param_{name}", default=None, help=f"{param.help} ({defaults})", **extra)
    p.add_argument("--fit-fraction", type=float, default=0.5, help="share of humans in the fit half")
    add_crafter_args(p)
    add_plan_flag(p)
    add_model_args(p)
    add_data_args(p)
    p.set_defaults(func=run)


def kind_params(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The chosen kind and its validated parameters: the options given for it over its defaults.

    Options of other kinds are ignored. Raises the one-line error of :func:`scenarios.schema.read_table`.
    """
    from populations.constructions import ConstructionError, get_construction
    from scenarios.schema import read_table

    kind = get_construction(args.builder)
    given = {n: getattr(args, f"param_{n}") for n in kind.params if getattr(args, f"param_{n}", None) is not None}
    params = read_table(
        given, kind.params, file="populace fit", what=f"kind {kind.name!r}", base=Path.cwd(), error=ConstructionError
    )
    if kind.check is not None and (problem := kind.check(params)) is not None:
        raise ConstructionError(f"populace fit: {problem[0]} {problem[1]}")
    return kind, params


def prepare_fit(args: argparse.Namespace) -> tuple[Any, dict[str, Any], Any, Any]:
    """Every check of ``fit`` before its first LLM call: ``(kind, params, scenario, halves)``.

    The kind and its parameters, the scenario (one dimension), its human rows read, validated and split, the
    kind's answer-scale needs (W1-fitted kinds refuse unordered categories) and its inputs (``preload``).

    Raises:
        ConstructionError, ScenarioError: one line naming the option, file or key and the fix.
    """
    from populations.constructions import ConstructionError, construction_kinds
    from populations.evaluation import human_halves
    from scenarios.errors import ScenarioError
    from scenarios.registry import get_scenario

    kind, params = kind_params(args)
    scenario = get_scenario(args.scenario, source=args.data)
    if len(scenario.dimensions) > 1:
        raise ScenarioError(
            f"fit builds a population for one dimension, and {scenario.name!r} has {list(scenario.dimensions)}: "
            f"pick one as {args.scenario}:DIMENSION, or fit them together in a study file (populace compare, "
            "docs/study_files.md)"
        )
    if kind.ordered_only and not scenario.ordered:
        usable = ", ".join(k.name for k in construction_kinds() if not k.ordered_only)
        raise ConstructionError(
            f"populace fit: --builder {kind.name} fits W1, which needs ordered answers, but {scenario.name!r} has "
            f"unordered categories; compare {usable} constructions on it in a study (scored with total variation)"
        )
    if kind.preload is not None:
        try:
            kind.preload(params)
        except ValueError as exc:
            raise ConstructionError(f"populace fit: {exc}") from exc
    halves = human_halves(scenario, seed=args.seed, source=args.data, fit_fraction=args.fit_fraction)
    return kind, params, scenario, halves


def fit_plan(args: argparse.Namespace) -> Any:
    """The :class:`~experiments.plan.Plan` of ``fit`` (:func:`prepare_fit` first, so it refuses what the run does)."""
    from experiments.plan import Plan, human_check
    from populations.constructions import estimate_construction

    kind, params, scenario, halves = prepare_fit(args)
    est = estimate_construction(kind, params, [len(scenario.questions())])
    row = {
        "what": f"{kind.name} on {scenario.name} (fit, then the test-half scores)",
        "components": est.components,
        "est_requests": est.requests,
        "est_tokens": est.tokens,
    }
    return Plan(
        "fit",
        checks=[f"--builder {kind.name} and its parameters", human_check(scenario, halves)],
        rows=[row],
        columns=["what", "components", "est_requests", "est_tokens"],
        notes=["crafter retries are not counted"] if "crafter_retries" in params else [],
    )


def run(args: argparse.Namespace) -> int:
    """Fit on the fit half, score on the test half, write one population file, print a summary."""
    from experiments.plan import print_plan
    from populace_lm.seeds import seed_rng
    from populations.constructions import BuildContext, build_construction
    from populations.crafting import MeteredModel
    from populations.evaluation import builder_fit_info, population_pmfs, score_population, seeded_floor

    if args.plan:
        return print_plan(fit_plan(args))
    kind, params, scenario, halves = prepare_fit(args)
    fit, test = halves.fit, halves.test
    model = MeteredModel(model_from_args(args))
    crafter = crafter_from_args(args)
    context = BuildContext(
        scenario=scenario,
        fit=fit,
        fit_weights=halves.fit_weights,
        model=model,
        crafter=None if crafter is None else MeteredModel(crafter),
        source=args.data,
        seed=args.seed,
        split_seed=args.seed,
        fit_fraction=args.fit_fraction,
        progress=True,
        name=kind.name,
    )
    started = time.perf_counter()
    built = build_construction(kind, context, params)
    seconds = round(time.perf_counter() - started, 2)
    cost = _cost(model, context.crafter)
    floor = seeded_floor(scenario, test, seed=args.seed, weights=halves.test_weights)
    population = built.population
    answers = population_pmfs(model, population, scenario)
    info = builder_fit_info(built.builder)
    record, _ = score_population(
        scenario=scenario,
        construction=kind.name,
        weights=population.weights,
        component_pmfs=answers["pmfs"],
        valid_mass=answers["valid_mass"],
        test=test,
        floor=floor,
        llm_calls=int(cost["requests"]),
        rng=seed_rng(args.seed, "score", scenario.name, kind.name),
        fit_info=info if info["n_crafted"] is not None else None,
        test_weights=halves.test_weights,
    )
    split = {
        "seed": args.seed,
        "fit_fraction": args.fit_fraction,
        "n_fit": int(fit.size),
        "n_test": int(test.size),
        "weighted": halves.fit_weights is not None,
    }
    fitted = {} if built.builder is None else {k: v for k, v in built.builder.to_dict().items() if k != "population"}
    doc = population.to_dict()
    payload: dict[str, Any] = {
        **doc,
        "metadata": {**doc.get("metadata", {}), "scenario": scenario.name, "split": split},
        "fit": {
            **fitted,
            "construction": {"kind": kind.name, **params},
            "scenario": scenario.name,
            "split": split,
            "scores": record,
            "seconds": seconds,
            "llm": cost,
        },
    }
    write_json(args.out, payload)
    fallback = " (no usable crafted prompt: the fixed-prompt fallback)" if built.info.get("fallback") else ""
    fit_w1 = (
        f", fit W1 {fitted['fit_w1']:.3f} (fixed prompt {fitted['baseline_w1']:.3f})"
        if fitted.get("fit_w1") is not None and fitted.get("baseline_w1") is not None
        else ""
    )
    print(
        f"{kind.name} on {scenario.name}: {len(population)} components{fallback}{fit_w1}; test half: W1 sampled "
        f"{record['w1_sampled_mean']:.3f} ± {record['w1_sampled_sd']:.3f} (n={floor.n}) vs human floor "
        f"{floor.mean:.3f} ± {floor.sd:.3f}; W1 exact {record['w1_exact']:.3f}; "
        f"{cost['requests']} requests, {cost['backend_calls']} backend calls, "
        f"{cost['prompt_tokens'] + cost['completion_tokens']} tokens; {seconds} s -> {args.out}"
    )
    return 0


def _cost(model: Any, crafter: Any) -> dict[str, int]:
    """Requests, backend calls and tokens of the fit (respondent plus a separate crafter)."""
    total = dict(model.cost())
    if crafter is not None:
        for k, v in crafter.cost().items():
            if isinstance(v, int | float) and isinstance(total.get(k), int | float):
                total[k] += v
    return total
