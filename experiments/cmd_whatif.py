"""``populace whatif``: baseline vs intervention on the same population and seeds, paired CIs and plots."""

from __future__ import annotations

import argparse

from experiments.cmd_run import add_simulation_args, command_line, config_from_args, load_population
from experiments.common import add_model_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``whatif`` sub-command."""
    p = sub.add_parser("whatif", help="policy what-if: baseline vs intervention with paired seeds")
    p.add_argument("--scenario", required=True, help="a game: public_goods, dictator, ultimatum, trust, bomb_risk")
    p.add_argument("--baseline", nargs="+", default=[], metavar="NAME=VALUE", help="baseline parameters")
    p.add_argument(
        "--intervention",
        nargs="+",
        required=True,
        metavar="NAME=VALUE",
        help="intervention parameters (e.g. multiplier=2.4)",
    )
    p.add_argument("--seeds", type=int, default=10, help="paired replicates (default 10)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="parameters shared by both conditions, repeatable",
    )
    add_simulation_args(p, default_agents=40, default_rounds=5)
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate both conditions, run them paired, write the folder and print the differences."""
    from experiments.common import model_from_args
    from simulator.decisions import DecisionService
    from simulator.whatif import parse_assignments, run_whatif, write_whatif

    baseline, intervention = parse_assignments(args.baseline), parse_assignments(args.intervention)
    config = config_from_args(args, replicates=args.seeds)
    if config.is_survey:
        raise ValueError(f"what-if needs a game scenario, got {args.scenario!r}")
    for cond in (baseline, intervention):
        config.game.with_params(**cond)  # unknown parameter / out of range → error before any LLM call
    population, source = load_population(args.population)
    llm = model_from_args(args)
    service = DecisionService(llm, progress=not args.quiet)
    result = run_whatif(
        config, population, service, baseline=baseline, intervention=intervention, progress=not args.quiet
    )
    out = write_whatif(
        args.out, result, llm_model=llm, population=population, population_source=source, command=command_line(args)
    )
    print(result.differences.round(4).to_string(index=False))
    print(f"\n{service.summary(config.n_agents * config.replicates * 2)}")
    print(f"wall time {result.wall_seconds:.1f} s; wrote {out}/report.md, differences.csv and one PNG per outcome")
    return 0
