"""``populace demo``: the main job on the embedded model (see :mod:`experiments.demo`)."""

from __future__ import annotations

import argparse

from experiments.common import add_data_args, add_model_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    p = sub.add_parser("demo", help="score simulated populations against held-out humans (embedded model)")
    p.add_argument("--out", required=True, help="output folder (scores.json, report.md, histograms.png)")
    p.add_argument("--scenarios", default=None, help="comma-separated scenarios (default: bigfive:E,dictator)")
    p.add_argument(
        "--constructions",
        default="fixed_prompt,em,gb",
        help="comma-separated populations to build and score: fixed_prompt, em, gb (fast profile)",
    )
    add_data_args(p)
    add_model_args(p)
    p.set_defaults(func=run)


def demo_rows(constructions: list[str]) -> tuple:
    """Row producers: the 1,000-human floor, then each named construction."""
    from experiments.demo import fixed_prompt_row, human_floor_row
    from experiments.exp_seed000 import demo_row

    known = {"fixed_prompt": lambda: fixed_prompt_row, "em": lambda: demo_row("em"), "gb": lambda: demo_row("gb")}
    unknown = [c for c in constructions if c not in known]
    if unknown:
        raise ValueError(f"unknown construction(s) {unknown}; use {sorted(known)}")
    return (human_floor_row, *(known[c]() for c in constructions))


def run(args: argparse.Namespace) -> int:
    """Run the demo and print the table and the backend calls made."""
    from experiments.common import model_from_args
    from experiments.demo import DEFAULT_SCENARIOS, run_demo
    from experiments.report import records_table

    scenarios = tuple(s.strip() for s in args.scenarios.split(",")) if args.scenarios else DEFAULT_SCENARIOS
    from scenarios.registry import get_scenario

    for name in scenarios:  # fail on an unknown scenario before loading the model
        get_scenario(name, source=args.data)
    rows = demo_rows([c.strip() for c in args.constructions.split(",") if c.strip()])
    model = model_from_args(args)
    records = run_demo(model, args.out, source=args.data, seed=args.seed, scenarios=scenarios, rows=rows)
    import json
    from pathlib import Path

    run_info = json.loads((Path(args.out) / "run.json").read_text())
    print(records_table(records))
    print(
        f"\nbackend requests made: {run_info.get('backend_requests')} "
        f"({run_info.get('backend_forward_passes')} forward passes), cache hits: {run_info.get('cache_hits')}, "
        f"{run_info.get('seconds')} s; wrote {args.out}/scores.json, report.md, histograms.png"
    )
    return 0
