"""``populace whatif``: a control and an intervention on the same population and seeds, paired CIs and plots.

Two kinds of intervention:

* game parameters: ``--scenario public_goods --baseline multiplier=1.6 --intervention multiplier=2.4``;
* a treatment message for any survey or decision scenario (built-in or ``FILE.toml[:DIMENSION]``), added before
  each question (``--where question``, default) or to the persona's system prompt (``--where system``):
  ``--scenario bigfive:A --treatment "Your neighbours describe you as warm."``.

Progress bars follow the global ``--quiet``/``--verbose`` (:func:`populace_lm.progress.progress_enabled`).
"""

from __future__ import annotations

import argparse
from typing import Any

from experiments.cmd_run import SCENARIO_HELP, add_simulation_args, command_line, config_from_args, load_population
from experiments.common import add_model_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``whatif`` sub-command."""
    p = sub.add_parser(
        "whatif", help="what-if: control vs intervention (game parameters or a treatment message), paired seeds"
    )
    p.add_argument("--scenario", required=True, help=SCENARIO_HELP)
    p.add_argument("--baseline", nargs="+", default=[], metavar="NAME=VALUE", help="baseline game parameters")
    p.add_argument(
        "--intervention",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="intervention game parameters (e.g. multiplier=2.4)",
    )
    p.add_argument(
        "--treatment",
        default=None,
        metavar="TEXT",
        help="intervention message shown to the treated condition (surveys, decision tasks and games)",
    )
    p.add_argument(
        "--where",
        choices=("question", "system"),
        default="question",
        help="put the treatment before each question (default) or after the persona's system prompt",
    )
    p.add_argument("--seeds", type=int, default=10, help="paired replicates (default 10)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="game parameters shared by both conditions, repeatable",
    )
    add_simulation_args(p, default_agents=40, default_rounds=5)
    add_model_args(p)
    p.set_defaults(func=run)


def whatif_plan(conditions: Any, population: Any, source: str) -> Any:
    """The :class:`~experiments.plan.Plan` of a what-if: both conditions of the checked config and population."""
    from experiments.cmd_run import run_plan
    from experiments.plan import ANSWER_TOKENS

    plan = run_plan(conditions.config, population, source)
    plan.command = "whatif"
    one = plan.rows[0]["est_requests"]
    treated = "treatment" if conditions.treatment is not None else "intervention parameters"
    plan.rows = [
        {"what": "control", "est_requests": one, "est_tokens": one * ANSWER_TOKENS},
        {"what": treated, "est_requests": one, "est_tokens": one * ANSWER_TOKENS},
    ]
    return plan


def run(args: argparse.Namespace) -> int:
    """Validate both conditions, run them paired, write the folder and print the differences."""
    from experiments.common import model_from_args
    from experiments.plan import print_plan
    from experiments.reporting import write_whatif
    from populace_lm.progress import progress_enabled
    from simulator import DecisionService, Treatment, WhatIfConditions, parse_assignments, run_whatif

    treatment = Treatment(text=args.treatment, where=args.where) if args.treatment is not None else None
    conditions = WhatIfConditions(  # checked here, before the population and the model load (one-line errors)
        config=config_from_args(args, replicates=args.seeds),
        baseline=parse_assignments(args.baseline),
        intervention=parse_assignments(args.intervention),
        treatment=treatment,
    )
    config = conditions.config
    population, source = load_population(args.population)
    if args.plan:
        return print_plan(whatif_plan(conditions, population, source))
    llm = model_from_args(args)
    service = DecisionService(llm, progress=progress_enabled())
    result = run_whatif(
        config,
        population,
        service,
        baseline=conditions.baseline,
        intervention=conditions.intervention,
        treatment=treatment,
        progress=progress_enabled(),
    )
    out = write_whatif(
        args.out, result, llm_model=llm, population=population, population_source=source, command=command_line(args)
    )
    print(result.differences.round(4).to_string(index=False))
    print(f"\n{service.summary(config.n_agents * config.replicates * 2)}")
    s = result.stats
    print(f"LLM cost: {s['backend_calls']} backend calls, {s['prompt_tokens'] + s['completion_tokens']} tokens")
    plots = "effects.png" if result.is_survey else "one PNG per outcome"
    print(f"wall time {result.wall_seconds:.1f} s; wrote {out}/report.md, differences.csv and {plots}")
    return 0
