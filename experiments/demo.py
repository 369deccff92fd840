"""The main job: the shipped study ``experiments/configs/demo.toml``, run by the pipeline of ``populace compare``.

:func:`run_demo` loads the study (:data:`DEMO_STUDY`: ``fixed``, ``em`` and ``gb`` at the fast sizes on
``bigfive:E`` and ``dictator``), applies the command line's seed, scenarios and constructions
(:func:`demo_study`), runs it with :func:`experiments.study.run_study` (the one split, floor and scoring of
:mod:`populations.evaluation`) and writes what the README promises: ``scores.json``, ``report.md``,
``histograms.png`` and ``run.json`` (plus ``details.json``: every row's prompts and weights).

A crafting failure of the model (unusable reply, refusal, a prompt naming its target) is recorded and skipped; a
mixture with no usable crafted prompt is the fixed-prompt mixture and its row says so (``fallback``,
``n_failed``, ``failure_reasons``). ``llm_calls`` counts the distinct requests a row needs (served by the backend
or the cache), so it is the same on every run; what the backend did in *this* run is in ``run.json``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from experiments.study import Study, StudyError, load_study, plan_study, prepare_study, run_study, with_seed
from populace_lm.base import LanguageModel

__all__ = ["DEMO_STUDY", "demo_study", "plan_demo", "run_demo"]

#: The shipped study the demo runs (package data).
DEMO_STUDY = Path(__file__).with_name("configs") / "demo.toml"


def demo_study(
    *,
    seed: int | None = None,
    scenarios: Sequence[str] | None = None,
    constructions: Sequence[str] | None = None,
    source: str | None = None,
) -> Study:
    """The shipped demo study with the command line's choices applied.

    Args:
        seed: root seed (None: the file's); overrides every seed of the study (:func:`experiments.study.with_seed`).
        scenarios: scenario names or ``FILE.toml[:DIM]`` (None: the file's).
        constructions: names of the file's constructions to run, in that order (None: all).
        source: human data folder or URL (None: the default source).

    Raises:
        StudyError: no construction, or a name the study does not have (listing the valid ones).
    """
    study = with_seed(load_study(DEMO_STUDY), seed)
    chosen = study.constructions
    if constructions is not None:
        names = {c.name for c in study.constructions}
        unknown = [c for c in constructions if c not in names]
        if unknown or not constructions:
            what = f"unknown construction(s) {unknown}" if unknown else "no construction given"
            raise StudyError(f"{what}; use {sorted(names)}")
        chosen = tuple(c for name in constructions for c in study.constructions if c.name == name)  # every entry
    return replace(
        study,
        scenarios=tuple(scenarios) if scenarios else study.scenarios,
        constructions=chosen,
        data=source if source is not None else study.data,
    )


def run_demo(
    model: LanguageModel,
    out_dir: str | Path,
    *,
    source: str | None = None,
    seed: int = 0,
    scenarios: Sequence[str] | None = None,
    constructions: Sequence[str] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run the demo study and write ``scores.json``, ``report.md``, ``histograms.png``, ``details.json``, ``run.json``.

    Every random choice derives from ``seed`` through the named streams of :mod:`populace_lm.seeds` (the split,
    each scenario's floor, each row's sampled score and the builders), exactly as ``populace compare`` does.

    Returns:
        The score records (also in ``scores.json``), one per (scenario, construction), in study order.
    """
    from experiments.reporting import backend_activity, write_demo

    study = demo_study(seed=seed, scenarios=scenarios, constructions=constructions, source=source)
    started = time.perf_counter()
    prepared = prepare_study(study)
    result = run_study(study, model, prepared=prepared, progress=progress)
    run = {
        "seed": study.seed,
        "scenarios": [ps.scenario.name for ps in prepared],
        "constructions": [c.name for c in study.constructions],
        "model": getattr(model, "model_id", "?"),
        "seconds": round(time.perf_counter() - started, 2),
        "cost": result.cost,
        **backend_activity(model),
    }
    write_demo(Path(out_dir), result, run)
    return result.scores


def plan_demo(study: Study) -> str:
    """The demo's settings and its request estimate (:func:`experiments.study.plan_study`; no model is loaded)."""
    from experiments.reporting import markdown_table, study_settings

    rows = plan_study(study)
    total = sum(r["est_requests"] for r in rows)
    return "\n".join(
        [
            *study_settings(study.settings()),
            "",
            markdown_table(rows),
            "",
            f"Total: about {total} distinct LLM requests (the cache serves every request already answered).",
        ]
    )
