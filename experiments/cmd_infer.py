"""``populace infer --scenario S --humans 50,100,200 --out D``: valid estimates about humans from twins plus humans.

Every human row of a scenario with declared demographic columns gets a digital twin (a persona written from its
demographics; one per distinct profile), whose exact answer distribution predicts the row's answers. With ``n``
labelled humans from the fit half and the twins' predictions for every other row (or for the rows of a population
frame file, ``--frame``), it writes human-only, simulation-only, PPI and PPI++ intervals for the mean, the median
(ordered answers) or each category's share (unordered answers) of every score, item and subgroup, checked against
the test half (:mod:`populations.twin_inference`; definitions in ``docs/inference.md``). ``D`` receives
``inference.csv/.md``, ``power.csv/.md``, ``inference.png``, ``report.md`` and ``run.json``. ``--plan`` makes every
check (demographics declared, ``n`` within the fit half, the frame's columns) and prints the twins' request count.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from experiments.common import add_model_args
from experiments.errors import UsageError
from experiments.plan import add_plan_flag

__all__ = ["inference_plan", "parse_humans", "register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``infer`` sub-command."""
    p = sub.add_parser(
        "infer",
        help="estimates about humans from digital twins plus a few humans (PPI), checked on the test half",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--scenario", required=True, help="a scenario with data.demographics (name or FILE.toml[:DIM])")
    p.add_argument("--humans", default="50,100,200", help="labelled sizes n from the fit half (default 50,100,200)")
    p.add_argument("--alpha", type=float, default=0.1, help="1 - interval level (default 0.1: 90%% intervals)")
    p.add_argument(
        "--columns", default=None, help="demographic columns that define a twin (default: every declared column)"
    )
    p.add_argument("--frame", default=None, help="population frame CSV of demographics for the unlabelled set")
    p.add_argument("--min-group", type=int, default=10, help="fewest labelled humans a subgroup needs (default 10)")
    p.add_argument("--seed", type=int, default=0, help="root seed (split and labelled draws)")
    p.add_argument("--fit-fraction", type=float, default=0.5, help="share of rows in the fit half (default 0.5)")
    p.add_argument("--data", default=None, help="human data directory or URL (default $POPULACE_DATA)")
    p.add_argument("--out", default=None, help="output folder (required unless --plan)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_plan_flag(p)
    add_model_args(p)
    p.set_defaults(func=run)


def parse_humans(text: str) -> tuple[int, ...]:
    """``"50,100,200"`` → ``(50, 100, 200)``.

    Raises:
        UsageError: a non-integer or a size below 2.
    """
    try:
        sizes = tuple(sorted({int(t) for t in str(text).split(",") if t.strip()}))
    except ValueError:
        raise UsageError(f"--humans {text!r}: give labelled sizes as integers, e.g. --humans 50,100,200") from None
    if not sizes or sizes[0] < 2:
        raise UsageError(f"--humans {text!r}: give labelled sizes of at least 2, e.g. --humans 50,100,200")
    return sizes


def _prepare(args: argparse.Namespace) -> Any:
    from populations.twin_inference import InferenceSettings, prepare_inference
    from scenarios import get_scenario

    if not 0.0 < args.alpha < 1.0:
        raise UsageError(f"--alpha {args.alpha}: give a number in (0, 1), e.g. 0.1 for 90% intervals")
    if not 0.0 < args.fit_fraction < 1.0:
        raise UsageError(f"--fit-fraction {args.fit_fraction}: give a number in (0, 1)")
    if args.frame is not None and not Path(args.frame).is_file():
        raise UsageError(f"--frame {args.frame}: no such file; pass a CSV of the demographic columns")
    settings = InferenceSettings(
        humans=parse_humans(args.humans),
        alpha=args.alpha,
        columns=None if not args.columns else tuple(c.strip() for c in args.columns.split(",") if c.strip()),
        frame=args.frame,
        min_group=args.min_group,
    )
    scenario = get_scenario(args.scenario, source=args.data) if args.data else get_scenario(args.scenario)
    return prepare_inference(
        scenario, settings, seed=args.seed, split_seed=args.seed, fit_fraction=args.fit_fraction, source=args.data
    )


def inference_plan(prepared: Any) -> Any:
    """The :class:`~experiments.plan.Plan` of a twin-inference run: its checks and the twins' requests."""
    from experiments.plan import ANSWER_TOKENS, Plan

    p = prepared
    frame = f"; unlabelled: {p.frame_profile.size} frame rows" if p.frame_profile is not None else ""
    checks = [
        f"human data of {p.scenario.name}: {p.n_rows} rows, {p.fit_idx.size} fit / {p.test_idx.size} test; "
        f"labelled sizes {sorted(p.labelled)} drawn from the fit half{frame}",
        f"twins: {len(p.profiles)} distinct profiles of {list(p.profiles.columns)}",
    ]
    requests = len(p.profiles) * p.n_questions
    rows = [{"what": f"twins × {p.n_questions} questions", "est_requests": requests,
             "est_tokens": requests * ANSWER_TOKENS}]  # fmt: skip
    return Plan("infer", checks=checks, rows=rows)


def run(args: argparse.Namespace) -> int:
    """Check, then ask the twins, estimate, write the folder and print the score table."""
    from experiments.plan import print_plan

    prepared = _prepare(args)
    if args.plan:
        return print_plan(inference_plan(prepared))
    if not args.out:
        raise UsageError("infer: --out FOLDER is required (or pass --plan)")
    from experiments.common import model_from_args, write_json
    from experiments.reporting import backend_activity
    from experiments.reporting_infer import (
        inference_markdown,
        inference_section,
        merge_outputs,
        power_markdown,
        write_inference,
    )
    from populations.twin_inference import run_inference

    model = model_from_args(args)
    try:
        out = merge_outputs({prepared.scenario.name: run_inference(prepared, model, progress=not args.quiet)})
    finally:
        close = getattr(model, "close", None)
        if callable(close):
            close()
    folder = Path(args.out)
    written = write_inference(folder, out)
    report = ["# Populace inference report", "", f"Scenario `{prepared.scenario.name}`, seed {args.seed}.", ""]
    report += inference_section(out, figure="inference.png" if out["records"] else None)
    (folder / "report.md").write_text("\n".join(report) + "\n", encoding="utf-8")
    write_json(
        folder / "run.json",
        {"kind": "populace.infer", "scenario": prepared.scenario.name, "humans": sorted(prepared.labelled),
         "twins": out["twins"], "model": str(getattr(model, "model_id", "?")), **backend_activity(model)},
    )  # fmt: skip
    print(inference_markdown(out["records"]), end="")
    if out["power"]:
        print()
        print(power_markdown(out["power"]), end="")
    names = ", ".join(p.name for p in written)
    print(f"\nwrote {folder}/{names}, report.md, run.json")
    return 0
