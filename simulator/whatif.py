"""Policy what-if: the same population and seeds under a baseline and an intervention, paired.

For every replicate both conditions use the same persona draw, graph and Mesa model seed
(:func:`simulator.runner.build_model`), so the difference of an outcome within a replicate isolates the
intervention. The outcome of a replicate is its mean over rounds; the paired differences
(intervention − baseline) over replicates get a percentile bootstrap 95% CI (Efron & Tibshirani 1993, ch. 13)
with ``scipy.stats.bootstrap`` and a generator seeded from the run seed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from populations.persona import Population  # noqa: E402
from simulator.decisions import DecisionService  # noqa: E402
from simulator.runner import (  # noqa: E402
    RunConfig,
    _markdown,
    cache_stats,
    child_seed,
    package_versions,
    run_simulation,
)

__all__ = ["OUTCOMES", "WhatIfResult", "paired_differences", "parse_assignments", "run_whatif", "write_whatif"]

OUTCOMES = {
    "mean_decision": "mean first-mover decision (contribution, gift, offer, amount sent)",
    "cooperation_rate": "share of first movers giving at least half the stakes/endowment",
    "gini_payoff": "Gini coefficient of agents' payoffs in the round",
    "mean_payoff": "mean payoff per agent",
}


def parse_assignments(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["multiplier=1.6", "endowment=20"]`` → ``{"multiplier": "1.6", ...}`` (values validated by ``Game``)."""
    out: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip() or not value.strip():
            raise ValueError(f"condition {item!r} must look like name=value, e.g. multiplier=1.6")
        out[name.strip()] = value.strip()
    return out


@dataclass(frozen=True, kw_only=True)
class WhatIfResult:
    """Outputs of a what-if study.

    Attributes:
        config: the shared run config.
        baseline, intervention: the two conditions' parameter changes.
        per_round: outcomes per condition, replicate and round.
        differences: per outcome: baseline and intervention means, paired mean difference, 95% CI, n.
        records: tidy records of both conditions (``condition`` column first).
        stats: the decision service's statistics.
        wall_seconds: elapsed time.
    """

    config: RunConfig
    baseline: dict[str, Any]
    intervention: dict[str, Any]
    per_round: pd.DataFrame
    differences: pd.DataFrame
    records: pd.DataFrame
    stats: dict[str, int]
    wall_seconds: float


def paired_differences(
    per_round: pd.DataFrame, *, seed: int, confidence: float = 0.95, n_resamples: int = 9999
) -> pd.DataFrame:
    """Paired differences of each outcome's per-replicate mean over rounds, with bootstrap CIs.

    Args:
        per_round: columns ``condition`` (``baseline``/``intervention``), ``replicate``, ``round`` and outcomes.
        seed: seeds the bootstrap generator.
        confidence: CI level.
        n_resamples: bootstrap resamples.

    Returns:
        One row per outcome: ``outcome, baseline, intervention, difference, ci_low, ci_high, n_replicates``.
    """
    means = per_round.groupby(["condition", "replicate"]).mean(numeric_only=True)
    rows = []
    for outcome in OUTCOMES:
        if outcome not in means:
            continue
        b = means.loc["baseline", outcome].sort_index()
        i = means.loc["intervention", outcome].sort_index()
        d = (i - b).to_numpy(dtype=float)
        d = d[np.isfinite(d)]
        lo = hi = float("nan")
        if d.size >= 2 and np.ptp(d) > 0:
            res = stats.bootstrap(
                (d,),
                np.mean,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method="percentile",
                rng=np.random.default_rng(child_seed(seed, "bootstrap", outcome)),
            )
            lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        elif d.size >= 1 and np.ptp(d) == 0:
            lo = hi = float(d[0])  # every replicate gave the same difference
        rows.append(
            {
                "outcome": outcome,
                "baseline": float(np.nanmean(b)),
                "intervention": float(np.nanmean(i)),
                "difference": float(d.mean()) if d.size else float("nan"),
                "ci_low": lo,
                "ci_high": hi,
                "n_replicates": int(d.size),
            }
        )
    return pd.DataFrame(rows)


def run_whatif(
    config: RunConfig,
    population: Population,
    service: DecisionService,
    *,
    baseline: dict[str, Any],
    intervention: dict[str, Any],
    progress: bool = False,
) -> WhatIfResult:
    """Run both conditions on the same replicates and compare them.

    Both conditions' parameters are validated (by :class:`~scenarios.games.Game`) before any LLM call.

    Raises:
        ValueError: a survey scenario, fewer than 2 replicates.
        ScenarioError: unknown parameter or out-of-range value.
    """
    if config.is_survey:
        raise ValueError(f"what-if needs a game scenario, got {config.scenario!r}")
    if config.replicates < 2:
        raise ValueError(f"what-if needs at least 2 seeds for paired CIs, got {config.replicates}")
    for cond in (baseline, intervention):
        config.game.with_params(**cond)  # validate before any call
    start = time.perf_counter()
    runs = {
        name: run_simulation(config, population, service, progress=progress, overrides=cond)
        for name, cond in (("baseline", baseline), ("intervention", intervention))
    }
    per_round = pd.concat([r.outcomes.assign(condition=name) for name, r in runs.items()], ignore_index=True)
    per_round = per_round[["condition", *[c for c in per_round.columns if c != "condition"]]]
    records = pd.concat([r.records.assign(condition=name) for name, r in runs.items()], ignore_index=True)
    records = records[["condition", *[c for c in records.columns if c != "condition"]]]
    return WhatIfResult(
        config=config,
        baseline=dict(baseline),
        intervention=dict(intervention),
        per_round=per_round,
        differences=paired_differences(per_round, seed=config.seed),
        records=records,
        stats=service.stats().to_dict(),
        wall_seconds=time.perf_counter() - start,
    )


def plot_outcome(per_round: pd.DataFrame, outcome: str, path: Path, *, labels: dict[str, str]) -> Path:
    """Mean of ``outcome`` over replicates per round, both conditions, with ±1.96 SE bands."""
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


def write_whatif(
    out_dir: str | Path,
    result: WhatIfResult,
    *,
    llm_model: Any,
    population: Population,
    population_source: str,
    command: str = "",
) -> Path:
    """Write records, per-round outcomes, paired differences, one PNG per outcome, manifest and report."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.records.to_parquet(out / "records.parquet", index=False)
    result.per_round.to_csv(out / "per_round.csv", index=False)
    result.differences.to_csv(out / "differences.csv", index=False)
    labels = {
        "baseline": f"baseline {_cond(result.baseline)}",
        "intervention": f"intervention {_cond(result.intervention)}",
    }
    plots = []
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
        "seeds": {"root": c.seed, "replicates": c.replicates, "paired": True},
        "population": {
            "source": population_source,
            "construction": population.construction,
            "components": len(population),
        },
        "model_id": getattr(llm_model, "model_id", "unknown"),
        "decisions": result.stats,
        "cache": cache_stats(llm_model),
        "packages": package_versions(),
        "wall_seconds": round(result.wall_seconds, 3),
        "files": ["records.parquet", "per_round.csv", "differences.csv", *plots, "manifest.json", "report.md"],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    s = result.stats
    report = [
        f"# What-if: {c.scenario}, {labels['baseline']} vs {labels['intervention']}",
        "",
        f"- population: {population_source} ({population.construction}, {len(population)} components)",
        f"- {c.n_agents} agents, {c.rounds} round(s), {c.replicates} paired seeds (root seed {c.seed}); "
        f"network: {c.network.to_dict() if c.network else 'none (random matching)'}",
        f"- model: {manifest['model_id']}; {s['agent_decisions']} decisions from {s['distinct_prompts']} distinct "
        f"prompts, {s['backend_calls']} backend calls, {s['cache_hits']} cache hits; {result.wall_seconds:.1f} s",
        "",
        "Each replicate's outcome is its mean over rounds; `difference` is the mean paired difference "
        "(intervention − baseline) with a percentile bootstrap 95% CI over seeds.",
        "",
        _markdown(result.differences),
        "",
        "Outcomes: " + "; ".join(f"`{k}` = {v}" for k, v in OUTCOMES.items()) + ".",
        "",
        "Plots (mean over seeds per round, ±1.96 SE): " + ", ".join(f"`{p}`" for p in plots),
        "",
    ]
    (out / "report.md").write_text("\n".join(report))
    return out


def _cond(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items()) or "(defaults)"
