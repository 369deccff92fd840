"""``populace compare STUDY.toml --out D``: build every construction of a study, score all on held-out humans.

The study file (see :mod:`experiments.study_schema` and ``experiments/configs/study_small.toml``) declares
scenarios, the fit/test split, the evaluation sizes and the constructions, each of a kind of the construction
registry (:mod:`populations.constructions`: ``fixed``, ``pool``, ``demographic``, ``file``, ``em``, ``gb``,
``mop``, ``aligned`` or a plugin's kind). Each construction is fitted on the fit half of each scenario's humans
through the cache-wrapped model and scored on the test half. The folder ``D`` receives ``table.csv/.md``,
``cost.csv/.md``, ``grid.png``, ``scores.json``, ``report.md`` and ``run.json``; a rerun answers every request from
the cache and writes identical score tables. ``--plan`` prints the constructions, sizes and an estimate of LLM
requests without loading a model.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from experiments.common import add_crafter_args, add_model_args
from experiments.plan import add_plan_flag

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare`` sub-command."""
    p = sub.add_parser(
        "compare",
        help="build and compare population constructions on held-out humans (STUDY.toml)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("study", help="study file (see experiments/configs/study_small.toml)")
    p.add_argument("--out", default=None, help="output folder (required unless --plan)")
    add_plan_flag(p)
    p.add_argument(
        "--save-populations",
        action="store_true",
        help="also write each construction's population to OUT/populations/SCENARIO--CONSTRUCTION.json "
        '(for run, whatif, select, or a kind = "file" construction)',
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="root seed overriding every seed of the study file (split, floor, builders)",
    )
    add_crafter_args(p)
    add_model_args(p)
    p.set_defaults(func=run)


def _print_rows(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(_cell(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(_cell(r.get(c)).ljust(widths[c]) for c in columns))


def _cell(v: object) -> str:
    if v is None:
        return ""
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def compare_plan(study: Any) -> Any:
    """The :class:`~experiments.plan.Plan` of a study (:func:`experiments.study.plan_study`: every check first)."""
    from experiments.plan import Plan
    from experiments.study import plan_study, prepare_study

    prepared = prepare_study(study)
    rows = plan_study(study, prepared)
    checks = [
        f"study {study.path}: {len(study.constructions)} constructions × {len(study.scenarios)} scenarios, "
        f"split seed {study.split_seed} (fit fraction {study.fit_fraction}), n = {study.agents} agents, "
        f"{study.repeats} repeats"
    ]
    checks += [
        f"human data of {ps.scenario.name}: {ps.fit.shape[0]} fit / {ps.test.shape[0]} test respondents"
        + ("".join(f"; {p.name}: {h.test.shape[0]} test" for p, h in zip(ps.parts, ps.part_halves, strict=True))
           if ps.joint else "")
        for ps in prepared
    ]  # fmt: skip
    checks.append("construction inputs and answer-scale needs (population files, pools, ordered answers)")
    cols = ["construction", "kind", "scenario", "dimensions", "questions", "components", "est_requests", "est_tokens"]
    return Plan("compare", checks=checks, rows=rows, columns=cols)


def run(args: argparse.Namespace) -> int:
    """Validate the study, then plan or run it, write the folder and print the tables."""
    from experiments.influence_run import is_influence_study

    if is_influence_study(args.study):  # kind = "influence": humans vs LLM societies vs classical models
        from experiments.cmd_influence import run_study_file

        return run_study_file(args, args.study)
    from experiments.plan import print_plan
    from experiments.study import StudyError, load_study, with_seed

    study = with_seed(load_study(args.study), args.seed)
    if args.plan:
        return print_plan(compare_plan(study))
    if not args.out:
        raise StudyError("compare: --out FOLDER is required (or pass --plan)")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise StudyError(f"compare: --out {out} is a file; name a folder")

    from experiments.cmd_run import command_line
    from experiments.common import crafter_from_args, model_from_args
    from experiments.reporting import cache_stats, save_populations, write_study
    from experiments.study import prepare_study, run_study
    from populace_lm.progress import set_progress

    if args.quiet:
        set_progress(False)
    prepared = prepare_study(study)  # scenarios, humans, splits and floors before the model is built
    model = model_from_args(args)
    crafter = crafter_from_args(args)
    try:
        result = run_study(study, model, prepared=prepared, progress=not args.quiet, crafter=crafter)
        write_study(
            out,
            result,
            model_id=str(getattr(model, "model_id", "unknown")),
            cache=cache_stats(model),
            command=command_line(args),
        )
        saved = save_populations(out, result) if args.save_populations else []
    finally:
        for m in (model, crafter):
            close = getattr(m, "close", None)
            if callable(close):
                close()
    if any(r.get("metric") == "tv" for r in result.scores):  # unordered categories: TV, in the same columns
        shown = [
            {**r, **{k: r.get(f"{r.get('metric', 'w1')}_{k}") for k in ("exact", "sampled_mean", "sampled_sd")}}
            for r in result.scores
        ]
        columns = ["scenario", "construction", "metric", "exact", "sampled_mean", "sampled_sd", "floor_mean"]
        _print_rows(shown, [*columns, "worth_k", "parse_failure_rate"])
    else:
        _print_rows(
            result.scores,
            ["scenario", "construction", "w1_exact", "w1_sampled_mean", "w1_sampled_sd", "floor_mean",
             "worth_k", "worth_k_lo", "worth_k_hi", "parse_failure_rate"],
        )  # fmt: skip
    print()
    _print_rows(
        [r for r in result.cost],
        [
            "construction",
            "scenario",
            "requests",
            "cached",
            "backend_calls",
            "prompt_tokens",
            "completion_tokens",
            "seconds",
        ],
    )
    if result.vectors:
        print()
        _print_rows(
            result.vectors,
            ["scenario", "construction", "amw_sampled_mean", "amw_floor_mean", "corr_mae_sampled_mean",
             "corr_mae_floor_mean"],
        )  # fmt: skip
    if result.treatment:
        print()
        _print_rows(
            [r for r in result.treatment if r["kind"] != "item"],
            ["scenario", "construction", "outcome", "difference", "ci_low", "ci_high", "exact_difference"],
        )
    extra = ", multivariate.md, multivariate.csv" if result.vectors else ""
    extra += ", treatment.md, treatment.csv, treatment.png" if result.treatment else ""
    print(f"\nwrote {out}/table.md, table.csv, cost.md, cost.csv, grid.png, scores.json, report.md, run.json{extra}")
    if saved:
        print(f"wrote {len(saved)} population files to {out}/populations/ ({', '.join(p.name for p in saved)})")
    return 0
