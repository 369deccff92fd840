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
        help="comma-separated populations to build and score: fixed_prompt, em, gb (fast sizes)",
    )
    p.add_argument(
        "--plan", action="store_true", help="print the settings and an estimate of LLM requests and tokens; run nothing"
    )
    add_data_args(p)
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo (or print its plan) and print the table and the backend calls made."""
    import json
    from pathlib import Path

    from experiments.demo import DEFAULT_SCENARIOS, plan_demo, resolve_constructions, run_demo
    from experiments.reporting import records_table
    from scenarios.registry import get_scenario

    scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip()) if args.scenarios else None
    scenarios = scenarios or DEFAULT_SCENARIOS
    for name in scenarios:  # fail on an unknown scenario before loading the model
        get_scenario(name, source=args.data)
    names = [c.strip() for c in args.constructions.split(",") if c.strip()]
    builds = resolve_constructions(names)
    if args.plan:
        print(plan_demo(scenarios, names, source=args.data))
        return 0
    from experiments.common import model_from_args

    model = model_from_args(args)
    records = run_demo(model, args.out, source=args.data, seed=args.seed, scenarios=scenarios, constructions=builds)
    run_info = json.loads((Path(args.out) / "run.json").read_text())
    print(records_table(records))
    fallbacks = [f"{r['scenario']}/{r['construction']}" for r in records if r.get("fallback")]
    if fallbacks:
        print(f"no usable crafted prompt (fixed-prompt fallback, reasons in report.md): {', '.join(fallbacks)}")
    print(
        f"backend requests made: {run_info.get('backend_requests')} "
        f"({run_info.get('backend_forward_passes')} forward passes), cache hits: {run_info.get('cache_hits')}, "
        f"{run_info.get('seconds')} s; wrote {args.out}/scores.json, report.md, histograms.png"
    )
    return 0
