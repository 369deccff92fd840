"""Files of a twin-inference run: ``inference.csv/.md``, ``power.csv/.md``, ``inference.png`` and a report section.

The records come from :func:`populations.twin_inference.run_inference`: one row per scenario part, target (score
or item), subgroup, estimand, labelled size and method (``classical`` = human-only, ``naive`` = simulation-only,
``ppi``, ``ppipp`` = PPI++), each with its interval, the test half's truth and whether the interval covers it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "INFERENCE_COLUMNS",
    "POWER_COLUMNS",
    "inference_markdown",
    "inference_section",
    "merge_outputs",
    "summary_lines",
    "plot_inference",
    "power_markdown",
    "write_inference",
]

INFERENCE_COLUMNS = [
    "scenario", "part", "target", "kind", "group", "estimand", "category", "n", "n_humans", "n_unlabelled",
    "method", "estimate", "ci_low", "ci_high", "width", "truth", "n_test", "covers", "rho", "ess", "lam",
]  # fmt: skip
POWER_COLUMNS = ["scenario", "target", "n", "half_width", "n_classical", "n_ppi", "rho"]
_LABEL = {"classical": "human-only", "naive": "simulation-only", "ppi": "PPI", "ppipp": "PPI++"}


def _f(x: Any, nd: int = 3) -> str:
    return "" if x is None else f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def inference_markdown(records: Sequence[Mapping[str, Any]], *, scores_only: bool = True) -> str:
    """Means (or shares) as one Markdown table: one row per part, target, group, n and method.

    Scores only by default; medians (and, with ``scores_only=False``, items) are in ``inference.csv``.
    """
    rows = [r for r in records if not scores_only or r["kind"] == "score"]
    rows = [r for r in rows if r["estimand"] in ("mean", "share")]
    head = "| scenario | target | group | estimand | n humans | method | estimate | interval | width | test truth | covers | ρ | ESS |"
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        est = r["estimand"] + (f" = {r['category']}" if r["category"] else "")
        target = f"{r['target']} ({r['kind']})"
        lines.append(
            f"| {r['part']} | {target} | {r['group'] or 'all'} | {est} | {r['n_humans']} | {_LABEL[r['method']]} | "
            f"{_f(r['estimate'])} | [{_f(r['ci_low'])}, {_f(r['ci_high'])}] | {_f(r['width'])} | "
            f"{_f(r['truth'])} | {'yes' if r['covers'] else 'no'} | {_f(r['rho'], 2)} | {_f(r['ess'], 1)} |"
        )
    return "\n".join(lines) + "\n"


def power_markdown(power: Sequence[Mapping[str, Any]]) -> str:
    """For a half-width h with this population you need n humans: one row per score target and n."""
    lines = [
        "| scenario | target | n labelled | half-width h (human-only at n) | humans for h alone | humans for h with twins (PPI) | ρ |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in power:
        lines.append(
            f"| {r['scenario']} | {r['target']} | {r['n']} | {_f(r['half_width'])} | {r['n_classical']} | {r['n_ppi']} | "
            f"{_f(r.get('rho'), 2)} |"
        )
    return "\n".join(lines) + "\n"


def plot_inference(records: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Per target (score and items, all respondents): human-only, PPI++ and simulation-only intervals.

    One panel per labelled size ``n``; each target is a row of three horizontal intervals. Targets have different
    scales (a 10–50 score, 1–5 items), so each row is drawn relative to the test half's value (the black line at
    0) in units of that row's human-only half-width: human-only spans about ±1, a shorter PPI++ bar is a narrower
    interval, and a bar that does not reach 0 misses the test half. The simulation-only interval is often a point
    (all twins alike); it is drawn with a marker so it stays visible.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in records if r["group"] == "" and r["estimand"] in ("mean", "share")]
    ns = sorted({r["n"] for r in rows})
    targets = list(dict.fromkeys((r["part"], r["target"], r["category"]) for r in rows))
    fig, axes = plt.subplots(1, max(1, len(ns)), figsize=(4.2 * max(1, len(ns)), 0.45 * len(targets) + 1.8),
                             squeeze=False, sharey=True)  # fmt: skip
    colors = {"classical": "tab:blue", "ppipp": "tab:green", "naive": "tab:red"}
    for ax, n in zip(axes[0], ns, strict=False):
        ax.axvline(0.0, color="black", lw=1.0, label="test half")
        for i, key in enumerate(targets):
            cell = {r["method"]: r for r in rows if r["n"] == n and (r["part"], r["target"], r["category"]) == key}
            if "classical" not in cell:
                continue
            truth = cell["classical"]["truth"]
            unit = max(cell["classical"]["width"] / 2, 1e-9)
            for j, m in enumerate(("classical", "ppipp", "naive")):
                if m not in cell:
                    continue
                r, y = cell[m], i + (j - 1) * 0.22
                lo, hi, est = ((r[k] - truth) / unit for k in ("ci_low", "ci_high", "estimate"))
                ax.plot([lo, hi], [y, y], color=colors[m], lw=2.2, label=_LABEL[m] if i == 0 else None)
                ax.plot([est], [y], marker="o", ms=3.5, color=colors[m])
        ax.set_title(f"n = {n} labelled humans", fontsize=9)
        ax.set_xlabel("distance from the test half, in human-only half-widths", fontsize=8)
    labels = [f"{t}{' = ' + c if c else ''}" if t != p.split(":")[-1] else f"{p} score" for p, t, c in targets]
    axes[0][0].set_yticks(range(len(targets)), labels, fontsize=8)
    axes[0][0].invert_yaxis()
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle("Human-only vs PPI++ (twins + humans) vs simulation-only intervals", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def inference_section(out: Mapping[str, Any], *, figure: str | None) -> list[str]:
    """Report lines: what was estimated, the score table, the power table and the reading of the figure."""
    twins = out["twins"]
    counts = "; ".join(
        f"{name}: {t['profiles']} distinct profiles, {t['requests']} answer requests" for name, t in twins.items()
    )
    lines = [
        "## Estimates about humans: twins plus a few humans",
        "",
        f"Every human row has a digital twin written from its demographics ({counts}). The labelled humans come from the "
        "fit half; the unlabelled set is the other rows' demographics; each interval is checked against the test "
        "half. Human-only uses the labelled humans alone; simulation-only treats the twins' predictions as data (it "
        "ignores the model's bias); PPI and PPI++ correct the twins with the labelled humans, so they stay valid "
        "however biased the model is. ESS is the number of humans a human-only interval would need for the PPI++ "
        "width: ESS ≈ n means the twins add nothing (definitions: docs/inference.md).",
        "",
        inference_markdown(out["records"]),
    ]
    if out["power"]:
        lines += ["", "Power analysis (ppi_py): humans needed for the human-only half-width h", "",
                  power_markdown(out["power"])]  # fmt: skip
    if figure:
        lines += ["", f"![intervals]({figure})", ""]
    return lines


def summary_lines(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """A few terminal lines: each score's mean at each n, human-only vs PPI++ vs simulation-only, and what it means."""
    rows = [r for r in records if r["kind"] == "score" and r["group"] == "" and r["estimand"] == "mean"]
    cells: dict[tuple[str, int], dict[str, Mapping[str, Any]]] = {}
    for r in rows:
        cells.setdefault((r["part"], r["n"]), {})[r["method"]] = r
    lines = []
    for (part, _n), c in cells.items():
        h, p, s = c["classical"], c["ppipp"], c["naive"]
        lines.append(
            f"{part} mean, {h['n_humans']} humans: human-only {h['estimate']:.2f} ± {h['width'] / 2:.2f}, "
            f"PPI++ {p['estimate']:.2f} ± {p['width'] / 2:.2f} (rho {p['rho']:.2f}, as many as {p['ess']:.0f} humans alone), "
            f"twins alone {s['estimate']:.2f} ± {s['width'] / 2:.2f}; test half {h['truth']:.2f}"
        )
    if lines:
        gain = [c["ppipp"]["ess"] / max(c["classical"]["n_humans"], 1) for c in cells.values()]
        if max(gain) < 1.1:
            lines.append(
                "The twins add about nothing here: their predictions barely correlate with the humans' answers, so "
                "PPI++ falls back to the human-only interval (expected for a model that barely follows personas)."
            )
    return lines


def merge_outputs(by_scenario: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Scenario → :func:`~populations.twin_inference.run_inference` output, as one output (twins per scenario)."""
    return {
        "records": [r for o in by_scenario.values() for r in o["records"]],
        "power": [r for o in by_scenario.values() for r in o["power"]],
        "twins": {name: o["twins"] for name, o in by_scenario.items()},
    }


def write_inference(out_dir: Path, out: Mapping[str, Any]) -> list[Path]:
    """Write ``inference.csv``, ``inference.md``, ``power.csv``, ``power.md`` and ``inference.png``."""
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    p = out_dir / "inference.csv"
    pd.DataFrame(list(out["records"])).reindex(columns=INFERENCE_COLUMNS).to_csv(p, index=False)
    written.append(p)
    p = out_dir / "inference.md"
    p.write_text(inference_markdown(out["records"], scores_only=False), encoding="utf-8")
    written.append(p)
    p = out_dir / "power.csv"
    pd.DataFrame(list(out["power"])).reindex(columns=POWER_COLUMNS).to_csv(p, index=False)
    written.append(p)
    p = out_dir / "power.md"
    p.write_text(power_markdown(out["power"]), encoding="utf-8")
    written.append(p)
    if out["records"]:
        written.append(plot_inference(out["records"], out_dir / "inference.png"))
    return written
