"""The one reporting module: manifests, Markdown tables and plots for runs, what-ifs and comparisons.

:mod:`simulator` returns results (:class:`~simulator.RunResult`, :class:`~simulator.WhatIfResult`,
:class:`~experiments.study.StudyResult`); this module turns them into a self-describing folder:

* ``populace run`` → ``records.parquet`` (tidy, one row per agent, round and role; identical bytes for the same
  seed and model), ``outcomes.csv``, ``manifest.json`` (config, seeds, package versions, model id, cache and
  sharing statistics, wall time) and ``report.md`` (:func:`write_run`);
* ``populace whatif`` → records, per-round outcomes, paired differences with bootstrap CIs, plots, manifest and
  report (:func:`write_whatif`);
* ``populace compare`` → score and cost tables (CSV and Markdown), a histogram grid, manifest and report
  (:func:`write_study`);
* ``populace demo`` → the same report of its shipped study, ``scores.json``, ``histograms.png`` and ``run.json``
  (:func:`write_demo`).

Every Markdown table goes through :func:`markdown_table`.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from populations.evaluation import COLUMN_HELP, VECTOR_HELP, VECTOR_METRICS  # noqa: E402
from populations.persona import Population  # noqa: E402
from simulator import DIFFERENCE_COLUMNS, OUTCOMES, RunResult, WhatIfResult  # noqa: E402

if TYPE_CHECKING:
    from experiments.study import StudyResult

__all__ = [
    "SCORE_COLUMNS",
    "TERMINAL_COLUMNS",
    "backend_activity",
    "cache_stats",
    "crafting_table",
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
    "write_demo",
    "write_manifest",
    "write_run",
    "write_study",
    "write_whatif",
]

_PACKAGES = ("populace", "mesa", "networkx", "numpy", "scipy", "pandas", "pyarrow", "llama_cpp_python", "openai")


# ----------------------------------------------------------------------------- shared pieces
def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def cache_stats(model: Any) -> dict[str, Any]:
    """The response cache's statistics if the model is cache-wrapped (else an empty dict)."""
    stats = getattr(model, "stats", None)
    if not callable(stats):
        return {}
    out = dict(stats())
    out["path"] = str(getattr(model, "path", ""))
    out["mode"] = str(getattr(model, "mode", ""))
    return out


def _fmt(v: Any, digits: int = 4, missing: str = "") -> str:
    if v is None or (isinstance(v, float | np.floating) and math.isnan(v)):
        return missing
    if isinstance(v, float | np.floating):
        return f"{float(v):.{digits}f}"
    return str(v).replace("|", "\\|")


def markdown_table(
    rows: pd.DataFrame | Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    digits: int = 4,
    missing: str = "",
) -> str:
    """The one Markdown table writer: a pipe table of records (or a frame) restricted to ``columns``.

    Args:
        rows: a DataFrame or a sequence of mappings (a key a row lacks is a missing cell).
        columns: the columns in order (default: the frame's, or the first row's keys).
        digits: decimals of floats.
        missing: the text of a missing cell (None or NaN).
    """
    records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
    if columns is None:
        columns = list(rows.columns) if isinstance(rows, pd.DataFrame) else list(records[0]) if records else []
    lines = ["| " + " | ".join(map(str, columns)) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_fmt(r.get(c), digits, missing) for c in columns) + " |" for r in records]
    return "\n".join(lines)


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> Path:
    """``manifest.json`` with sorted keys (identical results give identical files, apart from timings)."""
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    return path


def _population(population: Population, source: str) -> dict[str, Any]:
    return {"source": source, "construction": population.construction, "components": len(population)}


def _cost_line(s: Mapping[str, int]) -> str:
    return (
        f"{s['agent_decisions']} decisions from {s['distinct_prompts']} distinct prompts; "
        f"{s['backend_calls']} backend calls, {s['cache_hits']} cache hits, "
        f"{s['prompt_tokens']} prompt + {s['completion_tokens']} completion tokens"
    )


# ----------------------------------------------------------------------------- run
def write_run(
    out_dir: str | Path,
    result: RunResult,
    *,
    llm_model: Any,
    population: Population,
    population_source: str,
    command: str = "",
) -> Path:
    """Write ``records.parquet``, ``outcomes.csv``, ``manifest.json`` and ``report.md`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.records.to_parquet(out / "records.parquet", index=False)
    result.outcomes.to_csv(out / "outcomes.csv", index=False)
    files = ["records.parquet", "outcomes.csv", "manifest.json", "report.md"]
    if result.scores:
        _scores_frame(result).to_csv(out / "scores.csv", index=False)
        files.insert(2, "scores.csv")
    manifest = {
        "kind": "populace.run",
        "command": command,
        "config": result.config.to_dict(),
        "seeds": {"root": result.config.seed, "replicates": result.seeds},
        "population": _population(population, population_source),
        "networks": result.networks,
        "model_id": getattr(llm_model, "model_id", "unknown"),
        "decisions": result.stats,
        "cache": cache_stats(llm_model),
        "packages": package_versions(),
        "wall_seconds": round(result.wall_seconds, 3),
        "files": files,
    }
    write_manifest(out / "manifest.json", manifest)
    (out / "report.md").write_text(run_report(result, manifest))
    return out


def _scores_frame(result: RunResult) -> pd.DataFrame:
    """One row per replicate and agent: ``score`` (one dimension) or ``score_1 … score_D``."""
    frames = []
    for r, s in enumerate(result.scores):
        s2 = np.atleast_2d(np.asarray(s, dtype=float).T).T  # (n, D)
        cols = ["score"] if s2.shape[1] == 1 else [f"score_{j + 1}" for j in range(s2.shape[1])]
        frame = pd.DataFrame(s2, columns=cols)
        frame.insert(0, "agent", np.arange(s2.shape[0]))
        frame.insert(0, "replicate", r)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def run_report(result: RunResult, manifest: Mapping[str, Any]) -> str:
    """A Markdown summary of a run."""
    c = result.config
    by_round = result.outcomes.groupby("round").mean(numeric_only=True).drop(columns="replicate", errors="ignore")
    by_round = by_round.dropna(axis=1, how="all")
    pop = manifest["population"]
    lines = [
        f"# Simulation: {c.scenario}",
        "",
        f"- population: {pop['source']} ({pop['construction']}, {pop['components']} components)",
        f"- agents: {c.n_agents} × {c.replicates} replicate(s), rounds: {c.rounds}, root seed: {c.seed}",
        f"- game parameters: {json.dumps(c.params, sort_keys=True) if c.params else '—'}",
        f"- network: {c.network.to_dict() if c.network else 'none (random matching)'}",
        f"- history shown to agents: last {c.history_rounds} round(s)" if c.rounds > 1 else "- one-shot",
        f"- model: {manifest['model_id']}",
        f"- decisions: {_cost_line(result.stats)}",
        f"- wall time: {result.wall_seconds:.1f} s",
        "",
        "Answers are drawn from each prompt's answer distribution renormalised over valid answers; "
        "`parse_failure_rate` is the mean probability the model put on invalid text.",
        "",
        "## Outcomes per " + ("item" if c.is_survey else "round") + " (mean over replicates)",
        "",
        markdown_table(by_round.reset_index(), digits=3, missing="—"),
        "",
    ]
    if result.scores:
        scores = _scores_frame(result).drop(columns=["replicate", "agent"])
        summary = scores.agg(["mean", "std"]).T.reset_index().rename(columns={"index": "score"})
        lines += [
            "## Scores (all replicates; per agent in `scores.csv`)",
            "",
            markdown_table(summary, digits=3, missing="—"),
            "",
        ]
    lines += ["Files: `records.parquet` (one row per agent, round and role), `outcomes.csv`, `manifest.json`.", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- what-if
def plot_outcome(per_round: pd.DataFrame, outcome: str, path: Path, *, labels: Mapping[str, str]) -> Path:
    """Mean of a game ``outcome`` over replicates per round, both conditions, with ±1.96 SE bands."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for cond, color in (("baseline", "tab:blue"), ("intervention", "tab:orange")):
        sub = per_round[per_round["condition"] == cond].groupby("round")[outcome]
        mean, se = sub.mean(), sub.std(ddof=1) / np.sqrt(sub.count())
        ax.plot(mean.index, mean.to_numpy(), marker="o", color=color, label=labels[cond])
        ax.fill_between(
            mean.index, (mean - 1.96 * se).to_numpy(), (mean + 1.96 * se).to_numpy(), color=color, alpha=0.2
        )
    ax.set_xlabel("round")
    ax.set_ylabel(outcome)
    ax.set_title(OUTCOMES.get(outcome, outcome), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_effects(differences: pd.DataFrame, path: Path, *, title: str) -> Path:
    """Forest plot of a survey what-if: paired differences with bootstrap CIs, items left and score right.

    The exact difference from the answer distributions is drawn as a cross; a vertical line marks 0.
    """
    items = differences[differences["kind"] == "item"]
    score = differences[differences["kind"] == "score"]
    fig, axes = plt.subplots(
        1, 2, figsize=(8, 1.2 + 0.35 * max(len(items), 2)), gridspec_kw={"width_ratios": [3, 1]}, squeeze=False
    )
    for ax, part in zip(axes[0], (items, score), strict=True):
        y = np.arange(len(part))[::-1]
        d = part["difference"].to_numpy(dtype=float)
        err = np.vstack([d - part["ci_low"].to_numpy(dtype=float), part["ci_high"].to_numpy(dtype=float) - d])
        ax.errorbar(d, y, xerr=np.nan_to_num(err), fmt="o", color="tab:orange", capsize=3, label="sampled, 95% CI")
        if "exact_difference" in part:
            ax.plot(part["exact_difference"].to_numpy(dtype=float), y, "x", color="tab:blue", label="exact")
        ax.axvline(0.0, color="gray", lw=0.8)
        ax.set_yticks(y, part["outcome"].tolist(), fontsize=8)
        ax.set_xlabel("intervention − control", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _labels(result: WhatIfResult) -> dict[str, str]:
    if result.treatment is not None:
        text = result.treatment.text
        short = text if len(text) <= 60 else text[:57] + "..."
        return {"baseline": "control", "intervention": f"treatment ({result.treatment.where}): “{short}”"}
    return {
        "baseline": f"baseline {_cond(result.baseline)}",
        "intervention": f"intervention {_cond(result.intervention)}",
    }


def _cond(d: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items()) or "(defaults)"


def write_whatif(
    out_dir: str | Path,
    result: WhatIfResult,
    *,
    llm_model: Any,
    population: Population,
    population_source: str,
    command: str = "",
) -> Path:
    """Write records, per-round outcomes, paired differences, plots, manifest and report into ``out_dir``.

    A game study gets one PNG per outcome over rounds; a survey study gets ``effects.png`` (a forest plot of the
    per-item and score effects).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.records.to_parquet(out / "records.parquet", index=False)
    result.per_round.to_csv(out / "per_round.csv", index=False)
    result.differences.to_csv(out / "differences.csv", index=False)
    labels = _labels(result)
    plots = []
    if result.is_survey:
        plots.append(plot_effects(result.differences, out / "effects.png", title=labels["intervention"]).name)
    else:
        for outcome in OUTCOMES:
            if outcome in result.per_round and result.per_round[outcome].notna().any():
                plots.append(plot_outcome(result.per_round, outcome, out / f"{outcome}.png", labels=labels).name)
    c = result.config
    manifest = {
        "kind": "populace.whatif",
        "command": command,
        "config": c.to_dict(),
        "baseline": result.baseline,
        "intervention": result.intervention,
        "treatment": result.treatment.to_dict() if result.treatment is not None else None,
        "seeds": {"root": c.seed, "replicates": c.replicates, "paired": True},
        "population": _population(population, population_source),
        "model_id": getattr(llm_model, "model_id", "unknown"),
        "decisions": result.stats,
        "cache": cache_stats(llm_model),
        "packages": package_versions(),
        "wall_seconds": round(result.wall_seconds, 3),
        "files": ["records.parquet", "per_round.csv", "differences.csv", *plots, "manifest.json", "report.md"],
    }
    write_manifest(out / "manifest.json", manifest)
    (out / "report.md").write_text(whatif_report(result, manifest, plots))
    return out


def whatif_report(result: WhatIfResult, manifest: Mapping[str, Any], plots: list[str]) -> str:
    """A Markdown summary of a what-if study."""
    c = result.config
    labels = _labels(result)
    pop = manifest["population"]
    lines = [
        f"# What-if: {c.scenario}, {labels['baseline']} vs {labels['intervention']}",
        "",
        f"- population: {pop['source']} ({pop['construction']}, {pop['components']} components)",
        f"- {c.n_agents} agents, {c.replicates} paired seeds (root seed {c.seed})"
        + ("" if c.is_survey else f", {c.rounds} round(s); network: ")
        + ("" if c.is_survey else (str(c.network.to_dict()) if c.network else "none (random matching)")),
        f"- model: {manifest['model_id']}",
        f"- LLM cost (both conditions): {_cost_line(result.stats)}; {result.wall_seconds:.1f} s",
    ]
    if result.treatment is not None:
        where = "before each question" if result.treatment.where == "question" else "after the persona's system prompt"
        lines.append(f"- treatment message ({where}): {result.treatment.text}")
    lines += [""]
    if result.is_survey:
        lines += [
            "Both conditions use the same persona draws and answer seeds (common random numbers). Per replicate, "
            "each item's outcome is its mean answer and the score's is the mean score; `difference` is the mean "
            "paired difference (treatment − control) with a percentile bootstrap 95% CI over seeds. "
            "`exact_*` columns are population-weighted expectations from the answer distributions (no sampling; "
            "— when the population has more components than agent draws, to keep the cost at the simulation's).",
        ]
    else:
        lines += [
            "Each replicate's outcome is its mean over rounds; `difference` is the mean paired difference "
            "(intervention − baseline) with a percentile bootstrap 95% CI over seeds.",
        ]
    lines += ["", markdown_table(result.differences, digits=3, missing="—"), ""]
    if not result.is_survey:
        lines += ["Outcomes: " + "; ".join(f"`{k}` = {v}" for k, v in OUTCOMES.items()) + ".", ""]
        lines += ["Plots (mean over seeds per round, ±1.96 SE): " + ", ".join(f"`{p}`" for p in plots), ""]
    else:
        lines += ["![effects](effects.png)", ""]
    return "\n".join(lines)


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
        f"({t['agents']} agents each), so every difference is paired; the CI is a bootstrap over the seeds "
        "(`scipy.stats.bootstrap`). `exact_difference` is the population's expected effect from the answer "
        "distributions (no sampling), shown where the population is small enough to enumerate. Constructions "
        "share the seeds, so a gap between their effects is the construction's, not the draw's.",
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


def plot_study_grid(result: StudyResult, path: Path) -> Path:
    """Rows = constructions, columns = scenarios: test-human histogram (weighted) vs the population's exact pmf."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scens = list(result.humans)
    cons = list(dict.fromkeys(r["construction"] for r in result.scores))
    fig, axes = plt.subplots(
        len(cons), len(scens), figsize=(3.6 * len(scens), 2.4 * len(cons)), squeeze=False, sharex="col"
    )
    for j, s in enumerate(scens):
        support, test = result.humans[s]
        weights = result.human_weights.get(s)  # survey weights: the weighted histogram
        width = max(1, int(np.ceil(support.size / 25)))
        edges = np.append(support[::width] - 0.5, support[-1] + 0.5)
        human = np.histogram(test, bins=edges, weights=weights)[0]
        human = human / human.sum()
        for i, c in enumerate(cons):
            ax = axes[i][j]
            ax.stairs(human, edges, fill=True, alpha=0.45, color="tab:gray", label="test humans")
            pmf = result.pmfs.get((s, c))
            if pmf is not None:
                sim = np.histogram(support, bins=edges, weights=pmf)[0]
                ax.stairs(sim, edges, color="tab:orange", linewidth=1.6, label="population (exact)")
            else:
                ax.text(0.5, 0.5, "failed", transform=ax.transAxes, ha="center")
            if i == 0:
                ax.set_title(s, fontsize=10)
            if j == 0:
                ax.set_ylabel(c, fontsize=9)
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
        columns.insert(columns.index("human_test_mean") + 1, "category_gaps_exact")
        at = columns.index("floor_mean")
        columns[at:at] = ["tv_sampled_mean", "tv_sampled_sd"]
    return columns


def _pm(mean: float | None, sd: float | None) -> str:
    return "" if mean is None or sd is None else f"{mean:.3f} ± {sd:.3f}"


def vectors_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """Multivariate scores: one row per scenario and construction, each metric sampled (mean ± sd) | floor."""
    cells = []
    for r in rows:
        cell = {k: r.get(k) for k in ("scenario", "construction", "dimensions", "n", "status")}
        for m in VECTOR_METRICS:
            cell[f"{m} sampled"] = _pm(r.get(f"{m}_sampled_mean"), r.get(f"{m}_sampled_sd"))
            cell[f"{m} floor"] = _pm(r.get(f"{m}_floor_mean"), r.get(f"{m}_floor_sd"))
        cells.append(cell)
    metrics = [f"{m} {k}" for m in VECTOR_METRICS for k in ("sampled", "floor")]
    return markdown_table(cells, ["scenario", "construction", "dimensions", "n", *metrics, "status"])


def crafting_table(records: Sequence[Mapping[str, Any]]) -> str:
    """Per row of a crafted construction: prompts kept, crafts failed and why, and whether it fell back."""
    from populations.crafting import FAILURE_DESCRIPTIONS

    rows = [r for r in records if r.get("n_crafted") is not None or r.get("n_failed") is not None]
    if not rows:
        return "No construction crafted prompts."
    cells = []
    for r in rows:
        reasons = r.get("failure_reasons") or {}
        why = "; ".join(f"{FAILURE_DESCRIPTIONS.get(k, k)} (×{v})" for k, v in reasons.items()) or "–"
        cells.append(
            {
                "scenario": r["scenario"],
                "construction": r["construction"],
                "crafted prompts kept": r.get("n_crafted"),
                "crafts failed": "?" if r.get("n_failed") is None else r["n_failed"],
                "fell back to fixed prompt": "yes" if r.get("fallback") else "no",
                "why": why,
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
    ints = ("components", "floor_n", "repeats", "n_fit", "n_test", "n_failed", "llm_calls")
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
    payload = {
        "settings": result.settings,
        "model_id": model_id,
        "scores": result.scores,
        "multivariate": result.vectors,
        "treatment": result.treatment,
    }
    (out / "scores.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    (out / "report.md").write_text(study_report(result, model_id, title=title, figure=figure, plot=plot, note=note))
    run = {
        "kind": "populace.compare",
        "command": command,
        "settings": result.settings,
        "model_id": model_id,
        "cache": dict(cache or {}),
        "cost": cost_rows,
        "files": files,
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
    details = {
        f"{scenario}/{name}": {
            "prompts": [p.text for p in pop.personas],
            "weights": [round(float(w), 6) for w in pop.weights],
        }
        for (scenario, name), pop in result.populations.items()
    }
    (out / "details.json").write_text(json.dumps(details, indent=2, sort_keys=True) + "\n")
    return out
