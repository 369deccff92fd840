"""The main job: score simulated populations against held-out humans, end to end, on the embedded model.

For each scenario (the Extraversion trait sum of the IPIP-50 and the dictator game by default):

1. split the human rows with the one seeded split (:func:`populations.evaluation.human_split`);
2. build each construction — ``fixed_prompt`` (one default system prompt), ``em`` and ``gb`` (prompt mixtures of
   Algorithms 1 and 2, fitted on the **fit** half only, ``fast`` sizes) — and read every component's exact answer
   distribution from the model's next-token probabilities (one request per distinct system prompt and question,
   through the cache);
3. score on the **test** half with :mod:`populations.evaluation`: ``w1_exact`` (the exact mixture pmf),
   ``w1_sampled`` (as many sampled agents as the floor has humans, mean ± SD over 10 draws) and the human floor
   (that many test humans against the remaining test humans, disjoint).

A crafting failure of the model (unusable reply, refusal, a prompt naming its target) is recorded and skipped; a
mixture with no usable crafted prompt falls back to the fixed-prompt mixture and its row says so (``fallback``,
``n_failed``, ``failure_reasons``). ``llm_calls`` counts the distinct requests a row needs (served by the backend
or the cache), so it is the same on every run; what the backend did in *this* run is in ``run.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from populace_lm.base import LanguageModel
from populations.evaluation import (
    FloorResult,
    builder_fit_info,
    floor_size,
    human_floor,
    human_split,
    population_pmfs,
    score_population,
)
from scenarios.registry import OneDimScenario, get_scenario

__all__ = [
    "CONSTRUCTIONS",
    "DEFAULT_CONSTRUCTIONS",
    "DEFAULT_SCENARIOS",
    "MIXTURE_PROFILES",
    "Built",
    "ScenarioData",
    "backend_activity",
    "load_scenario_data",
    "mixture_builder",
    "plan_demo",
    "run_demo",
]

DEFAULT_SCENARIOS = ("bigfive:E", "dictator")
DEFAULT_CONSTRUCTIONS = ("fixed_prompt", "em", "gb")
FLOOR_N = 1000
REPEATS = 10

#: Builder sizes of the prompt mixtures. ``fast`` is the demo's and the everyday experiment's; the paper's
#: protocol (per-scenario K) is :data:`experiments.exp_seed000.PAPER` on top of ``paper``.
MIXTURE_PROFILES: dict[str, dict[str, int]] = {
    "fast": {
        "em_k": 3,
        "em_iter": 2,
        "gb_rounds": 5,
        "gb_patience": 2,
        "improve_rounds": 1,
        "max_retries": 2,
        "crafter_max_tokens": 80,
    },
    "paper": {
        "em_k": 10,
        "em_iter": 20,
        "gb_rounds": 200,
        "gb_patience": 200,
        "improve_rounds": 2,
        "max_retries": 3,
        "crafter_max_tokens": 200,
    },
}


@dataclass(frozen=True, kw_only=True)
class ScenarioData:
    """A scenario with its seeded human split and floor.

    Attributes:
        scenario: the one-dimensional scenario.
        fit: human values of the fit half, shape ``(n_fit,)``.
        test: human values of the test half, shape ``(n_test,)``.
        floor: the human floor on the test half.
    """

    scenario: OneDimScenario
    fit: np.ndarray
    test: np.ndarray
    floor: FloorResult


@dataclass(frozen=True, kw_only=True)
class Built:
    """A construction built for one scenario: weighted components and what building cost.

    Attributes:
        weights: shape ``(K,)``.
        component_pmfs: shape ``(K, S)``.
        valid_mass: shape ``(K,)``.
        llm_calls: distinct requests (cache hits included).
        fit_info: crafting outcome (:func:`populations.evaluation.builder_fit_info`).
        detail: prompts, targets and history for ``details.json``.
    """

    weights: np.ndarray
    component_pmfs: np.ndarray
    valid_mass: np.ndarray
    llm_calls: int
    fit_info: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


Construction = Callable[[LanguageModel, ScenarioData, int], Built]


def mixture_builder(method: str, model: Any, crafter: Any, settings: dict[str, int], seed: int, **kw: Any) -> Any:
    """An unfitted :class:`~populations.mixture.PromptMixtureBuilder` with a profile's sizes."""
    from populations.mixture import PromptMixtureBuilder

    params = {
        "n_components": settings["em_k"],
        "crafter": crafter,
        "respondent": model,
        "max_iter": settings["em_iter"],
        "n_rounds": settings["gb_rounds"],
        "patience": settings["gb_patience"],
        "improve_rounds": settings["improve_rounds"],
        "max_retries": settings["max_retries"],
        "crafter_max_tokens": settings["crafter_max_tokens"],
        "random_state": seed,
        **kw,
    }
    return PromptMixtureBuilder(method, **params)


def fixed_prompt(model: LanguageModel, data: ScenarioData, _seed: int) -> Built:
    """The fixed-system-prompt baseline (every agent the same "average" respondent)."""
    from populations.baselines import FixedPromptBuilder

    pop = FixedPromptBuilder().fit().population_
    res = population_pmfs(model, pop, data.scenario)
    return Built(
        weights=pop.weights,
        component_pmfs=res["pmfs"],
        valid_mass=res["valid_mass"],
        llm_calls=res["requests"],
        detail={"prompts": [p.text for p in pop.personas]},
    )


def fit_mixture(
    method: str, *, settings: dict[str, Any] | None = None, profile: str = "fast", crafter: Any = None, **kw: Any
) -> Construction:
    """A construction fitting a prompt mixture (``em``/``gb``) on the fit half.

    A :class:`~populations.crafting.CraftingError` (no usable crafted prompt at all) never aborts the run: the row
    becomes the fixed-prompt mixture, marked ``fallback`` with every failure reason.
    """
    if method not in ("em", "gb"):
        raise ValueError(f"method must be 'em' or 'gb', got {method!r}")
    settings = settings if settings is not None else MIXTURE_PROFILES[profile]

    def build(model: LanguageModel, data: ScenarioData, seed: int) -> Built:
        from populations.crafting import CraftingError

        b = mixture_builder(method, model, crafter, settings, seed, **kw)
        try:
            b.fit(data.scenario, data.fit)
        except CraftingError as exc:
            base = fixed_prompt(model, data, seed)
            history = list(getattr(exc, "history", []) or [])
            reasons: dict[str, int] = {}
            for h in history:
                r = _reason(h)
                reasons[r] = reasons.get(r, 0) + 1
            return Built(
                weights=base.weights,
                component_pmfs=base.component_pmfs,
                valid_mass=base.valid_mass,
                llm_calls=base.llm_calls,
                fit_info={
                    "n_crafted": 0,
                    "n_failed": len(history),
                    "fallback": True,
                    "failure_reasons": reasons or {_reason(str(exc)): 1},
                },
                detail={"prompts": base.detail["prompts"], "error": str(exc), "history": history},
            )
        detail = b.to_dict()
        detail.pop("population", None)
        return Built(
            weights=b.weights_,
            component_pmfs=b.component_pmfs_,
            valid_mass=b.valid_mass_,
            llm_calls=int(b.cost_["total"]["requests"]),
            fit_info=builder_fit_info(b),
            detail=detail,
        )

    return build


def _reason(entry: dict[str, Any] | str) -> str:
    """The failure category of a crafting-log entry: its last attempt's status, numbers masked (``#``)."""
    import re

    text = entry
    if isinstance(entry, dict):
        attempts = entry.get("attempts") or []
        last = attempts[-1] if attempts and isinstance(attempts[-1], dict) else {}
        text = last.get("status") or entry.get("status") or entry.get("failed") or "unusable reply"
    return re.sub(r"\d+(\.\d+)?", "#", str(text)).strip()[:80] or "unusable reply"


CONSTRUCTIONS: dict[str, Callable[[], Construction]] = {
    "fixed_prompt": lambda: fixed_prompt,
    "em": lambda: fit_mixture("em"),
    "gb": lambda: fit_mixture("gb"),
}


def resolve_constructions(names: Sequence[str]) -> dict[str, Construction]:
    """Construction functions by name.

    Raises:
        ValueError: an unknown name, listing the valid ones.
    """
    unknown = [c for c in names if c not in CONSTRUCTIONS]
    if unknown:
        raise ValueError(f"unknown construction(s) {unknown}; use {sorted(CONSTRUCTIONS)}")
    if not names:
        raise ValueError(f"no construction given; use some of {sorted(CONSTRUCTIONS)}")
    return {c: CONSTRUCTIONS[c]() for c in names}


def load_scenario_data(name: str, *, source: str | None, seed: int, rng: np.random.Generator) -> ScenarioData:
    """Resolve a scenario, split its humans with the one split and compute the floor on the test half."""
    scenario = get_scenario(name, source=source)
    fit, test = human_split(scenario, seed=seed, source=source)
    floor = human_floor(test, n=floor_size(test.size, FLOOR_N), repeats=REPEATS, rng=rng)
    return ScenarioData(scenario=scenario, fit=fit, test=test, floor=floor)


def run_demo(
    model: LanguageModel,
    out_dir: str | Path,
    *,
    source: str | None = None,
    seed: int = 0,
    scenarios: Sequence[str] = DEFAULT_SCENARIOS,
    constructions: Sequence[str] | dict[str, Construction] = ("fixed_prompt",),
) -> list[dict[str, Any]]:
    """Run the demo and write ``scores.json``, ``report.md``, ``histograms.png``, ``details.json``, ``run.json``.

    Every random choice derives from ``seed``: the split (:func:`scenarios.split.split_indices`), and through
    ``numpy.random.SeedSequence`` one child per scenario for the floor and one per (scenario, construction) for
    the builder's seed and the sampled score.

    Returns:
        The score records (also in ``scores.json``), one per (scenario, construction).
    """
    from experiments.reporting import write_histograms, write_report

    builds = constructions if isinstance(constructions, dict) else resolve_constructions(list(constructions))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    root = np.random.SeedSequence(seed)
    records: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    panels = []
    for name, child in zip(scenarios, root.spawn(len(scenarios)), strict=True):
        floor_seq, *row_seqs = child.spawn(1 + len(builds))
        data = load_scenario_data(name, source=source, seed=seed, rng=np.random.default_rng(floor_seq))
        pmfs: dict[str, np.ndarray] = {}
        for (label, build), seq in zip(builds.items(), row_seqs, strict=True):
            build_seq, score_seq = seq.spawn(2)
            built = build(model, data, int(build_seq.generate_state(1)[0]))
            rec, pmf = score_population(
                scenario=data.scenario,
                construction=label,
                weights=built.weights,
                component_pmfs=built.component_pmfs,
                valid_mass=built.valid_mass,
                test=data.test,
                floor=data.floor,
                llm_calls=built.llm_calls,
                rng=np.random.default_rng(score_seq),
                fit_info=built.fit_info,
            )
            rec["n_test"] = int(data.test.size)
            rec["n_fit"] = int(data.fit.size)
            records.append(rec)
            pmfs[label] = pmf
            details[f"{data.scenario.name}/{label}"] = {
                **built.detail,
                "weights": [round(float(w), 6) for w in built.weights],
            }
        panels.append((data, pmfs))
    records.sort(key=lambda r: (r["scenario"], r["construction"]))
    (out / "scores.json").write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")
    (out / "details.json").write_text(json.dumps(details, indent=2, sort_keys=True, default=str) + "\n")
    write_histograms(out / "histograms.png", panels)
    run = {
        "seed": seed,
        "scenarios": list(scenarios),
        "constructions": list(builds),
        "model": getattr(model, "model_id", "?"),
        "seconds": round(time.perf_counter() - started, 2),
        **backend_activity(model),
    }
    (out / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True) + "\n")
    write_report(out / "report.md", records, run)
    return records


# ------------------------------------------------------------------------------------------------ --plan
#: Rough token sizes of one request, for the ``--plan`` estimate (SmolLM2 tokenizer, measured on the prompts).
TOKENS = {"respond_prompt": 90, "craft_prompt": 260, "likert_completion": 1, "digits_completion": 3}


def mixture_requests(method: str, settings: dict[str, int], n_questions: int) -> dict[str, int]:
    """Upper bound of the requests one prompt-mixture fit makes (every draft failing into every retry).

    Crafting one component: ``1 + R`` drafts (R improve rounds), each up to ``1 + max_retries`` crafter
    generations and one evaluation of ``n_questions`` respondent distributions. EM crafts ``K`` initial and
    ``K`` per iteration; GB crafts one per round. Plus the default prompt's evaluation.
    """
    crafts = settings["em_k"] * (1 + settings["em_iter"]) if method == "em" else settings["gb_rounds"]
    drafts = crafts * (1 + settings["improve_rounds"])
    return {
        "crafter": drafts * (1 + settings["max_retries"]),
        "respondent": (drafts + 1) * n_questions,
        "crafts": crafts,
    }


def plan_rows(
    scenarios: Sequence[str], constructions: Sequence[str], *, source: str | None, profile: str = "fast"
) -> list[dict[str, Any]]:
    """Estimated requests and tokens per (scenario, construction), without loading a model."""
    settings = MIXTURE_PROFILES[profile]
    rows = []
    for name in scenarios:
        sc = get_scenario(name, source=source)
        q = len(sc.questions())
        completion = TOKENS["likert_completion"] if sc.support.size <= 11 else TOKENS["digits_completion"]
        for c in constructions:
            if c in ("em", "gb"):
                est = mixture_requests(c, settings, q)
            else:
                est = {"crafter": 0, "respondent": q, "crafts": 0}
            tokens = est["crafter"] * (TOKENS["craft_prompt"] + settings["crafter_max_tokens"]) + est["respondent"] * (
                TOKENS["respond_prompt"] + completion
            )
            rows.append(
                {
                    "scenario": sc.name,
                    "construction": c,
                    "questions": q,
                    "crafts": est["crafts"],
                    "crafter_requests_max": est["crafter"],
                    "respondent_requests_max": est["respondent"],
                    "tokens_max": int(tokens),
                }
            )
    return rows


def plan_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown of :func:`plan_rows` with a total line."""
    cols = list(rows[0]) if rows else []
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    total_req = sum(r["crafter_requests_max"] + r["respondent_requests_max"] for r in rows)
    total_tok = sum(r["tokens_max"] for r in rows)
    lines.append(f"\nTotal: at most {total_req} LLM requests and about {total_tok} tokens (upper bound; the cache")
    lines.append("serves every request already answered, and crafting that succeeds first time needs fewer).")
    return "\n".join(lines)


def plan_demo(scenarios: Sequence[str], constructions: Sequence[str], *, source: str | None) -> str:
    """The demo's settings table and request/token estimate (no model is loaded)."""
    s = MIXTURE_PROFILES["fast"]
    head = [
        "| setting | value |",
        "|---|---|",
        f"| scenarios | {', '.join(scenarios)} |",
        f"| constructions | {', '.join(constructions)} |",
        "| split | one seeded 50/50 split of human rows (fit half builds, test half scores) |",
        f"| human floor | n = min({FLOOR_N}, test/2) test humans vs the remaining test humans, {REPEATS} repeats |",
        f"| w1_sampled | n agents drawn from each population (n = the floor's), {REPEATS} repeats |",
        f"| EM | K={s['em_k']}, {s['em_iter']} iterations, R={s['improve_rounds']} improve rounds |",
        f"| GB | up to {s['gb_rounds']} rounds, patience {s['gb_patience']} |",
    ]
    rows = plan_rows(scenarios, constructions, source=source)
    return "\n".join(head) + "\n\n" + plan_table(rows)


def backend_activity(model: LanguageModel) -> dict[str, Any]:
    """Backend calls and cache hits of this process so far, read from the model's wrappers."""
    from populace_lm.budget import AccountingModel, find_layer
    from populace_lm.cache import CachedModel

    info: dict[str, Any] = {}
    cache = find_layer(model, CachedModel)
    if cache is not None:
        stats = cache.stats()
        info["cache_hits"] = stats["hits"]
        info["cache_misses"] = stats["misses"]
        info["cache_path"] = str(cache.path)
    acct = find_layer(model, AccountingModel)
    if acct is not None:
        total = acct.summary()["total"]
        info["backend_requests"] = total["calls"]
        info["backend_forward_passes"] = total["backend_calls"]
        info["prompt_tokens"] = total["prompt_tokens"]
    return info
