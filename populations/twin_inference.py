"""Valid estimates about humans from digital twins plus a few humans (prediction-powered inference).

The mixed subjects design (Broska, Howes & van Loon 2024) with the estimators of prediction-powered inference
(Angelopoulos et al. 2023; PPI++, 2024) from :mod:`alignment.inference`:

1. every human row of a scenario with declared demographic columns has a **twin**: the persona written from its
   demographics by the generic demographic construction (:mod:`populations.twins`), one per distinct profile;
2. a twin's **prediction** is read from its exact answer distribution: the expected value of a target (a score or
   an item), or the probability of a category for a share;
3. the **labelled** set is ``n`` humans drawn from the **fit** half (for each ``n`` of ``humans``); the
   **unlabelled** set is every other row's demographics (or a population frame file's rows);
4. per target, estimand (mean, median, category share), subgroup and ``n``: the human-only (classical),
   simulation-only (naive), PPI and PPI++ intervals, the PPI correlation and the effective sample size; the truth
   that each interval is checked against is the **test** half's value.

:func:`prepare_inference` makes every check before an LLM call (demographics declared, ``n`` within the fit half,
the frame's columns); :func:`run_inference` asks the twins and computes the estimates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from populace_lm.seeds import seed_rng
from populations.human_targets import Target, human_targets, simulated_targets

__all__ = ["InferenceError", "InferenceSettings", "PreparedInference", "prepare_inference", "run_inference"]

_METHODS = ("classical", "naive", "ppi", "ppipp")


class InferenceError(ValueError):
    """Bad input for twin inference, as one line naming the setting and the fix."""


@dataclass(frozen=True, kw_only=True)
class InferenceSettings:
    """What to estimate.

    Attributes:
        humans: labelled sizes ``n`` (humans drawn from the fit half), ascending.
        alpha: 1 − the intervals' level (0.1: 90% intervals).
        columns: the demographic columns that define a twin's profile (None: every declared column); fewer
            columns mean fewer distinct profiles, hence fewer LLM requests.
        frame: a population frame file (CSV of the demographic columns) for the unlabelled set, or None (the
            scenario's other rows).
        min_group: fewest labelled humans a subgroup needs to be estimated.
    """

    humans: tuple[int, ...] = (50, 100, 200)
    alpha: float = 0.1
    columns: tuple[str, ...] | None = None
    frame: str | None = None
    min_group: int = 10


@dataclass(frozen=True, kw_only=True)
class PreparedInference:
    """A scenario's rows, split, twin profiles and labelled draws, resolved before any LLM call.

    Attributes:
        scenario: the scenario as named.
        parts: its one-dimensional parts (one per dimension).
        settings: the settings.
        n_rows: human rows of the scenario (its group), N.
        fit_idx: fit-half rows, shape ``(n_fit,)``; test_idx: test-half rows, ``(n_test,)``.
        targets: per part, its :class:`~populations.human_targets.Target` s over all N rows.
        weights: survey weights of the N rows ``(N,)`` or None.
        groups: the ``data.group`` column of the N rows ``(N,)`` or None.
        profiles: the distinct twin profiles (one row each).
        row_profile: each row's profile, shape ``(N,)``.
        frame_profile: each frame row's profile, shape ``(M,)``, or None (no frame).
        frame_groups: the frame's group column ``(M,)`` or None.
        labelled: ``n`` → the labelled rows drawn from the fit half, shape ``(n,)``.
    """

    scenario: Any
    parts: tuple[Any, ...]
    settings: InferenceSettings
    n_rows: int
    fit_idx: np.ndarray
    test_idx: np.ndarray
    targets: tuple[tuple[Target, ...], ...]
    weights: np.ndarray | None
    groups: np.ndarray | None
    profiles: pd.DataFrame
    row_profile: np.ndarray
    frame_profile: np.ndarray | None
    frame_groups: np.ndarray | None
    labelled: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def n_questions(self) -> int:
        """Questions each twin answers (all parts)."""
        return sum(len(p.questions()) for p in self.parts)

    def unlabelled(self, n: int) -> np.ndarray:
        """The rows outside the labelled draw of size ``n`` (the unlabelled set without a frame), ``(N - n,)``."""
        return np.setdiff1d(np.arange(self.n_rows), self.labelled[n], assume_unique=True)


def prepare_inference(
    scenario: Any,
    settings: InferenceSettings,
    *,
    seed: int,
    split_seed: int,
    fit_fraction: float = 0.5,
    source: Any = None,
) -> PreparedInference:
    """Every check of a twin-inference run, and its labelled draws, before any LLM call.

    Raises:
        InferenceError: a scenario without human rows or declared demographics, an unknown profile column, an
            ``n`` larger than the fit half, or a frame file whose columns do not match.
    """
    from populations.twins import read_frame, twin_profiles
    from scenarios.file_scenarios import split_rows

    name = scenario.name
    declared = tuple(getattr(getattr(getattr(scenario, "spec", None), "data", None), "demographics", ()) or ())
    if not hasattr(scenario, "rows") or not declared:
        raise InferenceError(
            f"scenario {name!r} declares no demographic columns, so its humans have no twins; declare "
            "data.demographics in its scenario file (docs/scenario_files.md)"
        )
    columns = tuple(settings.columns) if settings.columns else declared
    unknown = [c for c in columns if c not in declared]
    if unknown:
        raise InferenceError(
            f"inference.columns: {unknown[0]!r} is not a demographic column of {name!r}; use some of {list(declared)}"
        )
    if not settings.humans or any(int(n) < 2 for n in settings.humans):
        raise InferenceError(f"inference.humans: {list(settings.humans)}: give labelled sizes of at least 2")
    rows = scenario.rows(source)
    fit_idx = split_rows(rows.n, "fit", split_seed, fit_fraction)
    test_idx = split_rows(rows.n, "test", split_seed, fit_fraction)
    too_big = [n for n in settings.humans if n > fit_idx.size]
    if too_big:
        raise InferenceError(
            f"inference.humans: n = {too_big[0]} is larger than the fit half of {name!r} ({fit_idx.size} rows); "
            f"use at most {fit_idx.size} (labelled humans come from the fit half only)"
        )
    parts = tuple(scenario.by_dimension()) if len(scenario.dimensions) > 1 else (scenario,)
    demo = rows.demographics[list(columns)].reset_index(drop=True)
    frame = frame_groups = None
    if settings.frame is not None:
        frame_all = read_frame(settings.frame, scenario)
        frame = frame_all[list(columns)].reset_index(drop=True)
        group_col = getattr(scenario.spec.data, "group", "")
        if group_col and group_col in frame_all.columns:
            frame_groups = frame_all[group_col].to_numpy(dtype=object)
    both = demo if frame is None else pd.concat([demo, frame], ignore_index=True)
    profiles, index = twin_profiles(both)
    labelled = {}
    for n in sorted({int(n) for n in settings.humans}):
        rng = seed_rng(seed, "infer-labelled", name, n)
        labelled[n] = np.sort(rng.choice(fit_idx, size=n, replace=False))
    return PreparedInference(
        scenario=scenario,
        parts=parts,
        settings=settings,
        n_rows=rows.n,
        fit_idx=fit_idx,
        test_idx=test_idx,
        targets=tuple(human_targets(p, rows) for p in parts),
        weights=rows.weights,
        groups=None if rows.groups is None or scenario.group else rows.groups,
        profiles=profiles,
        row_profile=index[: rows.n],
        frame_profile=None if frame is None else index[rows.n :],
        frame_groups=frame_groups,
        labelled=labelled,
    )


def _weighted_stat(values: np.ndarray, w: np.ndarray | None, estimand: str) -> float:
    """The test half's truth: a (weighted) mean or share, or the median min{t : F(t) ≥ 1/2} on the answers."""
    if estimand == "median":
        order = np.argsort(values, kind="stable")
        cw = np.cumsum(np.ones(values.size) if w is None else w[order])
        return float(values[order][np.searchsorted(cw / cw[-1], 0.5 - 1e-12)])
    return float(np.average(values, weights=w))


def _estimates(estimand: str, y, yhat, yhat_u, *, alpha, w, w_u):
    from alignment.inference import estimate_mean, estimate_median, estimate_share

    if estimand == "mean":
        return estimate_mean(y, yhat, yhat_u, alpha=alpha, w=w, w_unlabelled=w_u)
    if estimand == "median":
        return estimate_median(y, yhat, yhat_u, alpha=alpha, w=w, w_unlabelled=w_u)
    return estimate_share(y, yhat, yhat_u, alpha=alpha, w=w, w_unlabelled=w_u)


def _cells(target: Target) -> list[tuple[str, float | None]]:
    """(estimand, category) pairs of a target: mean and median when ordered, else one share per category."""
    if target.ordered:
        return [("mean", None), ("median", None)]
    return [("share", float(v)) for v in target.support]


def run_inference(prepared: PreparedInference, model: Any, *, progress: bool = True) -> dict[str, Any]:
    """Ask the twins, then estimate every target, estimand, subgroup and labelled size.

    Returns:
        ``{"records": [...], "power": [...], "twins": {...}}``: one record per (part, target, group, estimand,
        category, n, method) with ``estimate``, ``ci_low``, ``ci_high``, ``width``, ``truth`` (test half),
        ``covers``, ``rho``, ``ess`` and ``lam``; one power row per score target and ``n`` (humans a PPI interval
        needs for the human-only half-width at that ``n``); the twins' profile and request counts.
    """
    from alignment.inference import power_plan
    from populations.evaluation import population_pmfs
    from populations.twins import build_twins

    p = prepared
    s = p.settings
    twins = build_twins(p.scenario, p.profiles)
    records: list[dict[str, Any]] = []
    power: list[dict[str, Any]] = []
    cost = {"profiles": len(p.profiles), "requests": 0, "cached": 0, "backend_calls": 0}
    w_all = p.weights
    for part, targets in zip(p.parts, p.targets, strict=True):
        got = population_pmfs(model, twins, part, progress=progress)
        for k in ("requests", "cached", "backend_calls"):
            cost[k] += int(got[k])
        sims = simulated_targets(part, targets, got["item_probs"], got["pmfs"])
        for target, sim in zip(targets, sims, strict=True):
            for estimand, cat in _cells(target):
                if estimand == "share":
                    at = int(np.searchsorted(target.support, cat))
                    pred = sim[:, at]
                    y_all = np.where(np.isnan(target.values), np.nan, (target.values == cat).astype(float))
                else:
                    pred = sim @ target.support
                    y_all = target.values
                groups: list[str | None] = [None]
                if p.groups is not None and target.kind == "score":
                    groups += sorted(set(p.groups.tolist()))
                for g in groups:
                    for n, lab in p.labelled.items():
                        rec = _cell_record(p, part, target, estimand, cat, g, n, lab, y_all, pred, w_all)
                        records.extend(rec)
                        if rec and g is None and estimand == "mean" and target.kind == "score":
                            used = lab[~np.isnan(y_all[lab])]
                            h = rec[0]["width"] / 2  # the human-only interval's half-width at this n
                            plan = power_plan(y_all[used], pred[p.row_profile[used]], half_width=h, alpha=s.alpha)
                            power.append({"scenario": part.name, "target": target.name, "n": n, "half_width": h,
                                          **plan})  # fmt: skip
    return {"records": records, "power": power, "twins": cost}


def _group_label(scenario: Any, group: Any) -> str:
    """A subgroup's name as the scenario file labels it (``data.demographic_labels`` of the group column)."""
    data = getattr(getattr(scenario, "spec", None), "data", None)
    labels = getattr(data, "demographic_labels", {}).get(getattr(data, "group", ""), {})
    code = str(group)
    if code not in labels and code.endswith(".0"):
        code = code[:-2]
    return f"{labels[code]} ({code})" if code in labels else str(group)


def _cell_record(p, part, target, estimand, cat, group, n, lab, y_all, pred, w_all) -> list[dict[str, Any]]:
    """The four intervals of one cell, or [] when a subgroup has too few labelled humans."""
    s = p.settings
    lab = lab[~np.isnan(y_all[lab])]
    test = p.test_idx[~np.isnan(y_all[p.test_idx])]
    if p.frame_profile is None:
        unl = p.unlabelled(n)
        unl_pred, w_u = pred[p.row_profile[unl]], None if w_all is None else w_all[unl]
        unl_groups = None if p.groups is None else p.groups[unl]
    else:
        unl_pred, w_u, unl_groups = pred[p.frame_profile], None, p.frame_groups
    if group is not None:
        if unl_groups is None:
            return []
        lab, test = lab[p.groups[lab] == group], test[p.groups[test] == group]
        keep = unl_groups == group
        unl_pred, w_u = unl_pred[keep], None if w_u is None else w_u[keep]
        if lab.size < s.min_group or test.size < 2 or unl_pred.size < 2:
            return []
    w = None if w_all is None else w_all[lab]
    est = _estimates(estimand, y_all[lab], pred[p.row_profile[lab]], unl_pred, alpha=s.alpha, w=w, w_u=w_u)
    truth = _weighted_stat(y_all[test], None if w_all is None else w_all[test], estimand)
    base = {
        "scenario": p.scenario.name,
        "part": part.name,
        "target": target.name,
        "kind": target.kind,
        "group": "" if group is None else _group_label(p.scenario, group),
        "estimand": estimand,
        "category": "" if cat is None else f"{cat:g}",
        "n": int(n),
        "n_humans": int(lab.size),
        "n_unlabelled": int(unl_pred.size),
        "truth": truth,
        "n_test": int(test.size),
        "rho": float(est.rho),
        "ess": float(est.ess),
        "lam": float(est.lam),
    }
    out = []
    for m in _METHODS:
        iv = getattr(est, m)
        out.append({**base, "method": m, "estimate": float(iv.estimate), "ci_low": float(iv.lo),
                    "ci_high": float(iv.hi), "width": float(iv.hi - iv.lo), "covers": bool(iv.lo <= truth <= iv.hi)})  # fmt: skip
    return out
