"""A study's ``[inference]`` table: twins plus a few humans on the study's scenarios, in the compare pipeline.

:func:`attach_inference` runs every check of :func:`populations.twin_inference.prepare_inference` inside
:func:`experiments.study.prepare_study` (so ``--plan`` refuses what the run would refuse), :func:`inference_plan_rows`
costs the twins' requests, and :func:`run_study_inference` asks the twins after the constructions.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

__all__ = ["attach_inference", "inference_plan_rows", "run_study_inference"]


def _chosen(study: Any, ps: Any) -> bool:
    """Whether ``[inference]`` covers this prepared scenario (listed, or every scenario with demographics)."""
    inf = study.inference
    if inf["scenarios"] is not None:
        return ps.spec in inf["scenarios"]
    spec = getattr(ps.scenario, "spec", None)
    return bool(getattr(getattr(spec, "data", None), "demographics", ()))


def attach_inference(study: Any, prepared: list[Any]) -> list[Any]:
    """Each prepared scenario with its :class:`~populations.twin_inference.PreparedInference` (or None).

    Raises:
        StudyError: an ``[inference]`` setting the scenario cannot take (one line naming the key and the fix).
    """
    from experiments.study_schema import StudyError
    from populations.twin_inference import InferenceError, InferenceSettings, prepare_inference

    if study.inference is None:
        return prepared
    inf = study.inference
    settings = InferenceSettings(
        humans=tuple(sorted(set(inf["humans"]))),
        alpha=inf["alpha"],
        columns=None if inf["columns"] is None else tuple(inf["columns"]),
        frame=inf["frame"],
        min_group=inf["min_group"],
    )
    out = []
    for ps in prepared:
        if not _chosen(study, ps):
            out.append(ps)
            continue
        try:
            p = prepare_inference(
                ps.scenario,
                settings,
                seed=study.seed,
                split_seed=study.split_seed,
                fit_fraction=study.fit_fraction,
                source=study.data,
            )
        except InferenceError as exc:
            raise StudyError(f"{study.path}: {exc}") from exc
        out.append(replace(ps, inference=p))
    return out


def inference_plan_rows(prepared: list[Any]) -> list[dict[str, Any]]:
    """One ``--plan`` row per scenario with twins: distinct profiles × questions requests."""
    from experiments.plan import ANSWER_TOKENS

    rows = []
    for ps in prepared:
        p = getattr(ps, "inference", None)
        if p is None:
            continue
        requests = len(p.profiles) * p.n_questions
        rows.append(
            {"construction": "twins", "kind": "[inference]", "scenario": ps.scenario.name,
             "dimensions": len(p.parts), "questions": p.n_questions, "components": len(p.profiles),
             "est_requests": requests, "est_tokens": requests * ANSWER_TOKENS}
        )  # fmt: skip
    return rows


def run_study_inference(prepared: list[Any], model: Any, *, progress: bool = True) -> dict[str, Any]:
    """Scenario name → :func:`populations.twin_inference.run_inference` output, for each scenario with twins."""
    from populations.twin_inference import run_inference

    return {
        ps.scenario.name: run_inference(ps.inference, model, progress=progress)
        for ps in prepared
        if getattr(ps, "inference", None) is not None
    }
