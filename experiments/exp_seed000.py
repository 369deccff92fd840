"""``populace experiment seed000``: the prompt-mixture paper's comparison on Big Five traits and economic games.

Reproduces the shape of Tables 1/3 and Figures 1/2 of "Distributional Alignment for Social Simulation with LLMs:
A Prompt Mixture Modeling Approach": rows are population constructions, columns are scenarios (traits or games),
cells are W1 to the **test** half of the humans. Constructions:

* ``human_1000`` — the floor: 1,000 random test humans vs the other test humans (mean ± SD over 10 draws);
* ``fixed_prompt`` — one default system prompt;
* ``random_persona:<pool>`` — personas drawn from ``personahub`` / ``personachat``, equal weights;
* ``demographic_persona`` — template personas from BIG5 respondents' demographics (OASIS-style);
* ``mop`` — Mixture-of-Personas (pool persona × human exemplar from the fit half), LP weights;
* ``em`` / ``gb`` — prompt mixtures fitted by Algorithms 1 and 2 on the fit half.

Each population is scored exactly (its mixture distribution) and as the paper does (1,000 prompts drawn by weight,
one answer each, 10 repeats: mean ± SD). Outputs in ``--out``: ``table.md``, ``seed000.json`` (every number, prompt,
weight and cost), ``hist_<scenario>.png``. Requests are seeded and cached: a rerun makes 0 backend calls.

Default sizes (profile ``fast``) are chosen so ``--scenarios bigfive:E,dictator`` finishes on 2 CPU cores with the
embedded SmolLM2-135M within the hour; ``--profile paper`` uses the paper's sizes (K=10, 20 EM iterations, up to 200
GB rounds) and suits a fast API model.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

PROFILES: dict[str, dict[str, int]] = {
    # em_k crafted EM prompts, em_iter EM iterations, gb_rounds GB rounds (patience gb_patience), improve_rounds R,
    # n_personas per persona baseline, mop_personas × mop_exemplars MoP components, max_retries per crafter draft.
    "fast": {
        "em_k": 3,
        "em_iter": 2,
        "gb_rounds": 5,
        "gb_patience": 2,
        "improve_rounds": 1,
        "n_personas": 10,
        "mop_personas": 4,
        "mop_exemplars": 2,
        "max_retries": 2,
        "crafter_max_tokens": 80,
    },
    "paper": {
        "em_k": 10,
        "em_iter": 20,
        "gb_rounds": 200,
        "gb_patience": 5,
        "improve_rounds": 2,
        "n_personas": 100,
        "mop_personas": 20,
        "mop_exemplars": 5,
        "max_retries": 3,
        "crafter_max_tokens": 200,
    },
}
DEFAULT_SCENARIOS = ("bigfive:E", "dictator")
PERSONA_POOLS = ("personahub", "personachat")


# ------------------------------------------------------------------------------------------------ scoring
def _records(
    scenario: str,
    population: str,
    weights: np.ndarray,
    pmfs: np.ndarray,
    valid: np.ndarray,
    support: np.ndarray,
    fit: np.ndarray,
    test: np.ndarray,
    llm_calls: int,
    rng: np.random.Generator,
    repeats: int,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Score records of one population on one scenario (test split) and its exact mixture pmf (S,)."""
    from alignment import mixture_pmf, wasserstein_1d
    from populations.evaluation import evaluate_mixture

    ev = evaluate_mixture(weights, pmfs, support, test, n_prompts=1000, repeats=repeats, rng=rng)
    pmf = mixture_pmf(weights, pmfs)
    vm = float(weights @ valid)
    mean = float(pmf @ support)
    base = {
        "scenario": scenario,
        "population": population,
        "n_agents": int(len(weights)),
        "valid_mass": round(vm, 6),
        "parse_failure_rate": round(1.0 - vm, 6),
        "llm_calls": int(llm_calls),
    }
    recs = [
        {**base, "metric": "w1", "evaluation": "exact", "value": round(ev["w1_exact"], 6)},
        {**base, "metric": "w1_paper_mean", "evaluation": "sampled", "value": round(ev["w1_sampled_mean"], 6)},
        {**base, "metric": "w1_paper_sd", "evaluation": "sampled", "value": round(ev["w1_sampled_sd"], 6)},
        {
            **base,
            "metric": "w1_fit",
            "evaluation": "exact",
            "value": round(float(wasserstein_1d(support, fit, u_weights=pmf)), 6),
        },
        {**base, "metric": "mean", "evaluation": "exact", "value": round(mean, 6)},
        {**base, "metric": "sd", "evaluation": "exact", "value": round(float(np.sqrt(pmf @ (support - mean) ** 2)), 6)},
    ]
    return recs, pmf


def _builder(method: str, model: Any, crafter: Any, settings: dict[str, int], seed: int) -> Any:
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
        random_state=seed,
    )


def _split(scenario: Any, source: str | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from populace_lm.types import stable_seed
    from populations.evaluation import split_humans

    values = scenario.human_values(source)
    return split_humans(values, rng=np.random.default_rng([seed, stable_seed("split", scenario.name)]))


def fit_rows(
    model: Any,
    scenario_name: str,
    *,
    source: str | None = None,
    seed: int = 0,
    fast: bool = True,
    crafter: Any = None,
) -> list[dict[str, Any]]:
    """EM and GB rows for one scenario, as score records (for ``populace demo`` and this experiment).

    Splits the humans 50/50 (seeded by ``seed`` and the scenario name), fits both builders on the fit half and
    scores them on the test half. Metrics: ``w1`` (exact, test), ``w1_paper_mean``/``w1_paper_sd`` (1,000 prompts by
    weight, one answer each, 10 repeats), ``w1_fit``, ``mean``, ``sd``. ``llm_calls`` counts the distinct requests
    fitting needed (cache hits included, so it is the same on every run).

    Args:
        model: the respondent (and default crafter) language model, cache-wrapped for free reruns.
        scenario_name: ``bigfive:E``, ``dictator``, …
        source: human data location (None = default).
        seed: root seed.
        fast: the ``fast`` profile (else ``paper``).
        crafter: optional separate crafter model.

    Returns:
        Records with keys ``scenario, population ("em"/"gb"), metric, value, n_agents, valid_mass,
        parse_failure_rate, llm_calls, evaluation``.
    """
    from scenarios.registry import get_scenario

    settings = PROFILES["fast" if fast else "paper"]
    scenario = get_scenario(scenario_name, source=source)
    fit, test = _split(scenario, source, seed)
    out: list[dict[str, Any]] = []
    for i, method in enumerate(("em", "gb")):
        b = _builder(method, model, crafter, settings, seed).fit(scenario, fit)
        recs, _ = _records(
            scenario.name,
            method,
            b.weights_,
            b.component_pmfs_,
            b.valid_mass_,
            b.support_,
            fit,
            test,
            b.cost_["total"]["requests"],
            np.random.default_rng([seed, 7, i]),
            10,
        )
        out.extend(recs)
    return out


def demo_row(method: str, *, fast: bool = True, crafter: Any = None) -> Any:
    """A row producer for ``experiments.demo.run_demo(rows=...)``: fit ``method`` ("em"/"gb") on the demo's split.

    The producer has the demo's signature ``(model, data, rng) -> (label, RowResult)``; it fits on ``data.fit`` with
    a seed drawn from ``rng`` and scores exactly on ``data.test`` (metrics ``w1``, ``w1_paper_mean``,
    ``w1_paper_sd``, ``w1_fit``, ``mean``, ``sd``).
    """
    if method not in ("em", "gb"):
        raise ValueError(f"method must be 'em' or 'gb', got {method!r}")
    settings = PROFILES["fast" if fast else "paper"]

    def producer(model: Any, data: Any, rng: np.random.Generator) -> tuple[str, Any]:
        from experiments.demo import RowResult

        seed = int(rng.integers(2**31 - 1))
        b = _builder(method, model, crafter, settings, seed).fit(data.scenario, data.fit)
        recs, pmf = _records(
            data.scenario.name,
            method,
            b.weights_,
            b.component_pmfs_,
            b.valid_mass_,
            b.support_,
            data.fit,
            data.test,
            b.cost_["total"]["requests"],
            rng,
            10,
        )
        return method, RowResult(records=recs, pmf=pmf)

    return producer


# ------------------------------------------------------------------------------------------------ the experiment
def run_scenario(
    model: Any,
    crafter: Any,
    name: str,
    *,
    source: str | None,
    seed: int,
    settings: dict[str, int],
    repeats: int = 10,
    log: Any = print,
) -> dict[str, Any]:
    """All constructions on one scenario: records, pmfs for the figure, fitted mixtures and costs."""
    from populations.baselines import DemographicPersonaBuilder, FixedPromptBuilder, RandomPersonaBuilder
    from populations.evaluation import human_floor, population_pmfs
    from populations.mop import MixtureOfPersonasBuilder
    from scenarios.registry import get_scenario

    scenario = get_scenario(name, source=source)
    fit, test = _split(scenario, source, seed)
    support = np.asarray(scenario.support, dtype=float)
    floor = human_floor(test, n=1000, repeats=repeats, rng=np.random.default_rng([seed, 1]))
    records: list[dict[str, Any]] = [
        {
            "scenario": name,
            "population": "human_1000",
            "metric": m,
            "value": round(v, 6),
            "n_agents": floor["n"],
            "valid_mass": 1.0,
            "parse_failure_rate": 0.0,
            "llm_calls": 0,
            "evaluation": "sampled",
        }
        for m, v in (("w1", floor["w1_mean"]), ("w1_paper_mean", floor["w1_mean"]), ("w1_paper_sd", floor["w1_sd"]))
    ]
    detail: dict[str, Any] = {"n_fit": int(fit.size), "n_test": int(test.size), "floor": floor, "fits": {}}
    pmfs: dict[str, np.ndarray] = {}
    timings: dict[str, float] = {}

    def add(label: str, weights: np.ndarray, comp: np.ndarray, valid: np.ndarray, calls: int, k: int) -> None:
        recs, pmf = _records(
            name, label, weights, comp, valid, support, fit, test, calls, np.random.default_rng([seed, 2, k]), repeats
        )
        records.extend(recs)
        pmfs[label] = pmf

    baselines: list[tuple[str, Any]] = [("fixed_prompt", FixedPromptBuilder())]
    baselines += [
        (f"random_persona:{pool}", RandomPersonaBuilder(pool, settings["n_personas"], random_state=seed))
        for pool in PERSONA_POOLS
    ]
    baselines.append(
        ("demographic_persona", DemographicPersonaBuilder(settings["n_personas"], source=source, random_state=seed))
    )
    for k, (label, builder) in enumerate(baselines):
        t0 = time.perf_counter()
        pop = builder.fit().population_
        res = population_pmfs(model, pop, scenario)
        add(label, pop.weights, res["pmfs"], res["valid_mass"], res["requests"], k)
        timings[label] = round(time.perf_counter() - t0, 2)
        log(f"  {name} {label}: {timings[label]} s")

    t0 = time.perf_counter()
    mop = MixtureOfPersonasBuilder(
        model,
        pool="personahub",
        n_personas=settings["mop_personas"],
        n_exemplars=settings["mop_exemplars"],
        random_state=seed,
    ).fit(scenario, fit)
    add("mop", mop.weights_, mop.component_pmfs_, mop.valid_mass_, mop.cost_["total"]["requests"], 10)
    detail["fits"]["mop"] = mop.to_dict()
    timings["mop"] = round(time.perf_counter() - t0, 2)
    log(f"  {name} mop: {timings['mop']} s")

    for k, method in enumerate(("em", "gb")):
        t0 = time.perf_counter()
        b = _builder(method, model, crafter, settings, seed).fit(scenario, fit)
        add(method, b.weights_, b.component_pmfs_, b.valid_mass_, b.cost_["total"]["requests"], 20 + k)
        detail["fits"][method] = b.to_dict()
        timings[method] = round(time.perf_counter() - t0, 2)
        log(
            f"  {name} {method}: {timings[method]} s, fit W1 {b.fit_loss_:.3f} (baseline {b.baseline_loss_:.3f}), "
            f"{len(b.prompts_)} prompts, cost {b.cost_['total']}"
        )
    detail["timings_s"] = timings
    return {"records": records, "pmfs": pmfs, "detail": detail, "test": test, "support": support}


def _table(records: Sequence[dict[str, Any]], scenarios: Sequence[str]) -> str:
    rows = list(dict.fromkeys(r["population"] for r in records))
    cell: dict[tuple[str, str, str], float] = {
        (r["population"], r["scenario"], r["metric"]): r["value"] for r in records
    }
    head = "| construction | " + " | ".join(scenarios) + " |\n|---|" + "---|" * len(scenarios) + "\n"
    exact = head + "".join(
        f"| {p} | " + " | ".join(f"{cell.get((p, s, 'w1'), float('nan')):.3f}" for s in scenarios) + " |\n"
        for p in rows
    )
    paper = head + "".join(
        f"| {p} | "
        + " | ".join(
            f"{cell.get((p, s, 'w1_paper_mean'), float('nan')):.3f} ± {cell.get((p, s, 'w1_paper_sd'), 0.0):.3f}"
            for s in scenarios
        )
        + " |\n"
        for p in rows
    )
    calls = head + "".join(
        f"| {p} | "
        + " | ".join(
            str(next((r["llm_calls"] for r in records if r["population"] == p and r["scenario"] == s), "–"))
            for s in scenarios
        )
        + " |\n"
        for p in rows
    )
    return exact, paper, calls


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

    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; profiles: {sorted(PROFILES)}")
    settings = PROFILES[profile]
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
            meter, crafter_meter, name, source=source, seed=seed, settings=settings, repeats=repeats, log=log
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
    exact, paper, calls = _table(records, list(scenarios))
    (out / "table.md").write_text(
        "# seed000: prompt mixtures vs baselines (W1 to the held-out test half; lower is better)\n\n"
        f"Model: `{getattr(model, 'model_id', '?')}`; crafter: "
        f"`{getattr(crafter, 'model_id', 'same model')}`; profile `{profile}` {settings}; seed {seed}.\n\n"
        "## W1, exact (mixture distribution)\n\n"
        + exact
        + "\n## W1 as in the paper (1,000 prompts by weight, one answer each; mean ± SD over "
        f"{repeats} draws)\n\n"
        + paper
        + "\n## Distinct LLM requests per construction (fitting + evaluation; cache hits included)\n\n"
        + calls
        + f"\nThis run: {meter.cost()['backend_calls']} backend forward passes, {meter.cost()['requests']} requests "
        f"({meter.cost()['cached']} from the cache), {seconds} s. Figures: `hist_*.png`.\n\n"
        "The embedded model (SmolLM2-135M) barely follows personas or crafting instructions; these numbers show "
        "what it does, not a calibrated population.\n"
    )
    payload = {
        "experiment": "seed000",
        "profile": profile,
        "settings": settings,
        "seed": seed,
        "scenarios": list(scenarios),
        "model": getattr(model, "model_id", "?"),
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
    from experiments.common import add_data_args, add_model_args, model_from_args

    p = argparse.ArgumentParser(prog="populace experiment seed000", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help="comma-separated scenarios (bigfive:E, …, dictator, ultimatum_proposer, …)",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--profile", choices=sorted(PROFILES), default="fast", help="builder sizes (default fast)")
    p.add_argument("--repeats", type=int, default=10, help="repeats of the paper-style sampled evaluation")
    p.add_argument("--crafter-model-path", default=None, help="separate GGUF crafter (default: the respondent)")
    p.add_argument("--crafter-base-url", default=None, help="separate OpenAI-compatible crafter endpoint")
    p.add_argument("--crafter-model", default=None, help="model name at the crafter endpoint")
    add_model_args(p)
    add_data_args(p)
    args = p.parse_args(argv)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if not scenarios:
        raise ValueError("--scenarios is empty; e.g. --scenarios bigfive:E,dictator")
    from scenarios.registry import get_scenario

    for s in scenarios:
        get_scenario(s, source=args.data)  # unknown names fail before any model loads
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


def crafter_from_args(args: argparse.Namespace) -> Any:
    """A separate cache-wrapped crafter model from ``--crafter-*`` options, or None (= the respondent)."""
    if not (args.crafter_model_path or args.crafter_base_url or args.crafter_model):
        return None
    ns = argparse.Namespace(**vars(args))
    ns.model_path = args.crafter_model_path
    ns.base_url = args.crafter_base_url
    ns.model = args.crafter_model
    ns.backend = "openai" if (args.crafter_base_url or args.crafter_model) else "local"
    from experiments.common import model_from_args

    return model_from_args(ns)
