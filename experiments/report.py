"""Markdown tables and PNG histograms for score records (files a user can open).

Like with like: every table sets the human floor beside ``w1_sampled`` (both are ``n`` draws against the test
humans) and shows ``w1_exact`` in its own column group labelled *exact*, never beside the floor. Column headers say
which kind each number is (see :data:`populations.evaluation.COLUMN_KINDS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["crafting_table", "records_table", "score_pivot", "write_histograms", "write_report"]


def _pm(mean: float, sd: float) -> str:
    return f"{mean:.3f} ± {sd:.3f}"


def records_table(records: Sequence[dict[str, Any]]) -> str:
    """One row per (scenario, construction): sampled W1 beside the floor, then exact columns, validity and cost."""
    lines = [
        "| scenario | construction | W1 sampled (n agents, mean ± sd) | human floor (n humans, mean ± sd) | n "
        "| W1 exact (pmf) | mean (exact) | valid mass | parse-failure rate | LLM requests |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(records, key=lambda r: (r["scenario"], r["construction"])):
        lines.append(
            f"| {r['scenario']} | {r['construction']} | {_pm(r['w1_sampled_mean'], r['w1_sampled_sd'])} | "
            f"{_pm(r['floor_mean'], r['floor_sd'])} | {r['floor_n']} | {r['w1_exact']:.3f} | "
            f"{r.get('mean_exact', float('nan')):.2f} | {r['valid_mass']:.3f} | {r['parse_failure_rate']:.3f} | "
            f"{r['llm_calls']} |"
        )
    return "\n".join(lines)


def crafting_table(records: Sequence[dict[str, Any]]) -> str:
    """Per row of a crafted construction: prompts kept, crafts failed and why, and whether it fell back."""
    rows = [r for r in records if r.get("n_crafted") is not None or r.get("n_failed") is not None]
    if not rows:
        return "No construction crafted prompts."
    lines = [
        "| scenario | construction | crafted prompts kept | crafts failed | fell back to fixed prompt | why |",
        "|---|---|---:|---:|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["scenario"], r["construction"])):
        reasons = r.get("failure_reasons") or {}
        why = "; ".join(f"{k} (×{v})" for k, v in reasons.items()) or "–"
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
