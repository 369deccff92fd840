"""``populace demo``: the shipped study ``experiments/configs/demo.toml`` on the embedded model (:mod:`experiments.demo`)."""

from __future__ import annotations

import argparse

from experiments.common import add_data_args, add_model_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    p = sub.add_parser("demo", help="score simulated populations against held-out humans (embedded model)")
    p.add_argument("--out", required=True, help="output folder (scores.json, report.md, histograms.png, run.json)")
    p.add_argument("--scenarios", default=None, help="comma-separated scenarios (default: bigfive:E,dictator)")
    p.add_argument(
        "--constructions",
        default=None,
        help="comma-separated constructions of the demo study to run: fixed, em, gb (default: all, fast sizes)",
    )
    p.add_argument(
        "--plan", action="store_true", help="print the settings and an estimate of LLM requests; run nothing"
    )
    add_data_args(p)
    add_model_args(p)
    p.set_defaults(func=run)


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [c.strip() for c in text.split(",") if c.strip()]


def run(args: argparse.Namespace) -> int:
    """Run the demo (or print its plan) and print the table and the backend calls made."""
    import json
    from pathlib import Path

    from experiments.demo import demo_study, plan_demo, run_demo
    from experiments.reporting import TERMINAL_COLUMNS, markdown_table
    from scenarios.registry import get_scenario

    study = demo_study(
        seed=args.seed, scenarios=_names(args.scenarios), constructions=_names(args.constructions), source=args.data
    )
    for name in study.scenarios:  # fail on an unknown scenario before loading the model
        get_scenario(name, source=args.data)
    if args.plan:
        print(plan_demo(study))
        return 0
    from experiments.common import model_from_args

    model = model_from_args(args)
    records = run_demo(
        model,
        args.out,
        source=args.data,
        seed=args.seed,
        scenarios=study.scenarios,
        constructions=[c.name for c in study.constructions],
    )
    run_info = json.loads((Path(args.out) / "run.json").read_text())
    print(markdown_table(records, TERMINAL_COLUMNS))
    inference_csv = Path(args.out) / "inference.csv"
    if inference_csv.is_file():  # the study's [inference]: twins plus a few humans (report.md has the tables)
        import pandas as pd

        from experiments.reporting_infer import summary_lines

        frame = pd.read_csv(inference_csv, keep_default_na=False)
        for line in summary_lines(frame.to_dict("records")):
            print(line)
    fallbacks = [f"{r['scenario']}/{r['construction']}" for r in records if r.get("fallback")]
    if fallbacks:
        print(f"no usable crafted prompt (fixed-prompt fallback, reasons in report.md): {', '.join(fallbacks)}")
    print(
        f"backend requests made: {run_info.get('backend_requests')} "
        f"({run_info.get('backend_forward_passes')} forward passes), cache hits: {run_info.get('cache_hits')}, "
        f"{run_info.get('seconds')} s; wrote {args.out}/scores.json, report.md, histograms.png, run.json"
        + (", inference.csv/.md/.png, power.csv/.md" if inference_csv.is_file() else "")
    )
    return 0
