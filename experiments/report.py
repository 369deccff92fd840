"""Markdown tables and PNG histograms for score records (files a user can open)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def score_pivot(records: Sequence[dict[str, Any]], metric: str = "w1") -> str:
    """A Markdown table: rows = populations, columns = scenarios, cells = the metric's value."""
    scenarios = sorted({r["scenario"] for r in records})
    populations = list(dict.fromkeys(r["population"] for r in records))
    cell = {(r["population"], r["scenario"]): r["value"] for r in records if r["metric"] == metric}
    lines = ["| population | " + " | ".join(scenarios) + " |", "|---|" + "---:|" * len(scenarios)]
    for pop in populations:
        vals = [f"{cell[(pop, s)]:.3f}" if (pop, s) in cell else "–" for s in scenarios]
        lines.append(f"| {pop} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def records_table(records: Sequence[dict[str, Any]]) -> str:
    """All W1 records with validity and cost columns, as Markdown."""
    lines = [
        "| scenario | population | W1 | mean | sd | valid mass | parse-failure rate | LLM requests |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        by_key.setdefault((r["scenario"], r["population"]), {**r})[r["metric"]] = r["value"]
    for (scenario, pop), r in sorted(by_key.items()):
        w1 = f"{r['w1']:.3f}" + (f" ± {r['w1_sd']:.3f}" if "w1_sd" in r else "")
        lines.append(
            f"| {scenario} | {pop} | {w1} | {r.get('mean', float('nan')):.2f} | {r.get('sd', float('nan')):.2f} | "
            f"{r['valid_mass']:.3f} | {r['parse_failure_rate']:.3f} | {r['llm_calls']} |"
        )
    return "\n".join(lines)


def write_report(path: Path, records: Sequence[dict[str, Any]], run: dict[str, Any]) -> Path:
    """Write ``report.md``: what was run and the score table."""
    text = f"""# Populace demo report

Model: `{run.get("model")}` · seed {run.get("seed")} · scenarios: {", ".join(run.get("scenarios", []))}

Humans are split 50/50 (seeded); scores are on the **test** half. Simulated distributions are **exact**: item
answer distributions come from the model's next-token probabilities (one request per distinct system prompt and
question), Big Five trait sums are the exact convolution of the ten keyed item distributions, and a population's
distribution is the weighted mixture of its personas'. `human_1000` is the W1 between 1,000 random test humans
and the remaining test humans (mean ± SD over 10 draws): the distance sampling noise alone produces.
`valid mass` is the probability the model put on a valid answer; the parse-failure rate is its complement.
`LLM requests` counts the distinct requests a row needs (served by the backend or the response cache).
`em` and `gb` are prompt mixtures (EM, Algorithm 1; gradient boosting, Algorithm 2) whose prompts are crafted by
the same model and whose weights are fitted (exact LP on W1) on the fit half only, with the `fast` profile of
`populace experiment seed000`.

{records_table(records)}

## W1 to held-out humans (lower is better)

{score_pivot(records)}

## This run

Backend requests made: {run.get("backend_requests", "?")} ({run.get("backend_forward_passes", "?")} forward passes);
cache hits: {run.get("cache_hits", "?")}; wall time: {run.get("seconds", "?")} s. Histograms: `histograms.png`.

Note: the embedded model (SmolLM2-135M) barely follows personas; these rows show the pipeline working on real
data, not a calibrated population.
"""
    path.write_text(text)
    return path


def write_histograms(path: Path, panels: Sequence[tuple[Any, dict[str, np.ndarray]]]) -> Path:
    """One panel per scenario: the human test histogram and each population's exact distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (data, pmfs) in zip(axes[0], panels, strict=True):
        support = data.scenario.support
        edges = np.concatenate([support - 0.5, [support[-1] + 0.5]])
        ax.hist(data.test, bins=edges, density=True, color="0.75", label=f"humans (test, n={data.test.size})")
        for label, pmf in pmfs.items():
            ax.step(support, pmf, where="mid", label=label)
        ax.set_title(data.scenario.name)
        ax.set_xlabel("score")
        ax.set_ylabel("probability")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
