"""The one reporting module: manifests, Markdown tables and plots for runs, what-ifs and comparisons.

:mod:`simulator` returns results (:class:`~simulator.RunResult`, :class:`~simulator.WhatIfResult`,
:class:`~experiments.study.StudyResult`); this module turns them into a self-describing folder:

* ``populace run`` → ``records.parquet`` (tidy, one row per agent, round and role; identical bytes for the same
  seed and model), ``outcomes.csv``, ``manifest.json`` (config, seeds, package versions, model id, cache and
  sharing statistics, wall time) and ``report.md`` (:func:`write_run`);
* ``populace whatif`` → records, per-round outcomes, paired differences with bootstrap CIs, plots, manifest and
  report (:func:`write_whatif`);
* ``populace compare`` → score and cost tables (CSV and Markdown), a histogram grid, manifest and report
  (:func:`write_study`).
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

from populations.persona import Population  # noqa: E402
from simulator import DIFFERENCE_COLUMNS, OUTCOMES, RunResult, WhatIfResult  # noqa: E402

if TYPE_CHECKING:
    from experiments.study import StudyResult

__all__ = [
    "cache_stats",
    "crafting_table",
    "markdown_table",
    "plot_study_grid",
    "records_table",
    "records_markdown",
    "package_versions",
    "plot_effects",
    "plot_outcome",
    "run_report",
    "score_pivot",
    "whatif_report",
    "write_histograms",
    "write_manifest",
    "write_report",
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


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A pipe table (NaN shown as "—"), without the optional ``tabulate`` dependency of ``DataFrame.to_markdown``."""
    cols = list(frame.columns)

    def fmt(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return "—" if np.isnan(v) else format(float(v), floatfmt)
        return str(v)

    rows = ["| " + " | ".join(map(str, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    rows += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(rows)


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
        markdown_table(by_round.reset_index()),
        "",
    ]
    if result.scores:
        scores = _scores_frame(result).drop(columns=["replicate", "agent"])
        summary = scores.agg(["mean", "std"]).T.reset_index().rename(columns={"index": "score"})
        lines += ["## Scores (all replicates; per agent in `scores.csv`)", "", markdown_table(summary), ""]
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
    lines += ["", markdown_table(result.differences), ""]
    if not result.is_survey:
        lines += ["Outcomes: " + "; ".join(f"`{k}` = {v}" for k, v in OUTCOMES.items()) + ".", ""]
        lines += ["Plots (mean over seeds per round, ±1.96 SE): " + ", ".join(f"`{p}`" for p in plots), ""]
    else:
        lines += ["![effects](effects.png)", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- compare
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
    "n",
    "repeats",
    "n_fit",
    "n_test",
    "n_failed",
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

COLUMN_HELP = {
    "metric": "`w1` where the answers are ordered; `tv` (total variation between category frequencies, in "
    "[0, 1]) on unordered categories, where W1 has no meaning. The floor of a row is in the row's metric; "
    "`tv_*` columns mirror `w1_*`, and `category_gaps_exact` lists population − test humans per category.",
    "w1_exact": "W1 between the population's **exact** answer distribution (weights × each persona's "
    "log-probability distribution) and the test humans. No sampling noise on the simulated side, so it is never "
    "compared with the floor.",
    "mean_exact / human_test_mean": "mean answer of the exact distribution / of the test humans.",
    "parse_failure_rate": "weighted mean probability the model put on text that is not a valid answer "
    "(1 − valid mass); the distributions are renormalised over valid answers.",
    "w1_sampled_mean ± w1_sampled_sd": "W1 between `n` simulated agents drawn from the exact distribution and the "
    "test humans, mean ± SD over `repeats` draws: the **sampled** score.",
    "floor_mean ± floor_sd": "W1 between `n` test humans and the remaining test humans (mean ± SD over `repeats` "
    "splits): what sampling noise alone gives between two groups of real people. Compare it with the sampled "
    "score only.",
    "n / repeats": "agents per sampled draw = humans per floor draw (the study's `agents`, capped at half the test "
    "half) / number of draws.",
    "n_fit / n_test": "humans in the fit half (used for fitting only) / the test half (used for scoring only).",
    "components": "personas or prompts in the fitted population.",
    "n_failed": "crafting attempts that produced no usable prompt (recorded and skipped, never defaulted).",
    "status": "`ok`; `fallback: …` when no crafted prompt was usable and the builder returned the fixed-prompt "
    "population; `failed: …` when a construction could not be built (an LLM failure, kept as data).",
}


#: Multivariate metrics of a multi-dimensional scenario ([2] Table 1), each sampled beside its floor.
VECTOR_HELP = {
    "amw": "average marginal W1 over the dimensions",
    "frechet": "Fréchet distance of Gaussians fitted to the score vectors",
    "sliced_w": "sliced Wasserstein distance (random projections)",
    "mmd": "maximum mean discrepancy (RBF kernel, median bandwidth)",
    "corr_mae": "mean absolute error of the off-diagonal correlations between dimensions",
}


def vectors_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """Multivariate scores: one row per scenario and construction, each metric sampled (mean ± sd) | floor."""
    from populations.evaluation import VECTOR_METRICS

    head = ["scenario", "construction", "dimensions", "n"]
    for m in VECTOR_METRICS:
        head += [f"{m} sampled", f"{m} floor"]
    lines = ["| " + " | ".join([*head, "status"]) + " |", "|" + "|".join("---" for _ in range(len(head) + 1)) + "|"]
    for r in rows:
        cells = [_fmt(r.get(k)) for k in ("scenario", "construction", "dimensions", "n")]
        for m in VECTOR_METRICS:
            if r.get(f"{m}_sampled_mean") is None:
                cells += ["", ""]
            else:
                cells += [
                    _pm(r[f"{m}_sampled_mean"], r[f"{m}_sampled_sd"]),
                    _pm(r[f"{m}_floor_mean"], r[f"{m}_floor_sd"]),
                ]
        lines.append("| " + " | ".join([*cells, _fmt(r.get("status"))]) + " |")
    return "\n".join(lines)


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
        records_markdown(scores, TREATMENT_COLUMNS),
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


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v).replace("|", "\\|")


def records_markdown(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` restricted to ``columns`` (floats to 4 decimals)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


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


def write_study(
    out_dir: str | os.PathLike[str],
    result: StudyResult,
    *,
    model_id: str,
    cache: Mapping[str, Any] | None = None,
    command: str = "",
) -> Path:
    """Write ``table.csv/.md``, ``cost.csv/.md``, ``grid.png``, ``scores.json``, ``report.md`` and ``run.json``.

    ``table.*``, ``scores.json`` and ``report.md`` hold no times, so a rerun writes identical files; seconds and
    cache statistics go to ``cost.*`` and ``run.json`` only.
    """
    import pandas as pd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    columns = list(SCORE_COLUMNS)
    if any(r.get("metric") == "tv" for r in result.scores):  # each beside its W1 twin; the floor stays last
        columns.insert(columns.index("w1_exact") + 1, "tv_exact")
        columns.insert(columns.index("human_test_mean") + 1, "category_gaps_exact")
        at = columns.index("floor_mean")
        columns[at:at] = ["tv_sampled_mean", "tv_sampled_sd"]
    scores = pd.DataFrame(result.scores).reindex(columns=columns)
    for col in ("components", "n", "repeats", "n_fit", "n_test", "n_failed"):
        scores[col] = scores[col].astype("Int64")  # integers stay integers beside empty cells
    scores.to_csv(out / "table.csv", index=False)
    table_md = records_markdown(result.scores, columns)
    (out / "table.md").write_text(table_md + "\n")
    totals: dict[str, dict[str, Any]] = {}
    for row in result.cost:
        t = totals.setdefault(row["construction"], {"construction": row["construction"], "kind": row["kind"]})
        t["scenario"] = "(all)"
        for k in COST_COLUMNS[3:]:
            t[k] = round(t.get(k, 0) + row[k], 2)
    cost_rows = [*result.cost, *totals.values()]
    pd.DataFrame(cost_rows).reindex(columns=list(COST_COLUMNS)).to_csv(out / "cost.csv", index=False)
    cost_md = records_markdown(cost_rows, COST_COLUMNS)
    (out / "cost.md").write_text(cost_md + "\n")
    plot_study_grid(result, out / "grid.png")
    files = ["table.csv", "table.md", "cost.csv", "cost.md", "grid.png", "scores.json", "report.md", "run.json"]
    if result.vectors:
        from populations.evaluation import VECTOR_METRICS

        cols = ["scenario", "construction", "kind", "dimensions", "n", "repeats", "n_test"]
        cols += [f"{m}_{k}" for m in VECTOR_METRICS for k in ("sampled_mean", "sampled_sd", "floor_mean", "floor_sd")]
        frame = pd.DataFrame(result.vectors).reindex(columns=[*cols, "status"])
        for col in ("dimensions", "n", "repeats", "n_test"):
            frame[col] = frame[col].astype("Int64")
        frame.to_csv(out / "multivariate.csv", index=False)
        (out / "multivariate.md").write_text(vectors_markdown(result.vectors) + "\n")
        files += ["multivariate.csv", "multivariate.md"]
    plot = None
    if result.treatment:
        pd.DataFrame(result.treatment).reindex(columns=list(TREATMENT_COLUMNS)).to_csv(
            out / "treatment.csv", index=False
        )
        (out / "treatment.md").write_text(records_markdown(result.treatment, TREATMENT_COLUMNS) + "\n")
        t = result.settings["treatment"]
        plot = plot_treatment(
            result.treatment, out / "treatment.png", title=f"treatment ({t['where']}): {t['text']}"
        ).name
        files += ["treatment.csv", "treatment.md", plot]
    (out / "scores.json").write_text(
        json.dumps(
            {
                "settings": result.settings,
                "model_id": model_id,
                "scores": result.scores,
                "multivariate": result.vectors,
                "treatment": result.treatment,
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    st = result.settings
    lines = [
        "# Comparing population constructions",
        "",
        f"Study `{Path(st['study']).name}`, model `{model_id}`, root seed {st['seed']}.",
        "",
        "## Settings",
        "",
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
        "",
        "## Scores (test half)",
        "",
        table_md,
        "",
        "### What the columns mean",
        "",
        *[f"- `{k}`: {v}" for k, v in COLUMN_HELP.items()],
        "",
        "Exact beside exact, sampled beside the floor: `w1_exact` has no sampling noise and can be far below the "
        "floor; only `w1_sampled_mean` is like-with-like with `floor_mean`.",
        "",
        *_vector_section(result.vectors),
        *_treatment_section(result, plot),
        "## LLM cost",
        "",
        "Per construction and scenario and in total, in `cost.md` / `cost.csv` (requests = distinct LLM requests "
        "made, cached = of those answered from the response cache, backend_calls = calls that reached the model, "
        "tokens, wall seconds). A rerun answers everything from the cache.",
        "",
        "![test humans vs populations](grid.png)",
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    manifest = {
        "kind": "populace.compare",
        "command": command,
        "settings": st,
        "model_id": model_id,
        "cache": dict(cache or {}),
        "cost": cost_rows,
        "files": files,
    }
    (out / "run.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    return out


# ----------------------------------------------------------------------------- scores (demo, fit, experiments)
# Like with like: every table sets the human floor beside ``w1_sampled`` (both are ``n`` draws against the test
# humans) and shows ``w1_exact`` in its own column group labelled *exact*, never beside the floor (see
# :data:`populations.evaluation.COLUMN_KINDS`).
def _pm(mean: float, sd: float) -> str:
    return f"{mean:.3f} ± {sd:.3f}"


def records_table(records: Sequence[dict[str, Any]]) -> str:
    """One row per (scenario, construction): exact columns first, then sampled W1 beside the floor, then cost.

    The exact W1 is separated from the floor by the sampled W1 (its like-for-like partner), never adjacent to it.
    """
    lines = [
        "| scenario | construction | W1 exact (pmf) | mean (exact) | valid mass | parse-failure rate "
        "| W1 sampled (n agents, mean ± sd) | human floor (n humans, mean ± sd) | n | LLM requests |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(records, key=lambda r: (r["scenario"], r["construction"])):
        lines.append(
            f"| {r['scenario']} | {r['construction']} | {r['w1_exact']:.3f} | "
            f"{r.get('mean_exact', float('nan')):.2f} | {r['valid_mass']:.3f} | {r['parse_failure_rate']:.3f} | "
            f"{_pm(r['w1_sampled_mean'], r['w1_sampled_sd'])} | {_pm(r['floor_mean'], r['floor_sd'])} | "
            f"{r['floor_n']} | {r['llm_calls']} |"
        )
    return "\n".join(lines)


def crafting_table(records: Sequence[dict[str, Any]]) -> str:
    """Per row of a crafted construction: prompts kept, crafts failed and why, and whether it fell back."""
    from populations.crafting import FAILURE_DESCRIPTIONS

    rows = [r for r in records if r.get("n_crafted") is not None or r.get("n_failed") is not None]
    if not rows:
        return "No construction crafted prompts."
    lines = [
        "| scenario | construction | crafted prompts kept | crafts failed | fell back to fixed prompt | why |",
        "|---|---|---:|---:|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["scenario"], r["construction"])):
        reasons = r.get("failure_reasons") or {}
        why = "; ".join(f"{FAILURE_DESCRIPTIONS.get(k, k)} (×{v})" for k, v in reasons.items()) or "–"
        n_failed = "?" if r.get("n_failed") is None else r["n_failed"]
        lines.append(
            f"| {r['scenario']} | {r['construction']} | {r.get('n_crafted')} | {n_failed} | "
            f"{'yes' if r.get('fallback') else 'no'} | {why.replace('|', '/')} |"
        )
    return "\n".join(lines)


def score_pivot(records: Sequence[dict[str, Any]], metric: str = "w1_sampled_mean") -> str:
    """A Markdown table: rows = constructions, columns = scenarios, cells = one metric (with its kind)."""
    scenarios = sorted({r["scenario"] for r in records})
    constructions = list(dict.fromkeys(r["construction"] for r in records))
    cell = {(r["construction"], r["scenario"]): r for r in records}
    lines = [f"| construction ({metric}) | " + " | ".join(scenarios) + " |", "|---|" + "---:|" * len(scenarios)]
    for c in constructions:
        vals = []
        for s in scenarios:
            r = cell.get((c, s))
            if r is None:
                vals.append("–")
            elif metric == "w1_sampled_mean":
                vals.append(_pm(r["w1_sampled_mean"], r["w1_sampled_sd"]))
            else:
                vals.append(f"{r[metric]:.3f}")
        lines.append(f"| {c} | " + " | ".join(vals) + " |")
    if metric == "w1_sampled_mean":
        floors = {s: next(r for r in records if r["scenario"] == s) for s in scenarios}
        lines.append(
            "| **human floor** (sampled) | "
            + " | ".join(_pm(floors[s]["floor_mean"], floors[s]["floor_sd"]) for s in scenarios)
            + " |"
        )
    return "\n".join(lines)


def write_report(path: Path, records: Sequence[dict[str, Any]], run: dict[str, Any]) -> Path:
    """Write ``report.md``: what was run, the sampled table beside the floor, the exact table, crafting outcomes."""
    n = sorted({r["floor_n"] for r in records})
    text = f"""# Populace demo report

Model: `{run.get("model")}` · seed {run.get("seed")} · scenarios: {", ".join(run.get("scenarios", []))} ·
constructions: {", ".join(run.get("constructions", []))}

Humans are split with the one seeded split of rows; constructions are fitted on the **fit** half and scored on the
**test** half. Three kinds of number, never mixed:

* **W1 sampled** — n agents drawn from the population (n = the floor's n: {", ".join(map(str, n))}) against the test
  humans, mean ± SD over {records[0]["repeats"] if records else "?"} draws. Set beside the floor.
* **human floor** — n test humans against the *remaining* test humans (disjoint samples), mean ± SD: the distance
  sampling noise alone produces between two groups of real people.
* **W1 exact** — the population's exact answer distribution (from the model's next-token probabilities; Big Five
  trait sums are the exact convolution of the keyed items) against the test humans. It has no sampling noise on the
  simulated side, so it is shown on its own and must not be compared with the floor.

`valid mass` is the probability the model put on a valid answer; the parse-failure rate is its complement.
`LLM requests` counts the distinct requests a row needs (served by the backend or the response cache).
`em` and `gb` are prompt mixtures (EM, Algorithm 1; gradient boosting, Algorithm 2) whose prompts are crafted by
the same model and whose weights are fitted on the fit half only (`fast` sizes).

## W1 to held-out humans, sampled, beside the human floor (lower is better)

{score_pivot(records, "w1_sampled_mean")}

## W1 exact (no sampling noise; not comparable with the floor)

{score_pivot(records, "w1_exact")}

## All columns

{records_table(records)}

## Crafting per row

{crafting_table(records)}

## This run

Backend requests made: {run.get("backend_requests", "?")} ({run.get("backend_forward_passes", "?")} forward passes);
cache hits: {run.get("cache_hits", "?")}; wall time: {run.get("seconds", "?")} s. Histograms: `histograms.png`.
Prompts and weights of every row: `details.json`.

Note: the embedded model (SmolLM2-135M) barely follows personas or crafting instructions; these rows show the
pipeline working on real data, not a calibrated population.
"""
    path.write_text(text)
    return path


def write_histograms(path: Path, panels: Sequence[tuple[Any, dict[str, np.ndarray]]]) -> Path:
    """One panel per scenario: the human test histogram and each population's exact distribution (no distances)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (data, pmfs) in zip(axes[0], panels, strict=True):
        support = np.asarray(data.scenario.support, dtype=float)
        edges = np.concatenate([support - 0.5, [support[-1] + 0.5]])
        ax.hist(data.test, bins=edges, density=True, color="0.75", label=f"humans (test, n={data.test.size})")
        for label, pmf in pmfs.items():
            ax.step(support, pmf, where="mid", label=f"{label} (exact pmf)")
        ax.set_title(data.scenario.name)
        ax.set_xlabel("score")
        ax.set_ylabel("probability")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
