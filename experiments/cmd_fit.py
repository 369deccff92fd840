"""``populace fit --builder em|gb|mop --scenario NAME --out population.json``: fit a population to human data.

Splits the scenario's human rows with the one seeded split (:func:`populations.evaluation.human_split`), fits the
builder on the fit half only, scores it on the test half with :mod:`populations.evaluation` (W1 sampled beside the
human floor, W1 exact apart) and writes **one population file**: a ``populace.population`` document (personas =
the fitted prompts, weights) that ``run``, ``whatif``, ``compare`` and ``select`` read, carrying the full fit record
(prompts, targets, component distributions, history, cost, split and test scores) under the key ``"fit"``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from experiments.common import add_data_args, add_model_args, model_from_args, write_json


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``fit`` sub-command."""
    p = sub.add_parser(
        "fit",
        help="fit a prompt-mixture (em/gb) or Mixture-of-Personas population to humans",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--builder", choices=("em", "gb", "mop"), required=True, help="construction")
    p.add_argument(
        "--scenario", required=True, help="a built-in scenario (bigfive:E, dictator, …) or FILE.toml[:DIMENSION]"
    )
    p.add_argument("--out", required=True, help="output population file (JSON, kind populace.population)")
    p.add_argument("--n-components", type=int, default=5, help="EM: crafted prompts K (default 5)")
    p.add_argument("--max-iter", type=int, default=5, help="EM: iterations (paper: 20; default 5)")
    p.add_argument("--rounds", type=int, default=10, help="GB: rounds (paper: up to 200; default 10)")
    p.add_argument("--patience", type=int, default=3, help="GB: rounds without W1 improvement before stopping")
    p.add_argument("--improve-rounds", type=int, default=1, help="crafting improve rounds R (default 1)")
    p.add_argument("--weight-method", choices=("lp", "slsqp"), default="lp", help="mixture-weight solver")
    p.add_argument("--pool", default="personahub", help="MoP: persona pool")
    p.add_argument("--n-personas", type=int, default=8, help="MoP: personas (default 8)")
    p.add_argument("--n-exemplars", type=int, default=2, help="MoP: exemplars per persona (default 2)")
    p.add_argument("--fit-fraction", type=float, default=0.5, help="share of humans in the fit half")
    p.add_argument("--crafter-model-path", default=None, help="separate GGUF crafter (default: the respondent)")
    p.add_argument("--crafter-base-url", default=None, help="separate OpenAI-compatible crafter endpoint")
    p.add_argument("--crafter-model", default=None, help="model name at the crafter endpoint")
    add_model_args(p)
    add_data_args(p)
    p.set_defaults(func=run)


def crafter_from_args(args: argparse.Namespace) -> Any:
    """A separate cache-wrapped crafter model from ``--crafter-*`` options, or None (= the respondent)."""
    if not (args.crafter_model_path or args.crafter_base_url or args.crafter_model):
        return None
    ns = argparse.Namespace(**vars(args))
    ns.model_path = args.crafter_model_path
    ns.base_url = args.crafter_base_url
    ns.model = args.crafter_model
    ns.backend = "openai" if (args.crafter_base_url or args.crafter_model) else "local"
    return model_from_args(ns)


def run(args: argparse.Namespace) -> int:
    """Fit on the fit half, score on the test half, write one population file, print a summary."""
    from populace_lm.seeds import seed_rng
    from populations.evaluation import builder_fit_info, human_halves, score_population, seeded_floor
    from scenarios.errors import ScenarioError
    from scenarios.registry import get_scenario

    scenario = get_scenario(args.scenario, source=args.data)
    if len(scenario.dimensions) > 1:
        raise ScenarioError(
            f"fit builds a population for one dimension, and {scenario.name!r} has {list(scenario.dimensions)}: "
            f"pick one as {args.scenario}:DIMENSION, or fit them together in a study file (populace compare, "
            "docs/study_files.md)"
        )
    halves = human_halves(scenario, seed=args.seed, source=args.data, fit_fraction=args.fit_fraction)
    fit, test = halves.fit, halves.test
    builder = make_builder(args)
    model = model_from_args(args)
    crafter = crafter_from_args(args) if args.builder != "mop" else None
    if args.builder == "mop":
        builder.respondent = model
    else:
        builder.respondent, builder.crafter = model, crafter
    started = time.perf_counter()
    builder.fit(scenario, fit, sample_weight=halves.fit_weights)
    seconds = round(time.perf_counter() - started, 2)
    floor = seeded_floor(scenario, test, seed=args.seed, weights=halves.test_weights)
    info = builder_fit_info(builder)
    record, _ = score_population(
        scenario=scenario,
        construction=args.builder,
        weights=builder.weights_,
        component_pmfs=builder.component_pmfs_,
        valid_mass=builder.valid_mass_,
        test=test,
        floor=floor,
        llm_calls=int(builder.cost_["total"]["requests"]),
        rng=seed_rng(args.seed, "score", scenario.name, args.builder),
        fit_info=info if args.builder != "mop" else None,
        test_weights=halves.test_weights,
    )
    split = {
        "seed": args.seed,
        "fit_fraction": args.fit_fraction,
        "n_fit": int(fit.size),
        "n_test": int(test.size),
        "weighted": halves.fit_weights is not None,
    }
    record_of_fit = {k: v for k, v in builder.to_dict().items() if k != "population"}
    population = builder.population_.to_dict()
    payload: dict[str, Any] = {
        **population,
        "metadata": {**population.get("metadata", {}), "scenario": scenario.name, "split": split},
        "fit": {**record_of_fit, "scenario": scenario.name, "split": split, "scores": record, "seconds": seconds},
    }
    write_json(args.out, payload)
    cost = builder.cost_["total"]
    fallback = " (no usable crafted prompt: the fixed-prompt fallback)" if info.get("fallback") else ""
    print(
        f"{args.builder} on {scenario.name}: {len(builder.prompts_)} components{fallback}, fit W1 "
        f"{builder.fit_loss_:.3f} (fixed prompt {builder.baseline_loss_:.3f}); test half: W1 sampled "
        f"{record['w1_sampled_mean']:.3f} ± {record['w1_sampled_sd']:.3f} (n={floor.n}) vs human floor "
        f"{floor.mean:.3f} ± {floor.sd:.3f}; W1 exact {record['w1_exact']:.3f}; "
        f"{cost['requests']} requests, {cost['backend_calls']} backend calls, "
        f"{cost['prompt_tokens'] + cost['completion_tokens']} tokens; {seconds} s -> {args.out}"
    )
    return 0


def make_builder(args: argparse.Namespace) -> Any:
    """The unfitted builder described by the options (models are attached by :func:`run`)."""
    if args.builder == "mop":
        from populations.mop import MixtureOfPersonasBuilder

        return MixtureOfPersonasBuilder(
            None,
            pool=args.pool,
            n_personas=args.n_personas,
            n_exemplars=args.n_exemplars,
            weight_method=args.weight_method,
            random_state=args.seed,
        )
    from populations.mixture import PromptMixtureBuilder

    return PromptMixtureBuilder(
        args.builder,
        n_components=args.n_components,
        max_iter=args.max_iter,
        n_rounds=args.rounds,
        patience=args.patience,
        improve_rounds=args.improve_rounds,
        weight_method=args.weight_method,
        random_state=args.seed,
    )
