"""``populace describe --scenario S``: the human statistics a scenario file was read into, before any model runs.

Prints what reading the data counted (rows read, filtered out, all missing; per column missing, out of scale,
rounded, binned), then ``n``, mean and sd of every item (in value units: an ordinal category's ``value``), every
dimension's score and, when the file declares groups (``data.group`` or ``data.files``), every group's scores —
weighted means beside them when ``data.weight`` is declared. ``--split fit|test`` describes one half of the one
seeded split. ``--out FILE.csv`` also writes the table. No language model is loaded: the check that a file was read
right, without writing Python.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["describe_rows", "register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``describe`` sub-command."""
    p = sub.add_parser(
        "describe",
        help="print the loaded human statistics of a scenario: n, mean, sd per item, dimension and group",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--scenario", required=True, help="a built-in scenario or FILE.toml[:DIMENSION][@GROUP]")
    p.add_argument("--split", default="all", choices=("all", "fit", "test"), help="rows to describe (default all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fit/test split (with --split)")
    p.add_argument(
        "--data", default=None, help="human data directory or URL (default $POPULACE_DATA or ../shared/data)"
    )
    p.add_argument("--out", default=None, help="also write the table to this CSV file")
    p.set_defaults(func=run)


def _stats(level: str, name: str, values: Any, weights: Any) -> dict[str, Any]:
    import numpy as np

    x = np.asarray(values, dtype=float)
    ok = ~np.isnan(x)
    x = x[ok]
    row: dict[str, Any] = {"level": level, "name": name, "n": int(x.size)}
    row["mean"] = float(x.mean()) if x.size else float("nan")
    row["sd"] = float(x.std(ddof=1)) if x.size > 1 else float("nan")
    row["min"] = float(x.min()) if x.size else float("nan")
    row["max"] = float(x.max()) if x.size else float("nan")
    if weights is not None:
        w = np.asarray(weights, dtype=float)[ok]
        row["weighted_mean"] = float(np.average(x, weights=w)) if x.size and w.sum() > 0 else float("nan")
    return row


def describe_rows(scenario: Any, *, split: str = "all", seed: int = 0, source: Any = None) -> list[dict[str, Any]]:
    """One statistics row per item, dimension and group: ``level, name, n, mean, sd, min, max[, weighted_mean]``.

    Items are in value units (:meth:`~scenarios.file_scenarios.SurveyScenario.answer_values`); a dimension's score
    counts the respondents complete on its items (as every command scores it); groups are the values of
    ``data.group`` (or the ``data.files`` groups), each with its dimensions' scores.

    Args:
        scenario: a file scenario (survey or decision task), one or several dimensions.
        split: ``"all"``, ``"fit"`` or ``"test"`` (:func:`scenarios.file_scenarios.split_rows`).
        seed: the split's seed.
        source: the data source (``--data``).
    """
    import numpy as np

    from scenarios.errors import ScenarioError
    from scenarios.file_scenarios import FileHumans, SurveyScenario, split_rows
    from scenarios.registry import dimension_scenarios

    if not isinstance(scenario, FileHumans):
        raise ScenarioError(f"describe reads a scenario's human data file, and {scenario.name!r} has none")
    rows = scenario.rows(source)
    half = rows.take(split_rows(rows.n, split, seed))
    out = []
    if isinstance(scenario, SurveyScenario):
        for item in (i for d in scenario.dimensions for i in scenario.spec.dimension(d).items):
            scale = scenario.spec.scale_of(item)
            a = half.answers[:, half.columns.index(item)]  # answers: the range's numbers, or option numbers 1..C
            ok = ~np.isnan(a)
            v = np.full(a.shape, np.nan)
            v[ok] = scale.values[(a[ok] - scale.answers.low).astype(int)]
            out.append(_stats("item", item, v, half.weights))
    else:  # a decision task: its answers (binned as the humans were) are the values
        out.append(_stats("item", half.columns[0], half.answers[:, 0], half.weights))
    parts = dimension_scenarios(scenario)
    for part in parts:
        scores = part._row_scores(half)
        out.append(_stats("dimension", part.name, scores, half.weights))
    if half.groups is not None and not scenario.group:
        for g in sorted(set(half.groups.tolist())):
            sub = half.take(np.flatnonzero(half.groups == g))
            for part in parts:
                out.append(_stats("group", f"{part.name}@{g}", part._row_scores(sub), sub.weights))
    return out


def run(args: argparse.Namespace) -> int:
    """Print the reading counts and the statistics table (and write it with ``--out``)."""
    import pandas as pd

    from scenarios.registry import get_scenario

    scenario = get_scenario(args.scenario, source=args.data)
    table = describe_rows(scenario, split=args.split, seed=args.seed, source=args.data)
    report = scenario.data_report(args.data)
    print(
        f"{scenario.name}: {report.get('rows_read', '?')} rows read from {report.get('file', '?')}; "
        f"{report.get('rows_filtered_out', 0)} filtered out, {report.get('rows_all_missing', 0)} with every item "
        f"missing, {report.get('rows_weight_missing', 0)} without a weight; {report.get('rows_kept', '?')} kept"
        + (f"; describing the {args.split} half (seed {args.seed})" if args.split != "all" else "")
    )
    for col, counts in report.get("columns", {}).items():
        shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        if shown:
            print(f"  column {col}: {shown}")
    df = pd.DataFrame(table)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.out:
        df.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    return 0
