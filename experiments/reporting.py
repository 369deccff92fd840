"""The one reporting module: manifests, Markdown tables and plots for runs, what-ifs and comparisons.

:mod:`simulator` returns results (:class:`~simulator.RunResult`, :class:`~simulator.WhatIfResult`,
:class:`~experiments.study.StudyResult`); this module turns them into a self-describing folder:

* ``populace run`` → ``records.parquet`` (tidy, one row per agent, round and role; identical bytes for the same
  seed and model), ``outcomes.csv``, ``manifest.json`` (config, seeds, package versions, model id, cache and
  sharing statistics, wall time) and ``report.md`` (:func:`write_run`);
* ``populace whatif`` → records, per-round outcomes, paired differences with Student-t CIs, plots, manifest and
  report (:func:`write_whatif`);
* ``populace compare`` → score and cost tables (CSV and Markdown), a histogram grid, manifest and report
  (:func:`write_study`);
* ``populace demo`` → the same report of its shipped study, ``scores.json``, ``histograms.png`` and ``run.json``
  (:func:`write_demo`).

Every Markdown table goes through :func:`markdown_table`. ``experiments.reporting`` is the one import point: the
run and what-if writers live in :mod:`experiments.reporting_runs` and the shared pieces (table writer, manifests,
package versions, cache statistics) in :mod:`experiments.tables`, both re-exported here; the comparison and demo
writers are defined here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.reporting_runs import (  # noqa: E402
    plot_effects,
    plot_outcome,
    run_report,
    whatif_report,
    write_run,
    write_whatif,
)
from experiments.tables import cache_stats, markdown_table, package_versions, write_manifest  # noqa: E402
from populations.evaluation import COLUMN_HELP, VECTOR_HELP, VECTOR_METRICS  # noqa: E402
from simulator import DIFFERENCE_COLUMNS  # noqa: E402

if TYPE_CHECKING:
    from experiments.study import StudyResult

__all__ = [
    "SCORE_COLUMNS",
    "TERMINAL_COLUMNS",
    "backend_activity",
    "cache_stats",
    "crafting_table",
    "grid_bins",
    "markdown_table",
    "package_versions",
    "plot_effects",
    "plot_outcome",
    "plot_study_grid",
    "run_report",
    "score_columns",
    "score_pivot",
    "study_report",
    "study_settings",
    "vectors_markdown",
    "whatif_report",
    "save_populations",
    "write_demo",
    "write_details",
    "write_manifest",
    "write_run",
    "write_study",
    "write_whatif",
]


# ----------------------------------------------------------------------------- compare and demo
# Like with like: every table sets the human floor beside ``w1_sampled`` (both are ``n`` draws against the test
# humans) and shows ``w1_exact`` apart from it, never beside the floor (see
# :data:`populations.evaluation.COLUMN_KINDS`).
SCORE_COLUMNS = (
    "scenario",
    "construction",
    "kind",
    "metric",
    "components",
    "w1_exact",
    "mean_exact",
    "human_test_mean",
    "parse_failure_rate",
    "w1_sampled_mean",
    "w1_sampled_sd",
    "floor_mean",
    "floor_sd",
    "floor_n",
    "worth_k",
    "worth_k_lo",
    "worth_k_hi",
    "worth_tasks",
    "repeats",
    "n_fit",
    "n_test",
    "n_failed",
    "llm_calls",
    "status",
)
#: The columns ``populace demo`` prints (the full table is in ``report.md``).
TERMINAL_COLUMNS = (
    "scenario",
    "construction",
    "w1_exact",
    "w1_sampled_mean",
    "w1_sampled_sd",
    "floor_mean",
    "floor_sd",
    "floor_n",
    "worth_k",
    "parse_failure_rate",
    "llm_calls",
    "status",
)
COST_COLUMNS = (
    "construction",
    "kind",
    "scenario",
    "requests",
    "cached",
    "backend_calls",
    "prompt_tokens",
    "completion_tokens",
    "seconds",
)


def _vector_section(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The report's multivariate section (empty when no scenario has several dimensions)."""
    if not rows:
        return []
    return [
        "## Multivariate scores (test half; scenarios with several dimensions)",
        "",
        "Each population is simulated as `n` agents per draw (a component drawn by weight; every item answered by "
        "a draw from that component's answer distribution) and scored on the vectors of dimension scores against "
        "the test humans' vectors; the floor is `n` test humans against the remaining test humans. Both are "
        "sampled, so they sit side by side (mean ± SD over the repeats). Lower is closer.",
        "",
        vectors_markdown(rows),
        "",
        *[f"- `{k}`: {v}" for k, v in VECTOR_HELP.items()],
        "- `mmd` is the unbiased estimate of MMD², which is slightly negative by chance when the two samples come "
        "from one distribution: such a value is shown as `0 (estimate −0.001)` (the CSV keeps the estimate).",
        "",
        "Also in `multivariate.csv` / `multivariate.md`. The per-dimension rows of these scenarios are in the "
        "score table above (`SCENARIO:DIMENSION`).",
        "",
    ]


TREATMENT_COLUMNS = (
    "scenario",
    "construction",
    *DIFFERENCE_COLUMNS,
    "exact_baseline",
    "exact_intervention",
    "exact_difference",
)


#: What a what-if effect is a statement about (issue 20 item 5): the simulated population, never humans.
SIMULATED_EFFECT_NOTE = (
    "**These effects are statements about the simulated population, not about humans.** The CIs cover the "
    "simulation's own noise only, not the gap between the simulation and people; no human data here holds both "
    "arms of this what-if, so nothing corrects the effect toward humans."
)


def _treatment_section(result: StudyResult, plot: str | None) -> list[str]:
    """The report's ``[treatment]`` section: score effects per construction (items in ``treatment.csv``)."""
    t = result.settings.get("treatment")
    if not t:
        return []
    scores = [r for r in result.treatment if r["kind"] != "item"]
    return [
        "## Treatment: the same what-if on every population",
        "",
        f"Message ({t['where']}): “{t['text']}”. Control and treatment run on the same {t['seeds']} seeds "
        f"({t['agents']} agents each), so every difference is paired; the CI is the paired "
        "Student-t interval over the seeds (mean ± t·sd/√seeds, `ci_method` = t), honest with few seeds. "
        "`exact_difference` is the population's expected effect from the answer "
        "distributions (no sampling), shown where the population is small enough to enumerate. Constructions "
        "share the seeds, so a gap between their effects is the construction's, not the draw's.",
        "",
        SIMULATED_EFFECT_NOTE,
        "",
        markdown_table(scores, TREATMENT_COLUMNS),
        "",
        "Per-item effects: `treatment.csv` / `treatment.md`. The what-if's LLM cost is in the cost table "
        "(scenario `… [treatment]`).",
        "",
        *([f"![treatment effects]({plot})", ""] if plot else []),
    ]


def plot_treatment(rows: Sequence[Mapping[str, Any]], path: Path, *, title: str) -> Path:
    """Forest plot of a study's treatment effects: ``construction · outcome`` rows, items left, scores right."""
    frame = pd.DataFrame(list(rows))
    frame["outcome"] = frame["construction"] + " · " + frame["scenario"] + " · " + frame["outcome"].astype(str)
    return plot_effects(frame, path, title=title)


def grid_bins(
    support: np.ndarray, values: np.ndarray, weights: np.ndarray | None, pmf: np.ndarray | None, *, max_bins: int = 25
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The one binning of ``grid.png``: humans and the population's pmf grouped by the same support points.

    Consecutive support points are grouped ``ceil(S / max_bins)`` at a time (whatever their spacing: sums, means of
    answered items, bins of 10, negative ordinal values); bin edges lie half-way between neighbouring points.

    Args:
        support: possible scores, ascending, shape ``(S,)``.
        values: human scores on the support, shape ``(m,)``.
        weights: their survey weights ``(m,)`` or None.
        pmf: the population's exact pmf on the support ``(S,)``, or None.
        max_bins: most bars drawn.

    Returns:
        ``(edges (B + 1,), human shares (B,), population shares (B,) or None)``.
    """
    s = np.asarray(support, dtype=float)
    width = max(1, int(np.ceil(s.size / max_bins)))
    group = np.arange(s.size) // width  # support index -> bin
    n_bins = int(group[-1]) + 1
    gap = np.diff(s).min() if s.size > 1 else 1.0
    mids = (s[1:] + s[:-1]) / 2
    bounds = np.concatenate([[s[0] - gap / 2], mids, [s[-1] + gap / 2]])
    edges = bounds[np.append(np.arange(0, s.size, width), s.size)]
    at = np.searchsorted(s, np.asarray(values, dtype=float))
    human = np.bincount(group[np.clip(at, 0, s.size - 1)], weights=weights, minlength=n_bins).astype(float)
    human = human / human.sum() if human.sum() > 0 else human
    sim = None if pmf is None else np.bincount(group, weights=np.asarray(pmf, dtype=float), minlength=n_bins)
    return edges, human, sim


def plot_study_grid(result: StudyResult, path: Path) -> Path:
    """Rows = constructions, columns = scenarios: test-human histogram (weighted) vs the population's exact pmf.

    Both are binned by :func:`grid_bins` (the same support points per bar); the x axis is the score.
    """
    import matplotlib

    matplotlib.use("Agg")

    scens = list(result.humans)
    cons = list(dict.fromkeys(r["construction"] for r in result.scores))
    fig, axes = plt.subplots(
        len(cons), len(scens), figsize=(3.6 * len(scens), 2.4 * len(cons) + 0.3), squeeze=False, sharex="col"
    )
    for j, s in enumerate(scens):
        support, test = result.humans[s]
        weights = result.human_weights.get(s)  # survey weights: the weighted histogram
        edges, human, _ = grid_bins(support, test, weights, None)
        for i, c in enumerate(cons):
            ax = axes[i][j]
            ax.stairs(human, edges, fill=True, alpha=0.45, color="tab:gray", label="test humans")
            pmf = result.pmfs.get((s, c))
            if pmf is not None:
                _, _, sim = grid_bins(support, test, weights, pmf)
                ax.stairs(sim, edges, color="tab:orange", linewidth=1.6, label="population (exact)")
            else:
                ax.text(0.5, 0.5, "failed", transform=ax.transAxes, ha="center")
            if i == 0:
                ax.set_title(s, fontsize=10)
            if j == 0:
                ax.set_ylabel(f"{c}\nshare", fontsize=9)
            if i == len(cons) - 1:
                ax.set_xlabel(f"score ({s})", fontsize=8)
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return path


def score_columns(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """:data:`SCORE_COLUMNS`, with the ``tv_*`` columns beside their W1 twins when a row is scored with TV."""
    columns = list(SCORE_COLUMNS)
    if any(r.get("metric") == "tv" for r in records):  # each beside its W1 twin; the floor stays after sampled
        columns.insert(columns.index("w1_exact") + 1, "tv_exact")
        columns.insert(columns.index("tv_exact") + 1, "simbench_s_exact")
        columns.insert(columns.index("human_test_mean") + 1, "category_gaps_exact")
        at = columns.index("floor_mean")
        columns[at:at] = ["tv_sampled_mean", "tv_sampled_sd"]
    return columns


def _pm(mean: float | None, sd: float | None) -> str:
    return "" if mean is None or sd is None else f"{mean:.3f} ± {sd:.3f}"


def _pm_mmd(mean: float | None, sd: float | None) -> str:
    """An MMD² cell: the unbiased estimator dips below 0 when both samples share a distribution; shown as 0."""
    if mean is None or sd is None:
        return ""
    if mean < 0:
        return f"0 (estimate {mean:.4f}) ± {sd:.3f}"
    return _pm(mean, sd)


def vectors_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """Multivariate scores: one row per scenario and construction, each metric sampled (mean ± sd) | floor."""
    cells = []
    for r in rows:
        cell = {k: r.get(k) for k in ("scenario", "construction", "dimensions", "n", "status")}
        for m in VECTOR_METRICS:
            pm = _pm_mmd if m == "mmd" else _pm
            cell[f"{m} sampled"] = pm(r.get(f"{m}_sampled_mean"), r.get(f"{m}_sampled_sd"))
            cell[f"{m} floor"] = pm(r.get(f"{m}_floor_mean"), r.get(f"{m}_floor_sd"))
        cells.append(cell)
    metrics = [f"{m} {k}" for m in VECTOR_METRICS for k in ("sampled", "floor")]
    return markdown_table(cells, ["scenario", "construction", "dimensions", "n", *metrics, "status"])


def crafting_table(records: Sequence[Mapping[str, Any]]) -> str:
    """Per row of a crafted construction: prompts kept, crafting jobs failed and why, whether and why it fell back.

    A crafting job is one prompt the builder asked the crafter to write (one per component to craft, per round);
    ``n_failed`` counts the jobs whose reply held no usable prompt, by reason (``failure_reasons``). A fallback
    names its reason (per dimension of a joint fit, from the row's ``status``).
    """
    from populations.crafting import FAILURE_DESCRIPTIONS

    rows = [r for r in records if r.get("n_crafted") is not None or r.get("n_failed") is not None]
    if not rows:
        return "No construction crafted prompts."
    cells = []
    for r in rows:
        reasons = r.get("failure_reasons") or {}
        why = "; ".join(f"{FAILURE_DESCRIPTIONS.get(k, k)} (×{v})" for k, v in reasons.items()) or "–"
        status = str(r.get("status") or "")
        fell = "no"
        if r.get("fallback") or status.startswith("fallback:"):
            reason = status.split("fallback:", 1)[1].split("; caution:")[0].strip() if "fallback:" in status else ""
            fell = "yes: " + (reason or "no usable crafted prompt")
        cells.append(
            {
                "scenario": r["scenario"],
                "construction": r["construction"],
                "crafted prompts kept": r.get("n_crafted"),
                "crafting jobs failed": "?" if r.get("n_failed") is None else r["n_failed"],
                "fell back to fixed prompt": fell,
                "why the jobs failed": why,
            }
        )
    return markdown_table(cells)


def score_pivot(records: Sequence[Mapping[str, Any]], metric: str = "w1_sampled_mean") -> str:
    """Rows = constructions, columns = scenarios, cells = one metric; the sampled W1 gets a human-floor row."""
    scenarios = list(dict.fromkeys(r["scenario"] for r in records))
    cell = {(r["construction"], r["scenario"]): r for r in records}

    def value(r: Mapping[str, Any] | None) -> Any:
        if r is None or r.get(metric) is None:
            return "–"
        if metric == "w1_sampled_mean":
            return _pm(r["w1_sampled_mean"], r["w1_sampled_sd"])
        return f"{r[metric]:.3f}" if isinstance(r[metric], float) else r[metric]

    head = f"construction ({metric})"
    rows = [
        {head: c, **{s: value(cell.get((c, s))) for s in scenarios}}
        for c in dict.fromkeys(r["construction"] for r in records)
    ]
    if metric == "w1_sampled_mean":
        floors = {
            s: next(r for r in records if r["scenario"] == s and r.get("floor_mean") is not None) for s in scenarios
        }
        rows.append(
            {head: "**human floor** (sampled)", **{s: _pm(f["floor_mean"], f["floor_sd"]) for s, f in floors.items()}}
        )
    return markdown_table(rows, [head, *scenarios])


def study_settings(st: Mapping[str, Any]) -> list[str]:
    """The settings of a study (:meth:`experiments.study.Study.settings`) as Markdown bullets."""
    return [
        f"- scenarios: {', '.join(f'`{s}`' for s in st['scenarios'])}; human data: {st['data'] or 'default source'}",
        f"- split: seed {st['split']['seed']}, fit fraction {st['split']['fit_fraction']}. Every construction is "
        "fitted on the fit half only; every score uses the test half only.",
        f"- evaluation: n = {st['agents']} agents per sampled draw and humans per floor draw (capped at half the "
        f"test half), {st['repeats']} repeats.",
        "- constructions:",
        *[
            f"  - `{c['name']}` ({c['kind']}): "
            + json.dumps({k: v for k, v in c.items() if k not in ("name", "kind")}, sort_keys=True)
            for c in st["constructions"]
        ],
    ]


def _columns_help() -> list[str]:
    return [
        "### What the columns mean",
        "",
        *[f"- `{k}`: {v}" for k, v in COLUMN_HELP.items()],
        "",
        "Exact beside exact, sampled beside the floor: `w1_exact` has no sampling noise and can be far below the "
        "floor; only `w1_sampled_mean` is like-with-like with `floor_mean`.",
        "",
    ]


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str], ints: Sequence[str]) -> None:
    frame = pd.DataFrame(list(rows)).reindex(columns=list(columns))
    for col in ints:
        if col in frame:
            frame[col] = frame[col].astype("Int64")  # integers stay integers beside empty cells
    frame.to_csv(path, index=False)


def study_report(
    result: StudyResult, model_id: str, *, title: str, figure: str, plot: str | None = None, note: str = ""
) -> str:
    """The report of a study run (``compare`` and ``demo``): settings, the score tables, crafting, cost.

    The sampled W1 is tabled beside the human floor, the exact W1 on its own, then every column
    (:data:`SCORE_COLUMNS`), the crafting outcome per row, the multivariate and treatment sections when present.
    """
    st, records = result.settings, result.scores
    return "\n".join(
        [
            f"# {title}",
            "",
            f"Study `{Path(st['study']).name}`, model `{model_id}`, root seed {st['seed']}.",
            "",
            "## Settings",
            "",
            *study_settings(st),
            "",
            "## W1 to held-out humans, sampled, beside the human floor (lower is better)",
            "",
            score_pivot(records, "w1_sampled_mean"),
            "",
            "## W1 exact (no sampling noise; not comparable with the floor)",
            "",
            score_pivot(records, "w1_exact"),
            "",
            "## Scores (test half): all columns",
            "",
            markdown_table(records, score_columns(records)),
            "",
            *_columns_help(),
            "## Crafting per row",
            "",
            crafting_table(records),
            "",
            *_vector_section(result.vectors),
            *_treatment_section(result, plot),
            "## LLM cost",
            "",
            "Requests per construction and scenario (`llm_calls`: distinct requests, the cache's included); this "
            "run's backend calls, tokens and seconds are in `run.json` (and `cost.md` for `compare`). A rerun "
            "answers everything from the cache.",
            "",
            f"![test humans vs populations]({figure})",
            "",
            *([note, ""] if note else []),
        ]
    )


def save_populations(out_dir: str | os.PathLike[str], result: StudyResult) -> list[Path]:
    """Write each fitted construction's population to ``populations/SCENARIO--CONSTRUCTION.json``.

    The files are ``populace.population`` documents (:meth:`populations.persona.Population.save`) that ``run``,
    ``whatif``, ``select`` and a ``kind = "file"`` construction read; their metadata records the scenario and the
    study's split (seed, fit fraction), so a later study on the same scenario can check it saw no test human. A
    failed construction has no file. Scenario names are written with ``:``, ``@``, ``/`` and spaces as ``_``.

    Returns:
        The written paths, in study order.
    """
    import re

    from populations.persona import Population

    folder = Path(out_dir) / "populations"
    split = result.settings.get("split", {})
    paths = []
    for (scenario, construction), pop in result.populations.items():
        meta = {**(pop.metadata or {}), "scenario": scenario, "split": dict(split), "construction": construction}
        doc = Population(personas=pop.personas, weights=pop.weights, construction=pop.construction, metadata=meta)
        name = re.sub(r"[:@/\\\s]+", "_", f"{scenario}--{construction}")
        paths.append(doc.save(folder / f"{name}.json"))
    return paths


def write_study(
    out_dir: str | os.PathLike[str],
    result: StudyResult,
    *,
    model_id: str,
    cache: Mapping[str, Any] | None = None,
    command: str = "",
    title: str = "Comparing population constructions",
    figure: str = "grid.png",
    manifest: Mapping[str, Any] | None = None,
    note: str = "",
) -> Path:
    """Write ``table.csv/.md``, ``cost.csv/.md``, ``grid.png``, ``scores.json``, ``report.md`` and ``run.json``.

    ``table.*``, ``scores.json`` and ``report.md`` hold no times, so a rerun writes identical files; seconds and
    cache statistics go to ``cost.*`` and ``run.json`` only.

    Args:
        out_dir: the folder (created).
        result: the study's result.
        model_id: the respondent's id.
        cache: the response cache's statistics (for ``run.json``).
        command: the command line (for ``run.json``).
        title: the report's title.
        figure: the name of the histogram grid (``populace demo`` writes ``histograms.png``).
        manifest: keys added to ``run.json`` (this run's backend activity …).
        note: a closing paragraph of the report.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    columns = score_columns(result.scores)
    ints = (
        "components",
        "floor_n",
        "worth_k",
        "worth_k_lo",
        "worth_k_hi",
        "worth_tasks",
        "repeats",
        "n_fit",
        "n_test",
        "n_failed",
        "llm_calls",
    )
    _write_csv(out / "table.csv", result.scores, columns, ints)
    table_md = markdown_table(result.scores, columns)
    (out / "table.md").write_text(table_md + "\n")
    totals: dict[str, dict[str, Any]] = {}
    for row in result.cost:
        t = totals.setdefault(row["construction"], {"construction": row["construction"], "kind": row["kind"]})
        t["scenario"] = "(all)"
        for k in COST_COLUMNS[3:]:
            t[k] = round(t.get(k, 0) + row[k], 2)
    cost_rows = [*result.cost, *totals.values()]
    pd.DataFrame(cost_rows).reindex(columns=list(COST_COLUMNS)).to_csv(out / "cost.csv", index=False)
    (out / "cost.md").write_text(markdown_table(cost_rows, COST_COLUMNS) + "\n")
    plot_study_grid(result, out / figure)
    files = ["table.csv", "table.md", "cost.csv", "cost.md", figure, "scores.json", "report.md", "run.json"]
    if result.vectors:
        cols = ["scenario", "construction", "kind", "dimensions", "n", "repeats", "n_test"]
        cols += [f"{m}_{k}" for m in VECTOR_METRICS for k in ("sampled_mean", "sampled_sd", "floor_mean", "floor_sd")]
        _write_csv(
            out / "multivariate.csv", result.vectors, [*cols, "status"], ("dimensions", "n", "repeats", "n_test")
        )
        (out / "multivariate.md").write_text(vectors_markdown(result.vectors) + "\n")
        files += ["multivariate.csv", "multivariate.md"]
    plot = None
    if result.treatment:
        _write_csv(out / "treatment.csv", result.treatment, TREATMENT_COLUMNS, ())
        (out / "treatment.md").write_text(markdown_table(result.treatment, TREATMENT_COLUMNS) + "\n")
        t = result.settings["treatment"]
        plot = plot_treatment(
            result.treatment, out / "treatment.png", title=f"treatment ({t['where']}): {t['text']}"
        ).name
        files += ["treatment.csv", "treatment.md", plot]
    inference_lines: list[str] = []
    inference_run: dict[str, Any] = {}
    if result.inference:
        from experiments.reporting_infer import inference_section, merge_outputs, write_inference

        merged = merge_outputs(result.inference)
        files += [p.name for p in write_inference(out, merged)]
        inference_lines = ["", *inference_section(merged, figure="inference.png" if merged["records"] else None)]
        inference_run = {"inference": {"twins": merged["twins"]}}  # distinct twin profiles and their requests
    payload = {
        "settings": result.settings,
        "model_id": model_id,
        "scores": result.scores,
        "multivariate": result.vectors,
        "treatment": result.treatment,
    }
    (out / "scores.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    report = study_report(result, model_id, title=title, figure=figure, plot=plot, note=note)
    (out / "report.md").write_text(report + "\n".join(inference_lines) + ("\n" if inference_lines else ""))
    run = {
        "kind": "populace.compare",
        "command": command,
        "settings": result.settings,
        "model_id": model_id,
        "cache": dict(cache or {}),
        "cost": cost_rows,
        "files": files,
        **inference_run,
        **(manifest or {}),
    }
    (out / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True, default=str) + "\n")
    return out


# ----------------------------------------------------------------------------- demo
def backend_activity(model: Any) -> dict[str, Any]:
    """Backend calls and cache hits of this process so far, read from the model's wrappers."""
    from populace_lm.budget import AccountingModel, find_layer
    from populace_lm.cache import CachedModel

    info: dict[str, Any] = {}
    cache = find_layer(model, CachedModel)
    if cache is not None:
        stats = cache.stats()
        info |= {"cache_hits": stats["hits"], "cache_misses": stats["misses"], "cache_path": str(cache.path)}
    acct = find_layer(model, AccountingModel)
    if acct is not None:
        total = acct.summary()["total"]
        info["backend_requests"] = total["calls"]
        info["backend_forward_passes"] = total["backend_calls"]
        info["prompt_tokens"] = total["prompt_tokens"]
    return info


def write_demo(out: Path, result: StudyResult, run: Mapping[str, Any]) -> Path:
    """The demo's folder: :func:`write_study`'s files (the grid as ``histograms.png``) plus ``details.json``.

    ``scores.json`` and ``report.md`` hold no times or cache counts, so a rerun writes identical files; this run's
    backend requests, cache hits and seconds (``run``) go to ``run.json``.
    """
    write_study(
        out,
        result,
        model_id=str(run.get("model")),
        title="Populace demo report",
        figure="histograms.png",
        manifest={"kind": "populace.demo", **run},
        note="Prompts and weights of every row: `details.json`. The embedded model (SmolLM2-135M) barely follows "
        "personas or crafting instructions; these rows show the pipeline working on real data, not a calibrated "
        "population.",
    )
    write_details(out, result)
    return out


def write_details(out: Path, result: StudyResult) -> Path:
    """``details.json``: the prompts and weights of every fitted population, keyed ``scenario/construction``."""
    details = {
        f"{scenario}/{name}": {
            "prompts": [p.text for p in pop.personas],
            "weights": [round(float(w), 6) for w in pop.weights],
        }
        for (scenario, name), pop in result.populations.items()
    }
    path = Path(out) / "details.json"
    path.write_text(json.dumps(details, indent=2, sort_keys=True) + "\n")
    return path
