"""Report folders of ``populace run`` and ``populace whatif`` (re-exported by :mod:`experiments.reporting`).

* ``populace run`` → ``records.parquet`` (tidy, one row per agent, round and role), ``outcomes.csv``,
  ``manifest.json`` and ``report.md`` (:func:`write_run`);
* ``populace whatif`` → records, per-round outcomes, paired differences with Student-t CIs, plots, manifest and
  report (:func:`write_whatif`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.tables import cache_stats, markdown_table, package_versions, write_manifest  # noqa: E402
from populations.persona import Population  # noqa: E402
from simulator import OUTCOMES, RunResult, WhatIfResult  # noqa: E402

__all__ = [
    "effects_figure",
    "plot_effects",
    "plot_outcome",
    "run_outcomes",
    "run_report",
    "score_names",
    "whatif_report",
    "write_run",
    "write_whatif",
]


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
    """Write ``records.parquet``, ``outcomes.csv``, ``manifest.json`` and ``report.md`` into ``out_dir``.

    Records streamed during the run (``result.records_streamed``) are already in ``records.parquet``
    (``experiments.cmd_run.RecordWriter``); ``scores.csv`` is written a chunk of agents at a time.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not result.records_streamed:
        result.records.to_parquet(out / "records.parquet", index=False)
    run_outcomes(result).to_csv(out / "outcomes.csv", index=False)
    files = ["records.parquet", "outcomes.csv", "manifest.json", "report.md"]
    if result.scores:
        _write_scores_csv(result, out / "scores.csv")
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
        "downgrades": _downgrades(llm_model),
        "packages": package_versions(),
        "wall_seconds": round(result.wall_seconds, 3),
        "files": files,
    }
    write_manifest(out / "manifest.json", manifest)
    (out / "report.md").write_text(run_report(result, manifest))
    return out


def _downgrades(model: Any) -> dict[str, int]:
    """Answers a remote backend obtained in a degraded mode (e.g. exact -> sampled), from its accounting."""
    from populace_lm.budget import AccountingModel, find_layer

    layer = find_layer(model, AccountingModel)
    backend = layer.summary().get("backend") if layer is not None else None
    return dict(backend.get("downgrades", {})) if isinstance(backend, dict) else {}


def _write_scores_csv(result: RunResult, path: Path, chunk: int = 1 << 18) -> None:
    """``_scores_frame(result).to_csv(path, index=False)``, a chunk of agents at a time (the same bytes)."""
    cols = score_names(result)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        header = True
        for r, s in enumerate(result.scores):
            s2 = np.atleast_2d(np.asarray(s, dtype=float).T).T  # (n, D)
            for lo in range(0, s2.shape[0], chunk):
                frame = pd.DataFrame(s2[lo : lo + chunk], columns=cols)
                frame.insert(0, "agent", np.arange(lo, lo + len(frame)))
                frame.insert(0, "replicate", r)
                frame.to_csv(fh, index=False, header=header)
                header = False


def _score_columns(result: RunResult) -> pd.DataFrame:
    """The score columns of :func:`_scores_frame` alone (no per-agent id columns)."""
    parts = [np.atleast_2d(np.asarray(s, dtype=float).T).T for s in result.scores]
    cols = score_names(result)
    return pd.DataFrame(parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0), columns=cols, copy=False)


def score_names(result: RunResult) -> list[str]:
    """The score columns of a survey or decision run: ``score_<dimension>`` for each of the scenario's dimensions."""
    from scenarios.registry import get_scenario

    return [f"score_{d}" for d in get_scenario(result.config.scenario).dimensions]


def run_outcomes(result: RunResult) -> pd.DataFrame:
    """The outcomes table written to ``outcomes.csv``: per round of a game; per item of a survey.

    A survey's "round" is one item: its rows are labelled with the item (``item`` = its id) and hold the item's
    ``mean_answer`` and ``parse_failure_rate`` only (the game columns mean nothing there).
    """
    o = result.outcomes
    if not result.config.is_survey:
        return o
    rec = result.records
    if len(rec):
        item_of = rec.drop_duplicates("round").set_index("round")["question"]
    else:  # records streamed to records.parquet: item t of the scenario is round t
        from scenarios.registry import get_scenario

        item_of = pd.Series({t: q.id for t, q in enumerate(get_scenario(result.config.scenario).questions(), start=1)})
    table = pd.DataFrame(
        {
            "replicate": o["replicate"].to_numpy(),
            "item": o["round"].map(item_of).to_numpy(),
            "mean_answer": o["mean_decision"].to_numpy(),
            "parse_failure_rate": o["parse_failure_rate"].to_numpy(),
        }
    )
    return table


def _scores_frame(result: RunResult) -> pd.DataFrame:
    """One row per replicate and agent, one ``score_<dimension>`` column per dimension."""
    frames = []
    names = score_names(result)
    for r, s in enumerate(result.scores):
        s2 = np.atleast_2d(np.asarray(s, dtype=float).T).T  # (n, D)
        frame = pd.DataFrame(s2, columns=names)
        frame.insert(0, "agent", np.arange(s2.shape[0]))
        frame.insert(0, "replicate", r)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def run_report(result: RunResult, manifest: Mapping[str, Any]) -> str:
    """A Markdown summary of a run (a survey's outcomes per item; a game's per round, its parameters and network)."""
    c = result.config
    pop = manifest["population"]
    lines = [
        f"# Simulation: {c.scenario}",
        "",
        f"- population: {pop['source']} ({pop['construction']}, {pop['components']} components)",
        f"- agents: {c.n_agents} × {c.replicates} replicate(s)"
        + (f", rounds: {c.rounds}" if not c.is_survey else ", every item asked once")
        + f", root seed: {c.seed}",
    ]
    if c.is_survey:
        by = run_outcomes(result).groupby("item", sort=False).mean(numeric_only=True).drop(columns="replicate")
        table = by.reset_index()
    else:
        by = result.outcomes.groupby("round").mean(numeric_only=True).drop(columns="replicate", errors="ignore")
        table = by.dropna(axis=1, how="all").reset_index()
        lines += [
            f"- game parameters: {json.dumps(c.params, sort_keys=True) if c.params else 'the game defaults'}",
            f"- network: {c.network.to_dict() if c.network else 'none (random matching)'}",
            f"- history shown to agents: last {c.history_rounds} round(s)" if c.rounds > 1 else "- one-shot",
        ]
    lines += [
        f"- model: {manifest['model_id']}",
        f"- decisions: {_cost_line(result.stats)}",
        *(
            [
                f"- **degraded answers: {n} distributions that could be read exactly were SAMPLED** (the server sent "
                "no log-probabilities for them; see `run.json`, backend `downgrades`; a rerun on a healthy server "
                "asks again)"
            ]
            if (n := int(manifest.get("downgrades", {}).get("exact_to_sampled", 0)))
            else []
        ),
        f"- wall time: {result.wall_seconds:.1f} s",
        "",
        "Answers are drawn from each prompt's answer distribution renormalised over valid answers; "
        "`parse_failure_rate` is the mean probability the model put on invalid text.",
        "",
        "## Outcomes per " + ("item" if c.is_survey else "round") + " (mean over replicates)",
        "",
        markdown_table(table, digits=3, missing="—"),
        "",
    ]
    if result.scores:
        scores = _score_columns(result)
        summary = scores.agg(["mean", "std"]).T.reset_index().rename(columns={"index": "score"})
        lines += [
            "## Scores (all replicates; per agent in `scores.csv`)",
            "",
            markdown_table(summary, digits=3, missing="—"),
            "",
        ]
    lines += ["Files: " + ", ".join(f"`{f}`" for f in manifest["files"]) + ".", ""]
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


def effects_figure(differences: pd.DataFrame, *, title: str) -> Any:
    """The forest-plot figure of :func:`plot_effects`, sized so every label and the title fit inside it.

    The left margin grows with the longest outcome label (``construction · scenario · item`` in a study) and the
    title is wrapped, so nothing is cut off.
    """
    import textwrap

    items = differences[differences["kind"] == "item"]
    score = differences[differences["kind"] == "score"]
    longest = max((len(str(o)) for o in differences["outcome"]), default=8)
    label_in = 0.075 * longest  # inches of tick text at fontsize 8 (about 5.4 pt a character)
    wrapped = "\n".join(textwrap.wrap(title, 110)) or title
    height = 1.4 + 0.35 * max(len(items), len(score), 2) + 0.18 * wrapped.count("\n")
    fig, axes = plt.subplots(
        1, 2, figsize=(6 + 2 * label_in, height), gridspec_kw={"width_ratios": [3, 1]}, squeeze=False
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
    fig.suptitle(wrapped, fontsize=9)
    fig.tight_layout()
    return fig


def plot_effects(differences: pd.DataFrame, path: Path, *, title: str) -> Path:
    """Forest plot of a survey what-if: paired differences with their CIs, items left and score right.

    The exact difference from the answer distributions is drawn as a cross; a vertical line marks 0. Every label
    fits inside the figure (:func:`effects_figure`).
    """
    fig = effects_figure(differences, title=title)
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
            "paired difference (treatment − control) with a paired Student-t 95% CI over seeds (mean ± t·sd/√seeds, `ci_method` = t: honest with few seeds, where a bootstrap is only the min–max of the seeds). "
            "`exact_*` columns are population-weighted expectations from the answer distributions (no sampling; "
            "— when the population has more components than agent draws, to keep the cost at the simulation's).",
        ]
    else:
        lines += [
            "Each replicate's outcome is its mean over rounds; `difference` is the mean paired difference "
            "(intervention − baseline) with a paired Student-t 95% CI over seeds (mean ± t·sd/√seeds, `ci_method` = t: honest with few seeds, where a bootstrap is only the min–max of the seeds).",
        ]
    from experiments.reporting import SIMULATED_EFFECT_NOTE

    lines += ["", SIMULATED_EFFECT_NOTE, "", markdown_table(result.differences, digits=3, missing="—"), ""]
    if not result.is_survey:
        lines += ["Outcomes: " + "; ".join(f"`{k}` = {v}" for k, v in OUTCOMES.items()) + ".", ""]
        lines += ["Plots (mean over seeds per round, ±1.96 SE): " + ", ".join(f"`{p}`" for p in plots), ""]
    else:
        lines += ["![effects](effects.png)", ""]
    return "\n".join(lines)
