"""``populace fit --builder em|gb|mop --scenario NAME --out mixture.json``: fit a population to human data.

Splits the scenario's humans 50/50 (seeded), fits the builder on the fit half, scores the fitted mixture on the test
half, and saves prompts, weights, component distributions, history, cost and scores as JSON.
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
    p.add_argument("--scenario", required=True, help="bigfive:E|N|A|C|O or a game role (dictator, …)")
    p.add_argument("--out", required=True, help="output JSON file")
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


def run(args: argparse.Namespace) -> int:
    """Fit, score on the test half, write the JSON, print a summary."""
    import numpy as np

    from experiments.exp_seed000 import crafter_from_args
    from populace_lm.types import stable_seed
    from populations.evaluation import evaluate_mixture, split_humans
    from scenarios.registry import get_scenario

    scenario = get_scenario(args.scenario, source=args.data)
    values = scenario.human_values(args.data)
    fit, test = split_humans(
        values,
        fit_fraction=args.fit_fraction,
        rng=np.random.default_rng([args.seed, stable_seed("split", scenario.name)]),
    )
    builder = make_builder(args)
    model = model_from_args(args)
    crafter = crafter_from_args(args) if args.builder != "mop" else None
    if args.builder == "mop":
        builder.respondent = model
    else:
        builder.respondent, builder.crafter = model, crafter
    started = time.perf_counter()
    builder.fit(scenario, fit)
    seconds = round(time.perf_counter() - started, 2)
    scores = evaluate_mixture(
        builder.weights_, builder.component_pmfs_, builder.support_, test, rng=np.random.default_rng([args.seed, 3])
    )
    payload: dict[str, Any] = {
        **builder.to_dict(),
        "scenario": scenario.name,
        "split": {
            "seed": args.seed,
            "fit_fraction": args.fit_fraction,
            "n_fit": int(fit.size),
            "n_test": int(test.size),
        },
        "test_scores": scores,
        "seconds": seconds,
    }
    write_json(args.out, payload)
    cost = builder.cost_["total"]
    print(
        f"{args.builder} on {scenario.name}: {len(builder.prompts_)} components, fit W1 {builder.fit_loss_:.3f} "
        f"(fixed prompt {builder.baseline_loss_:.3f}), test W1 {scores['w1_exact']:.3f} exact, "
        f"{scores['w1_sampled_mean']:.3f} ± {scores['w1_sampled_sd']:.3f} sampled; "
        f"{cost['requests']} requests, {cost['backend_calls']} backend calls, "
        f"{cost['prompt_tokens'] + cost['completion_tokens']} tokens; {seconds} s → {args.out}"
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
