"""A social-influence study file: humans vs LLM constructions vs classical models on held-out groups.

``populace compare experiments/configs/lorenz2011.toml --out D`` (or ``populace influence --study FILE``) reads a
study file with ``kind = "influence"`` (keys: :data:`STUDY_KEYS`; constructions: target-free kinds of the one
construction registry — ``fixed``, ``pool``, ``demographic``, ``file``), splits each condition's human groups into
fit and held-out halves, fits the classical models on the fit groups, simulates the held-out groups and writes:

* ``table.csv`` / ``table.md``: per condition and source, the metrics of :mod:`alignment.influence` with bootstrap
  CIs over groups (``source = humans`` are the held-out humans themselves);
* ``trajectory.png`` / ``trajectory.csv``: the median diversity ``var(log x_t)/var(log x_1)`` per round;
* ``params.json``: the fitted classical parameters per condition, the LLM runs' answer grid, rounding, prompts;
* ``report.md``: the tables and settings in words.
"""

from __future__ import annotations

import csv
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments.errors import UsageError
from scenarios.schema import Param, at_least, one_of, open_unit, read_table

__all__ = ["STUDY_KEYS", "InfluenceStudy", "humans_table", "is_influence_study", "load_influence_study",
           "run_influence_study", "write_influence"]  # fmt: skip

COLUMNS = ("source", "condition", "groups", "diversity_ratio", "diversity_ratio_lo", "diversity_ratio_hi",
           "error_first", "error_last", "error_last_lo", "error_last_hi", "truth_in_range_first",
           "truth_in_range_last", "alpha", "alpha_lo", "alpha_hi")  # fmt: skip
STUDY_KEYS: dict[str, Param] = {
    "kind": Param("str", check=one_of("influence"), help='"influence"'),
    "scenario": Param("str", help="a built-in social-influence scenario (lorenz2011) or a FILE.toml"),
    "seed": Param("int", 0, at_least(0), help="root seed: split, graphs, personas, draws, bootstrap"),
    "fit_fraction": Param("float", 0.5, open_unit, help="share of each condition's groups the classical models fit"),
    "items": Param("str_list", None, help="items whose held-out groups are simulated (default: all)"),
    "groups_per_cell": Param("int", 0, at_least(0), help="held-out groups per condition and item (0 = all)"),
    "classical": Param("str_list", ["degroot", "friedkin_johnsen", "bounded_confidence"], help="classical models"),
    "shown_digits": Param("int", 3, at_least(1), help="significant figures of numbers shown to LLM agents"),
    "per_decade": Param("int", None, at_least(1), help="re-grid log-grid items at this many options a decade"),
    "start": Param("str", "humans", one_of("humans", "model"), help="round 1: the humans' own or the model's"),
    "bootstrap": Param("int", 2000, at_least(10), help="bootstrap replicates of each CI"),
    "data": Param("str", None, help="human data source (default $POPULACE_DATA)"),
    "constructions": Param("str", None, help="(array of tables) LLM populations: [[constructions]] name, kind, …"),
}


class InfluenceStudyError(UsageError):
    """An invalid social-influence study file (one line: file, key, fix)."""


@dataclass(frozen=True, kw_only=True)
class InfluenceStudy:
    """A validated influence study file (see :data:`STUDY_KEYS`)."""

    path: str
    scenario: str
    seed: int
    fit_fraction: float
    items: tuple[str, ...] | None
    groups_per_cell: int
    classical: tuple[str, ...]
    shown_digits: int
    per_decade: int | None
    start: str
    bootstrap: int
    data: str | None
    constructions: tuple[dict[str, Any], ...]


def is_influence_study(path: str | Path) -> bool:
    """Whether a study file declares ``kind = "influence"`` (``compare`` hands it to this module)."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8")).get("kind") == "influence"
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False


def load_influence_study(path: str | Path) -> InfluenceStudy:
    """Read and validate a study file.

    Raises:
        InfluenceStudyError: one line naming the file, the key and the fix.
    """
    from populations.constructions import get_construction
    from simulator.opinion_models import OPINION_MODELS

    p = Path(path)
    doc = tomllib.loads(p.read_text(encoding="utf-8"))
    raw = doc.pop("constructions", [])
    top = read_table(doc, {k: v for k, v in STUDY_KEYS.items() if k != "constructions"}, file=p,
                     what="an influence study", error=InfluenceStudyError)  # fmt: skip
    bad = [m for m in top["classical"] if m not in OPINION_MODELS]
    if bad:
        raise InfluenceStudyError(f"{p}: classical: unknown model {bad[0]!r}; use any of {list(OPINION_MODELS)}")
    cons = []
    for i, c in enumerate(raw if isinstance(raw, list) else [raw]):
        where = f"constructions[{i}]."
        if not isinstance(c, dict) or "kind" not in c or "name" not in c:
            raise InfluenceStudyError(f'{p}: {where}: give name = "…" and kind = "fixed" (or pool, file, …)')
        try:
            kind = get_construction(c["kind"])
        except ValueError as exc:
            raise InfluenceStudyError(f"{p}: {where}kind: {exc}") from None
        if not kind.target_free:
            raise InfluenceStudyError(
                f"{p}: {where}kind: {kind.name!r} fits a one-distribution target; an influence study takes "
                "target-free kinds (fixed, pool, demographic, file)"
            )
        params = read_table({k: v for k, v in c.items() if k not in ("name", "kind", "seed")}, kind.params, file=p,
                            where=where, what=f"kind {kind.name!r}", base=p.parent, error=InfluenceStudyError)  # fmt: skip
        cons.append({"name": str(c["name"]), "kind": kind.name, "seed": int(c.get("seed", top["seed"])),
                     "params": params})  # fmt: skip
    scenario = top["scenario"]
    if scenario.lower().endswith(".toml") and not Path(scenario).is_absolute():
        scenario = str((p.parent / scenario).resolve())
    return InfluenceStudy(path=str(p), scenario=scenario, seed=top["seed"], fit_fraction=top["fit_fraction"],
                          items=tuple(top["items"]) if top["items"] else None, groups_per_cell=top["groups_per_cell"],
                          classical=tuple(top["classical"]), shown_digits=top["shown_digits"],
                          per_decade=top["per_decade"], start=top["start"],
                          bootstrap=top["bootstrap"], data=top["data"], constructions=tuple(cons))  # fmt: skip


def _evaluation_mask(humans: Any, test: np.ndarray, items: tuple[str, ...] | None, per_cell: int) -> np.ndarray:
    """The held-out groups every source is scored on: ``items`` only, at most ``per_cell`` per condition × item."""
    keep = test.copy()
    if items is not None:
        keep &= np.isin(np.asarray(humans.items), list(items))
    if per_cell:
        seen: dict[tuple[str, str], int] = {}
        for g in np.flatnonzero(keep):
            cell = (humans.conditions[g], humans.items[g])
            seen[cell] = seen.get(cell, 0) + 1
            keep[g] = seen[cell] <= per_cell
    return keep


def humans_table(scenario: str, *, source: str | None = None, seed: int = 0, n_boot: int = 2000) -> list[dict]:
    """The human metrics table of a social-influence scenario: every group, per condition (rows of :data:`COLUMNS`)."""
    from scenarios.influence import get_influence
    from simulator.influence_study import human_panel, summarise

    spec = get_influence(scenario)
    panel = human_panel(spec.human_rounds(source))
    return [s.row() | {"trajectory": list(s.trajectory)} for s in summarise(panel, seed=seed, n_boot=n_boot)]


def run_influence_study(study: InfluenceStudy, model: Any | None, *, progress: bool = False) -> dict[str, Any]:
    """Run a study: returns ``{"rows", "params", "settings"}`` (rows: one per source and condition).

    Args:
        study: the validated study.
        model: the cache-wrapped language model (None when the study has no constructions).
        progress: progress bars for new distributions.
    """
    from populations.constructions import BuildContext, build_construction, get_construction
    from scenarios.influence import get_influence, with_grid
    from simulator.decisions import DecisionService
    from simulator.influence_study import classical_panel, human_panel, llm_panel, split_groups, summarise

    spec = get_influence(study.scenario)
    if study.per_decade is not None:
        spec = with_grid(spec, study.per_decade)
    humans = spec.human_rounds(study.data)
    fit = split_groups(humans, seed=study.seed, name=spec.name, fit_fraction=study.fit_fraction)
    evaluate = _evaluation_mask(humans, ~fit, study.items, study.groups_per_cell)
    sources = [human_panel(humans, evaluate)]
    params: dict[str, Any] = {}
    for kind in study.classical:
        sp = classical_panel(kind, spec, humans, fit, seed=study.seed, start_mask=evaluate)
        params[kind] = sp.params
        sources.append(sp)
    if study.constructions:
        if model is None:
            raise InfluenceStudyError(f"{study.path}: constructions need a language model")
        service = DecisionService(model, progress=progress)
        for c in study.constructions:
            ctx = BuildContext(model=model, seed=c["seed"], split_seed=study.seed, fit_fraction=study.fit_fraction,
                               source=study.data, progress=progress, name=c["name"])  # fmt: skip
            built = build_construction(get_construction(c["kind"]), ctx, c["params"])
            sp = llm_panel(spec, humans, evaluate, built.population, service, source=c["name"], seed=study.seed,
                           shown_digits=study.shown_digits, start=study.start)  # fmt: skip
            params[c["name"]] = {**sp.params, "kind": c["kind"], "personas": len(built.population)}
            sources.append(sp)
        params["decisions"] = service.stats().to_dict()
    rows = []
    for sp in sources:
        for s in summarise(sp, seed=study.seed, n_boot=study.bootstrap):
            rows.append(s.row() | {"trajectory": list(s.trajectory)})
    settings = {
        "scenario": spec.name, "seed": study.seed, "fit_fraction": study.fit_fraction,
        "fit_groups": int(fit.sum()), "held_out_groups": int((~fit).sum()), "evaluated_groups": int(evaluate.sum()),
        "items": list(study.items) if study.items else [it.id for it in spec.items],
        "groups_per_cell": study.groups_per_cell, "shown_digits": study.shown_digits, "start": study.start,
        "bootstrap": study.bootstrap, "answer_grids": sorted({it.grid.label for it in spec.items}),
    }  # fmt: skip
    return {"rows": rows, "params": params, "settings": settings}


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    fig, axes = plt.subplots(1, len(conditions), figsize=(4.2 * len(conditions), 3.4), sharey=True, squeeze=False)
    for ax, cond in zip(axes[0], conditions, strict=True):
        for r in (r for r in rows if r["condition"] == cond):
            traj = r["trajectory"]
            style = {"color": "black", "linewidth": 2.5} if r["source"] == "humans" else {"linewidth": 1.3}
            ax.plot(range(1, len(traj) + 1), traj, marker="o", label=r["source"], **style)
        ax.set_title(cond)
        ax.set_xlabel("round")
        ax.set_xticks(range(1, max(len(r["trajectory"]) for r in rows) + 1))
        ax.axhline(1.0, color="grey", linewidth=0.5)
    axes[0][0].set_ylabel("median var(log x_t) / var(log x_1)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_influence(out: Path, result: dict[str, Any], *, title: str, notes: str = "") -> list[str]:
    """Write ``table.csv/.md``, ``trajectory.csv/.png``, ``params.json`` and ``report.md``; returns the names."""
    from experiments.tables import markdown_table

    out.mkdir(parents=True, exist_ok=True)
    rows = result["rows"]
    with open(out / "table.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=[*COLUMNS, "alpha_q25", "alpha_q75"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    table = markdown_table(rows, list(COLUMNS), digits=3)
    (out / "table.md").write_text(table + "\n", encoding="utf-8")
    rounds = max(len(r["trajectory"]) for r in rows)
    with open(out / "trajectory.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["source", "condition", *[f"round_{t}" for t in range(1, rounds + 1)]])
        w.writerows([r["source"], r["condition"], *r["trajectory"]] for r in rows)
    _plot(rows, out / "trajectory.png")
    (out / "params.json").write_text(json.dumps({k: result.get(k) for k in ("params", "settings")}, indent=2,
                                                sort_keys=True, default=str) + "\n")  # fmt: skip
    lines = [f"# {title}", "", notes, "", "## Metrics per condition (median over groups, 95% bootstrap CI)", "", table,
             "", "`diversity_ratio` = var(log x_R)/var(log x_1); `error_*` = |mean log x - log truth| in round 1 and R;",
             "`truth_in_range_*` = share of groups whose range holds the truth; `alpha` = revision weight towards the",
             "geometric mean of what each member saw (log scale).", "", "![diversity over rounds](trajectory.png)", "",
             "## Settings", "", "```json", json.dumps(result.get("settings", {}), indent=2, sort_keys=True), "```"]  # fmt: skip
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["table.csv", "table.md", "trajectory.csv", "trajectory.png", "params.json", "report.md"]
