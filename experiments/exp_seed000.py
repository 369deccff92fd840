"""``populace experiment seed000``: the prompt-mixture paper's comparison, run as a study file.

Reproduces the shape of Tables 1/3 and Figures 1/2 of "Distributional Alignment for Social Simulation with LLMs:
A Prompt Mixture Modeling Approach": rows are population constructions, columns are scenarios (Big Five traits or
economic games), cells are W1 to the **test** half of the humans. The experiment *is* a study file run by the
pipeline of ``populace compare`` (:func:`experiments.study.run_study`): ``experiments/configs/seed000.toml``
(profile ``fast``, everyday sizes) or ``experiments/configs/seed000_paper.toml`` (profile ``paper``: the paper's
protocol setting by setting, :data:`PAPER`), or a user's ``--study FILE``. Its rows:

* ``fixed`` — one fixed system prompt (the paper's differs between the personality test and the games);
* ``pool:personahub`` / ``pool:personachat`` — personas drawn from a pool, equal weights;
* ``demographic`` — personas from BIG5 respondents' demographics (fit-half respondents; Big Five only in the paper);
* ``mop`` — Mixture-of-Personas (pool persona × fit-half exemplar), LP weights;
* ``em`` / ``gb`` — prompt mixtures fitted by Algorithms 1 and 2 on the fit half.

This module only adds what is paper-shaped: the settings table beside the paper's protocol, and ``seed000.md``
(sampled W1 with the human floor row, exact W1 apart, crafting and requests per row). Everything else — split,
floors, builds, scores, ``table.*``, ``cost.*``, ``grid.png``, ``scores.json``, ``report.md``, ``run.json`` — is the
study pipeline's, so the same ``--seed`` gives the split and floor of ``demo``, ``fit`` and ``compare``.
``--plan`` prints the settings table and the request estimate without loading a model. Requests are seeded and
cached: a rerun makes 0 backend calls.
"""

from __future__ import annotations

import argparse
import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BIG_FIVE_PROMPT = "Imagine you are a human taking a personality test"
GAME_PROMPT = "You are a helpful assistant."

#: The paper's protocol, setting by setting (seed 000, §4 and Appendix A): the "paper" column of the settings table.
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
    "improve_rounds": 2,
}

#: The shipped study of each profile (package data).
STUDIES: dict[str, Path] = {
    "fast": Path(__file__).with_name("configs") / "seed000.toml",
    "paper": Path(__file__).with_name("configs") / "seed000_paper.toml",
}
DEFAULT_SCENARIOS = ("bigfive:E", "dictator")


def is_big_five(name: str) -> bool:
    """Whether a scenario is a Big Five trait."""
    return name.startswith("bigfive:")


def paper_setting(name: str) -> dict[str, Any]:
    """The paper's K, fixed prompt and demographic baseline for one scenario."""
    if is_big_five(name):
        k = PAPER["k_bigfive"]
    elif name == "public_goods":
        k = PAPER["k_public_goods"]
    else:
        k = PAPER["k_other_games"]
    prompt = PAPER["fixed_prompt_bigfive"] if is_big_five(name) else PAPER["fixed_prompt_games"]
    return {"em_k": k, "fixed_prompt": prompt, "demographic": is_big_five(name)}


def load_seed000(
    profile: str = "fast", *, study: str | Path | None = None, scenarios: Sequence[str] | None = None, seed: int | None
) -> Any:
    """The study of a profile (or ``study``), on ``scenarios`` when given, with ``seed`` over every seed when given.

    Raises:
        UsageError: an unknown profile, listing the valid ones.
        StudyError: a bad study file or scenario list (one line).
    """
    from experiments.errors import UsageError
    from experiments.study import load_study, with_scenarios, with_seed

    if study is None and profile not in STUDIES:
        raise UsageError(f"unknown profile {profile!r}; profiles: {sorted(STUDIES)}")
    loaded = load_study(study if study is not None else STUDIES[profile])
    return with_seed(with_scenarios(loaded, list(scenarios) if scenarios else None), seed)


# ------------------------------------------------------------------------------------------------ settings
def _of(study: Any, kind: str, spec: str) -> Any:
    """The construction of ``kind`` built on scenario ``spec`` (the first such row), or None."""
    return next((c for c in study.constructions if c.kind == kind and c.applies_to(spec)), None)


def _values(study: Any, kind: str, key: str) -> str:
    """The values of ``key`` over every construction of ``kind`` on the study's scenarios, joined by ``/``."""
    seen = [
        str(c.params[key])
        for c in study.constructions
        if c.kind == kind and any(c.applies_to(s) for s in study.scenarios)
    ]
    return " / ".join(dict.fromkeys(seen)) or "not run"


def settings_table(study: Any, *, model_id: str, pool_sizes: dict[str, int]) -> str:
    """Markdown: every setting of this study beside the paper's protocol, with the differences marked."""
    from populations.baselines import DEFAULT_SYSTEM_PROMPT

    rows: list[tuple[str, str, str]] = []
    for spec in study.scenarios:
        paper, em, fixed = paper_setting(spec), _of(study, "em", spec), _of(study, "fixed", spec)
        rows.append((f"EM K ({spec})", str(em.params["n_components"]) if em else "not run", str(paper["em_k"])))
        prompt = (fixed.params["system_prompt"] or DEFAULT_SYSTEM_PROMPT) if fixed else "not run"
        rows.append((f"fixed prompt ({spec})", repr(prompt) if fixed else prompt, repr(paper["fixed_prompt"])))
        demographic = "yes" if _of(study, "demographic", spec) else "no"
        rows.append((f"demographic baseline ({spec})", demographic, "yes" if paper["demographic"] else "no"))
    gb_rounds, gb_patience = _values(study, "gb", "n_rounds"), _values(study, "gb", "patience")
    mop = next((c for c in study.constructions if c.kind == "mop"), None)
    rows += [
        ("EM iterations (stop when no prompt changed)", _values(study, "em", "max_iter"), str(PAPER["em_iter"])),
        ("GB rounds (max K)", gb_rounds, str(PAPER["gb_rounds"])),
        ("GB early stop (rounds without improvement)", "none" if gb_patience == gb_rounds else gb_patience, "none"),
        ("crafting improve rounds R", _values(study, "em", "improve_rounds"), str(PAPER["improve_rounds"])),
        ("evaluation: sampled prompts per draw (half the test humans if fewer)", str(study.agents), "1000"),
        ("evaluation: draws", str(study.repeats), str(PAPER["eval_repeats"])),
        ("random personas per pool", _values(study, "pool", "n_personas"), str(PAPER["n_personas"])),
        (
            "MoP personas x exemplars",
            f"{mop.params['n_personas']} x {mop.params['n_exemplars']}" if mop else "not run",
            "the MoP paper's (not restated here)",
        ),
        ("respondent / crafter model", model_id, "the paper's API models"),
    ]
    rows += [(f"persona pool size ({pool})", str(size), "the paper's pool") for pool, size in pool_sizes.items()]
    lines = ["| setting | this run | paper | differs |", "|---|---|---|---|"]
    lines += [f"| {k} | {a} | {b} | {'' if a == b else 'yes'} |" for k, a, b in rows]
    return "\n".join(lines)


def _pool_sizes(study: Any) -> dict[str, int]:
    """Personas available in each pool the study draws from (a pool file's lines; no model loaded)."""
    from populations.pools import load_pool

    pools = {
        c.written.get("pool", c.params["pool"]): c.params["pool"] for c in study.constructions if "pool" in c.params
    }
    return {name: len(load_pool(path)) for name, path in pools.items()}


def plan(study: Any, *, model_id: str) -> str:
    """The settings table and the request/token estimate, as printed by ``--plan``."""
    from experiments.reporting import markdown_table
    from experiments.study import plan_study

    rows = plan_study(study)
    total_req, total_tok = sum(r["est_requests"] for r in rows), sum(r["est_tokens"] for r in rows)
    return (
        f"seed000 plan, study {study.path.name}\n\n"
        + settings_table(study, model_id=model_id, pool_sizes=_pool_sizes(study))
        + "\n\n"
        + markdown_table(rows)
        + f"\n\nTotal: about {total_req} distinct LLM requests and {total_tok} tokens (mixtures: an upper bound; the "
        "cache serves every request already answered)."
    )


# ------------------------------------------------------------------------------------------------ the experiment
def seed000_markdown(result: Any, study: Any, *, model_id: str, crafter_id: str, pool_sizes: dict[str, int]) -> str:
    """``seed000.md``: the settings beside the paper's, then the paper-shaped tables of one study result."""
    from experiments.reporting import crafting_table, score_pivot

    records = result.scores
    return (
        "# seed000: prompt mixtures vs baselines (W1 to the held-out test half; lower is better)\n\n"
        f"Model: `{model_id}`; crafter: `{crafter_id}`; study `{study.path.name}`; seed {study.seed}.\n\n"
        "## Settings (this run beside the paper's protocol)\n\n"
        + settings_table(study, model_id=model_id, pool_sizes=pool_sizes)
        + f"\n\n## W1 sampled ({study.agents} agents drawn by weight, one answer each; mean ± SD over "
        f"{study.repeats} draws) beside the human floor ({study.agents} test humans vs the remaining test humans)\n\n"
        + score_pivot(records, "w1_sampled_mean")
        + "\n\n## W1 exact (mixture distribution; no sampling noise, not comparable with the floor)\n\n"
        + score_pivot(records, "w1_exact")
        + "\n\n## Crafting per row\n\n"
        + crafting_table(records)
        + "\n\n## Distinct LLM requests per construction (fitting + evaluation; cache hits included)\n\n"
        + score_pivot(records, "llm_calls")
        + "\n\nEvery file of `populace compare` sits beside this one (`report.md`, `table.*`, `grid.png`, "
        "`scores.json`, `details.json`, `run.json`). The embedded model (SmolLM2-135M) barely follows personas or "
        "crafting instructions; these numbers show what it does, not a calibrated population.\n"
    )


def run_seed000(
    model: Any,
    out_dir: str | Path,
    study: Any,
    *,
    crafter: Any = None,
    progress: bool = True,
    command: str = "",
    log: Any = print,
) -> Any:
    """Run the study and write compare's folder plus ``seed000.md`` to ``out_dir``.

    Returns:
        The :class:`~experiments.study.StudyResult`.
    """
    from experiments.reporting import backend_activity, cache_stats, write_details, write_study
    from experiments.study import prepare_study, run_study

    started = time.perf_counter()
    prepared = prepare_study(study)  # scenarios, splits and floors before the first LLM call
    result = run_study(study, model, prepared=prepared, progress=progress, crafter=crafter)
    out = Path(out_dir)
    model_id = str(getattr(model, "model_id", "?"))
    crafter_id = str(getattr(crafter, "model_id", "same model")) if crafter is not None else "same model"
    seconds = round(time.perf_counter() - started, 1)
    write_study(
        out,
        result,
        model_id=model_id,
        cache=cache_stats(model),
        command=command,
        title="seed000: prompt mixtures vs baselines",
        manifest={"kind": "populace.experiment.seed000", "crafter": crafter_id, "seconds": seconds}
        | backend_activity(model),
    )
    write_details(out, result)
    text = seed000_markdown(result, study, model_id=model_id, crafter_id=crafter_id, pool_sizes=_pool_sizes(study))
    (out / "seed000.md").write_text(text)
    log(f"wrote {out}/seed000.md, report.md, table.md, grid.png, scores.json, details.json, run.json in {seconds} s")
    return result


def main(argv: list[str]) -> int:
    """Command-line entry (``populace experiment seed000 ...``)."""
    from experiments.common import add_crafter_args, add_data_args, add_model_args, crafter_from_args, model_from_args
    from experiments.errors import UsageError

    p = argparse.ArgumentParser(prog="populace experiment seed000", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--scenarios",
        default=None,
        help="comma-separated scenarios overriding the study's (bigfive:E, …, dictator, ultimatum_proposer, …)",
    )
    p.add_argument("--out", default=None, help="output folder (required unless --plan)")
    p.add_argument("--profile", default="fast", help=f"shipped study: {', '.join(sorted(STUDIES))} (default fast)")
    p.add_argument("--study", default=None, help="a study file of your own instead of the profile's")
    p.add_argument(
        "--plan", action="store_true", help="print the settings table and an estimate of LLM requests; run nothing"
    )
    add_crafter_args(p)
    add_model_args(p)
    add_data_args(p)
    p.set_defaults(seed=None)  # no --seed: the study file's seeds
    args = p.parse_args(argv)
    scenarios = None if args.scenarios is None else [s for s in args.scenarios.split(",") if s.strip()]
    if scenarios == []:
        raise UsageError("--scenarios is empty; e.g. --scenarios bigfive:E,dictator")
    study = load_seed000(args.profile, study=args.study, scenarios=scenarios, seed=args.seed)
    if args.data is not None:
        from dataclasses import replace

        study = replace(study, data=args.data)
    from scenarios.registry import get_scenario

    for spec in study.scenarios:  # an unknown scenario fails before any model is built
        get_scenario(spec, source=study.data)
    if args.plan:
        print(plan(study, model_id=_model_label(args)))
        return 0
    if not args.out:
        raise UsageError("--out is required (or pass --plan to print the plan only)")
    model = model_from_args(args)
    crafter = crafter_from_args(args)
    run_seed000(model, args.out, study, crafter=crafter, command="populace experiment seed000 " + shlex.join(argv))
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
