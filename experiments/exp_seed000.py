"""``populace experiment seed000``: the prompt-mixture paper's comparison on Big Five traits and economic games.

Reproduces the shape of Tables 1/3 and Figures 1/2 of "Distributional Alignment for Social Simulation with LLMs:
A Prompt Mixture Modeling Approach": rows are population constructions, columns are scenarios (traits or games),
cells are W1 to the **test** half of the humans. Constructions:

* ``fixed_prompt`` — one default system prompt;
* ``random_persona:<pool>`` — personas drawn from ``personahub`` / ``personachat``, equal weights;
* ``demographic_persona`` — template personas from BIG5 respondents' demographics (Big Five only in the paper
  profile, as in the paper);
* ``mop`` — Mixture-of-Personas (pool persona × human exemplar from the fit half), LP weights;
* ``em`` / ``gb`` — prompt mixtures fitted by Algorithms 1 and 2 on the fit half.

Every score comes from :mod:`populations.evaluation` (the one split, floor and records): ``W1 sampled`` (as many
agents as the floor has humans — 1,000 — drawn from the population, mean ± SD over 10 draws) is set beside the
human floor (1,000 test humans vs the remaining test humans); ``W1 exact`` (the mixture pmf) stands apart. The
split, the floor and each row's sampled score use the named seed streams of :mod:`populace_lm.seeds`, so the
same ``--seed`` gives the floor that ``demo``, ``fit`` and ``compare`` report.

Profiles: ``fast`` (everyday, small sizes) and ``paper`` — the paper's protocol setting by setting
(:data:`PAPER`): K=10 for Big Five and public goods and K=50 for the other games, EM ≤ 20 iterations stopping when
no prompt changed, GB up to 200 rounds, 1,000 sampled prompts for evaluation, the paper's fixed prompts, 1,000
random personas, the demographic baseline on Big Five only. ``--plan`` prints the settings table (with every
difference from the paper) and an estimate of LLM requests and tokens without loading a model.

Outputs in ``--out``: ``table.md``, ``seed000.json`` (every number, prompt, weight and cost), ``hist_<scenario>.png``.
Requests are seeded and cached: a rerun makes 0 backend calls.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

BIG_FIVE_PROMPT = "Imagine you are a human taking a personality test"
GAME_PROMPT = "You are a helpful assistant."

#: The paper's protocol, setting by setting (seed 000, §4 and Appendix A).
PAPER: dict[str, Any] = {
    "k_bigfive": 10,
    "k_public_goods": 10,
    "k_other_games": 50,
    "em_iter": 20,
    "em_stop": "prompts unchanged",
    "gb_rounds": 200,
    "eval_prompts": 1000,
    "eval_repeats": 10,
    "fixed_prompt_bigfive": BIG_FIVE_PROMPT,
    "fixed_prompt_games": GAME_PROMPT,
    "n_personas": 1000,
    "demographic_on": "Big Five only",
}

#: Builder sizes of the prompt mixtures: ``fast`` (the demo's, ``experiments/configs/demo.toml``) and ``paper``.
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
#: Rough token sizes of one request, for the ``--plan`` estimate (SmolLM2 tokenizer, measured on the prompts).
TOKENS = {"respond_prompt": 90, "craft_prompt": 260, "likert_completion": 1, "digits_completion": 3}

PROFILES: dict[str, dict[str, Any]] = {
    "fast": {
        **MIXTURE_PROFILES["fast"],
        "n_personas": 10,
        "mop_personas": 4,
        "mop_exemplars": 2,
        "demographic_games": True,
    },
    "paper": {
        **MIXTURE_PROFILES["paper"],
        "gb_patience": PAPER["gb_rounds"],  # no early stop: GB grows up to K=200 (stops only on an exact match)
        "n_personas": PAPER["n_personas"],
        "mop_personas": 20,
        "mop_exemplars": 5,
        "demographic_games": False,
    },
}
DEFAULT_SCENARIOS = ("bigfive:E", "dictator")
PERSONA_POOLS = ("personahub", "personachat")
FLOOR_N = 1000


def is_big_five(name: str) -> bool:
    """Whether a scenario is a Big Five trait."""
    return name.startswith("bigfive:")


def scenario_settings(profile: str, name: str) -> dict[str, Any]:
    """The settings of a profile for one scenario (the paper's K depends on the scenario).

    Raises:
        ValueError: an unknown profile, listing the valid ones.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; profiles: {sorted(PROFILES)}")
    s = dict(PROFILES[profile])
    if profile == "paper":
        if is_big_five(name):
            s["em_k"] = PAPER["k_bigfive"]
        elif name == "public_goods":
            s["em_k"] = PAPER["k_public_goods"]
        else:
            s["em_k"] = PAPER["k_other_games"]
        s["fixed_prompt"] = BIG_FIVE_PROMPT if is_big_five(name) else GAME_PROMPT
    else:
        from populations.baselines import DEFAULT_SYSTEM_PROMPT

        s["fixed_prompt"] = DEFAULT_SYSTEM_PROMPT
    s["demographic"] = is_big_five(name) or s["demographic_games"]
    return s


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


def mixture_builder(method: str, model: Any, crafter: Any, settings: dict[str, Any], seed: int) -> Any:
    """An unfitted :class:`~populations.mixture.PromptMixtureBuilder` with a profile's sizes and fixed prompt."""
    from populations.mixture import PromptMixtureBuilder

    return PromptMixtureBuilder(
        method,
        n_components=settings["em_k"],
        crafter=crafter,
        respondent=model,
        max_iter=settings["em_iter"],
        n_rounds=settings["gb_rounds"],
        patience=settings["gb_patience"],
        improve_rounds=settings["improve_rounds"],
        max_retries=settings["max_retries"],
        crafter_max_tokens=settings["crafter_max_tokens"],
        default_prompt=settings["fixed_prompt"],
        random_state=seed,
    )


def constructions_for(settings: dict[str, Any]) -> list[str]:
    """Row labels built for a scenario with these settings."""
    rows = ["fixed_prompt", *(f"random_persona:{p}" for p in PERSONA_POOLS)]
    if settings["demographic"]:
        rows.append("demographic_persona")
    return [*rows, "mop", "em", "gb"]


# ------------------------------------------------------------------------------------------------ plan
def plan_rows(scenarios: Sequence[str], profile: str, *, source: str | None) -> list[dict[str, Any]]:
    """Estimated LLM requests and tokens per (scenario, construction); no model is loaded."""
    from scenarios.registry import get_scenario

    rows = []
    for name in scenarios:
        sc = get_scenario(name, source=source)
        s = scenario_settings(profile, sc.name)
        q = len(sc.questions())
        completion = TOKENS["likert_completion"] if sc.support.size <= 11 else TOKENS["digits_completion"]
        for c in constructions_for(s):
            if c in ("em", "gb"):
                est = mixture_requests(c, s, q)
            elif c.startswith("random_persona") or c == "demographic_persona":
                est = {"crafter": 0, "respondent": s["n_personas"] * q, "crafts": 0}
            elif c == "mop":
                est = {"crafter": 0, "respondent": (s["mop_personas"] * s["mop_exemplars"] + 1) * q, "crafts": 0}
            else:
                est = {"crafter": 0, "respondent": q, "crafts": 0}
            tokens = est["crafter"] * (TOKENS["craft_prompt"] + s["crafter_max_tokens"]) + est["respondent"] * (
                TOKENS["respond_prompt"] + completion
            )
            rows.append(
                {
                    "scenario": sc.name,
                    "construction": c,
                    "K": s["em_k"] if c == "em" else (s["gb_rounds"] if c == "gb" else ""),
                    "crafter_requests_max": est["crafter"],
                    "respondent_requests_max": est["respondent"],
                    "tokens_max": int(tokens),
                }
            )
    return rows


def settings_table(scenarios: Sequence[str], profile: str, *, model_id: str, pool_sizes: dict[str, int]) -> str:
    """Markdown: every setting of this run beside the paper's, with the differences marked."""
    per = {name: scenario_settings(profile, name) for name in scenarios}
    any_s = next(iter(per.values()))
    rows: list[tuple[str, str, str]] = []
    for name, s in per.items():
        paper_k = scenario_settings("paper", name)["em_k"]
        rows.append((f"EM K ({name})", str(s["em_k"]), str(paper_k)))
        rows.append(
            (f"fixed prompt ({name})", repr(s["fixed_prompt"]), repr(scenario_settings("paper", name)["fixed_prompt"]))
        )
        rows.append(
            (
                f"demographic baseline ({name})",
                "yes" if s["demographic"] else "no",
                "yes" if is_big_five(name) else "no",
            )
        )
    rows += [
        ("EM iterations (stop when no prompt changed)", str(any_s["em_iter"]), str(PAPER["em_iter"])),
        ("GB rounds (max K)", str(any_s["gb_rounds"]), str(PAPER["gb_rounds"])),
        ("GB early stop (rounds without improvement)", str(any_s["gb_patience"]), "none"),
        ("crafting improve rounds R", str(any_s["improve_rounds"]), "2"),
        (
            "evaluation: sampled prompts per draw (half the test humans if fewer)",
            str(FLOOR_N),
            str(PAPER["eval_prompts"]),
        ),
        ("evaluation: draws", str(PAPER["eval_repeats"]), str(PAPER["eval_repeats"])),
        ("random personas per pool", str(any_s["n_personas"]), str(PAPER["n_personas"])),
        (
            "MoP personas x exemplars",
            f"{any_s['mop_personas']} x {any_s['mop_exemplars']}",
            "the MoP paper's (not restated here)",
        ),
        ("respondent / crafter model", model_id, "the paper's API models"),
    ]
    for pool, size in pool_sizes.items():
        rows.append((f"persona pool size ({pool})", str(size), "the paper's pool"))
    lines = ["| setting | this run | paper | differs |", "|---|---|---|---|"]
    for k, a, b in rows:
        same = a == b or (b == "none" and a == str(PAPER["gb_rounds"]))
        lines.append(f"| {k} | {a} | {b} | {'' if same else 'yes'} |")
    return "\n".join(lines)


def _pool_sizes() -> dict[str, int]:
    """Personas available per pool (without loading a model); unknown when a pool is not installed."""
    from populations.pools import load_pool

    out = {}
    for pool in PERSONA_POOLS:
        try:
            out[pool] = len(load_pool(pool))
        except (FileNotFoundError, ValueError):
            out[pool] = 0
    return out


def plan(scenarios: Sequence[str], profile: str, *, source: str | None, model_id: str) -> str:
    """The settings table and the request/token estimate, as printed by ``--plan``."""
    from experiments.reporting import markdown_table

    rows = plan_rows(scenarios, profile, source=source)
    total_req = sum(r["crafter_requests_max"] + r["respondent_requests_max"] for r in rows)
    total_tok = sum(r["tokens_max"] for r in rows)
    return (
        f"seed000 plan, profile {profile!r}\n\n"
        + settings_table(scenarios, profile, model_id=model_id, pool_sizes=_pool_sizes())
        + "\n\n"
        + markdown_table(rows)
        + f"\n\nTotal: at most {total_req} LLM requests and about {total_tok} tokens (upper bound; the cache\n"
        "serves every request already answered, and crafting that succeeds first time needs fewer)."
    )


# ------------------------------------------------------------------------------------------------ the experiment
def run_scenario(
    model: Any,
    crafter: Any,
    name: str,
    *,
    source: str | None,
    seed: int,
    profile: str,
    repeats: int = 10,
    log: Any = print,
) -> dict[str, Any]:
    """All constructions on one scenario: records, pmfs for the figure, fitted mixtures and costs.

    Every construction sees only the fit half (``human_split(scenario, seed=seed)``); the test half is used only by
    :func:`populations.evaluation.score_population`.
    """
    from populace_lm.seeds import seed_rng
    from populations.baselines import DemographicPersonaBuilder, FixedPromptBuilder, RandomPersonaBuilder
    from populations.constructions.baselines import big5_fit_rows
    from populations.evaluation import builder_fit_info, human_split, population_pmfs, score_population, seeded_floor
    from populations.mop import MixtureOfPersonasBuilder
    from scenarios.registry import get_scenario

    scenario = get_scenario(name, source=source)
    settings = scenario_settings(profile, scenario.name)
    fit, test = human_split(scenario, seed=seed, source=source)
    floor = seeded_floor(scenario, test, seed=seed, n=FLOOR_N, repeats=repeats)  # the floor of demo and compare
    detail: dict[str, Any] = {
        "n_fit": int(fit.size),
        "n_test": int(test.size),
        "floor": {"mean": floor.mean, "sd": floor.sd, "n": floor.n, "repeats": floor.repeats},
        "settings": settings,
        "fits": {},
    }
    records: list[dict[str, Any]] = []
    pmfs: dict[str, np.ndarray] = {}
    timings: dict[str, float] = {}

    def add(label: str, weights: Any, comp: Any, valid: Any, calls: int, info: dict | None = None) -> None:
        rec, pmf = score_population(
            scenario=scenario,
            construction=label,
            weights=weights,
            component_pmfs=comp,
            valid_mass=valid,
            test=test,
            floor=floor,
            llm_calls=calls,
            rng=seed_rng(seed, "score", scenario.name, label),
            fit_info=info,
        )
        records.append(rec)
        pmfs[label] = pmf

    baselines: list[tuple[str, Any]] = [("fixed_prompt", FixedPromptBuilder(settings["fixed_prompt"]))]
    baselines += [
        (f"random_persona:{pool}", RandomPersonaBuilder(pool, settings["n_personas"], random_state=seed))
        for pool in PERSONA_POOLS
    ]
    if settings["demographic"]:
        baselines.append(
            (
                "demographic_persona",
                # On a Big Five scenario the personas come from the fit half's respondents only (held-out humans
                # never become personas), as in compare's `demographic` kind.
                DemographicPersonaBuilder(
                    settings["n_personas"],
                    source=source,
                    rows=big5_fit_rows(scenario, seed=seed, fit_fraction=0.5, source=source),
                    random_state=seed,
                ),
            )
        )
    for label, builder in baselines:
        t0 = time.perf_counter()
        pop = builder.fit().population_
        res = population_pmfs(model, pop, scenario)
        add(label, pop.weights, res["pmfs"], res["valid_mass"], res["requests"])
        timings[label] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    mop = MixtureOfPersonasBuilder(
        model,
        pool="personahub",
        n_personas=settings["mop_personas"],
        n_exemplars=settings["mop_exemplars"],
        random_state=seed,
    ).fit(scenario, fit)
    add("mop", mop.weights_, mop.component_pmfs_, mop.valid_mass_, mop.cost_["total"]["requests"])
    detail["fits"]["mop"] = mop.to_dict()
    timings["mop"] = round(time.perf_counter() - t0, 2)

    for method in ("em", "gb"):
        t0 = time.perf_counter()
        b = mixture_builder(method, model, crafter, settings, seed).fit(scenario, fit)
        add(
            method, b.weights_, b.component_pmfs_, b.valid_mass_, int(b.cost_["total"]["requests"]), builder_fit_info(b)
        )
        detail["fits"][method] = {k: v for k, v in b.to_dict().items() if k != "population"}
        timings[method] = round(time.perf_counter() - t0, 2)
    detail["timings_s"] = timings
    log(f"  {name}: {', '.join(f'{k} {v} s' for k, v in timings.items())}")
    return {"records": records, "pmfs": pmfs, "detail": detail, "test": test, "support": scenario.support}


def _table(records: Sequence[dict[str, Any]]) -> tuple[str, str, str, str]:
    """Markdown tables: sampled W1 with the floor row, exact W1, crafting outcomes, requests."""
    from experiments.reporting import crafting_table, score_pivot

    return (
        score_pivot(records, "w1_sampled_mean"),
        score_pivot(records, "w1_exact"),
        crafting_table(records),
        score_pivot(records, "llm_calls"),
    )


def _figure(path: Path, name: str, result: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pmfs, support, test = result["pmfs"], result["support"], result["test"]
    n = len(pmfs)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False, sharex=True)
    edges = np.concatenate([support - 0.5, [support[-1] + 0.5]])
    step = max(1, support.size // 25)  # coarser bins for 0–100 answers
    bins = edges[::step] if step > 1 else edges
    for ax, (label, pmf) in zip(axes.ravel(), pmfs.items(), strict=False):
        ax.hist(test, bins=bins, density=True, color="0.75", label="humans (test)")
        sim_samples = np.repeat(support, 1)
        ax.hist(sim_samples, bins=bins, weights=pmf, density=True, histtype="step", lw=1.5, label=label)
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle(f"{name}: human test half (grey) vs simulated (line)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_seed000(
    model: Any,
    out_dir: str | Path,
    *,
    scenarios: Sequence[str] = DEFAULT_SCENARIOS,
    source: str | None = None,
    seed: int = 0,
    profile: str = "fast",
    crafter: Any = None,
    repeats: int = 10,
    log: Any = print,
) -> dict[str, Any]:
    """Run the experiment and write ``table.md``, ``seed000.json`` and ``hist_<scenario>.png`` to ``out_dir``."""
    from experiments.common import write_json
    from populations.crafting import MeteredModel

    for name in scenarios:
        scenario_settings(profile, name)  # an unknown profile fails before any work
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    meter = MeteredModel(model)
    crafter_meter = MeteredModel(crafter) if crafter is not None else None
    records: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    for name in scenarios:
        log(f"scenario {name}")
        res = run_scenario(
            meter, crafter_meter, name, source=source, seed=seed, profile=profile, repeats=repeats, log=log
        )
        records.extend(res["records"])
        details[name] = res["detail"]
        _figure(out / f"hist_{name.replace(':', '_')}.png", name, res)
    seconds = round(time.perf_counter() - started, 1)
    this_run = {
        "respondent": meter.cost(),
        "crafter": crafter_meter.cost() if crafter_meter else "same as respondent",
        "seconds": seconds,
    }
    names = list(dict.fromkeys(r["scenario"] for r in records))
    sampled, exact, crafting, calls = _table(records)
    model_id = str(getattr(model, "model_id", "?"))
    (out / "table.md").write_text(
        "# seed000: prompt mixtures vs baselines (W1 to the held-out test half; lower is better)\n\n"
        f"Model: `{model_id}`; crafter: `{getattr(crafter, 'model_id', 'same model')}`; profile `{profile}`; "
        f"seed {seed}.\n\n## Settings (this run beside the paper's protocol)\n\n"
        + settings_table(names, profile, model_id=model_id, pool_sizes=_pool_sizes())
        + "\n\n## W1 sampled (1,000 agents drawn by weight, one answer each; mean ± SD over "
        f"{repeats} draws) beside the human floor (1,000 test humans vs the remaining test humans)\n\n"
        + sampled
        + "\n\n## W1 exact (mixture distribution; no sampling noise, not comparable with the floor)\n\n"
        + exact
        + "\n\n## Crafting per row\n\n"
        + crafting
        + "\n\n## Distinct LLM requests per construction (fitting + evaluation; cache hits included)\n\n"
        + calls
        + f"\nThis run: {meter.cost()['backend_calls']} backend forward passes, {meter.cost()['requests']} requests "
        f"({meter.cost()['cached']} from the cache), {seconds} s. Figures: `hist_*.png`.\n\n"
        "The embedded model (SmolLM2-135M) barely follows personas or crafting instructions; these numbers show "
        "what it does, not a calibrated population.\n"
    )
    payload = {
        "experiment": "seed000",
        "profile": profile,
        "paper": PAPER,
        "seed": seed,
        "scenarios": list(scenarios),
        "model": model_id,
        "crafter": getattr(crafter, "model_id", None),
        "records": records,
        "details": details,
        "this_run": this_run,
    }
    write_json(out / "seed000.json", json.loads(json.dumps(payload, default=_jsonable)))
    log(
        f"wrote {out}/table.md, seed000.json, hist_*.png in {seconds} s; backend calls this run: "
        f"{meter.cost()['backend_calls']}"
    )
    return payload


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def main(argv: list[str]) -> int:
    """Command-line entry (``populace experiment seed000 ...``)."""
    from experiments.cmd_fit import crafter_from_args
    from experiments.common import add_data_args, add_model_args, model_from_args
    from experiments.errors import UsageError

    p = argparse.ArgumentParser(prog="populace experiment seed000", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help="comma-separated scenarios (bigfive:E, …, dictator, ultimatum_proposer, public_goods, …)",
    )
    p.add_argument("--out", default=None, help="output folder (required unless --plan)")
    p.add_argument("--profile", default="fast", help=f"sizes: {', '.join(sorted(PROFILES))} (default fast)")
    p.add_argument("--repeats", type=int, default=10, help="draws of the sampled evaluation and of the floor")
    p.add_argument(
        "--plan", action="store_true", help="print the settings table and an estimate of LLM requests; run nothing"
    )
    p.add_argument("--crafter-model-path", default=None, help="separate GGUF crafter (default: the respondent)")
    p.add_argument("--crafter-base-url", default=None, help="separate OpenAI-compatible crafter endpoint")
    p.add_argument("--crafter-model", default=None, help="model name at the crafter endpoint")
    add_model_args(p)
    add_data_args(p)
    args = p.parse_args(argv)
    if args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r}; profiles: {sorted(PROFILES)}")
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if not scenarios:
        raise UsageError("--scenarios is empty; e.g. --scenarios bigfive:E,dictator")
    from scenarios.registry import get_scenario

    scenarios = [get_scenario(s, source=args.data).name for s in scenarios]  # unknown names fail before any model
    if args.plan:
        print(plan(scenarios, args.profile, source=args.data, model_id=_model_label(args)))
        return 0
    if not args.out:
        raise UsageError("--out is required (or pass --plan to print the plan only)")
    model = model_from_args(args)
    crafter = crafter_from_args(args)
    run_seed000(
        model,
        args.out,
        scenarios=scenarios,
        source=args.data,
        seed=args.seed,
        profile=args.profile,
        crafter=crafter,
        repeats=args.repeats,
    )
    return 0


def _model_label(args: argparse.Namespace) -> str:
    """The model a run would use, named without loading it."""
    from populace_lm.config import LLMConfig

    if args.model:
        return str(args.model)
    if args.model_path:
        return Path(args.model_path).name
    cfg = LLMConfig.from_env()
    if cfg.backend == "openai":
        return str(cfg.model)
    return Path(cfg.model_path).name if cfg.model_path else "SmolLM2-135M (embedded)"
