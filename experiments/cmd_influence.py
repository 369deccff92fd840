"""``populace influence``: social-influence experiments (rounds of estimates under an information rule).

* ``populace influence --scenario lorenz2011 --humans-only``: the human metrics table, reproduced from the data;
* ``populace influence --study experiments/configs/lorenz2011.toml --out D`` (the same as ``populace compare`` on
  that file): humans vs LLM constructions vs classical models on held-out groups;
* ``populace run --scenario FILE.toml:ITEM --influence neighbours --rounds 5 --network watts_strogatz:k=4,p=0.1``
  (:func:`run_society`): opinion dynamics of any survey item (or of an influence item, ``lorenz2011:Q1``) on one
  graph of ``--agents`` agents; per round: mean, variance, variance of logs, bimodality, assortativity on the graph.

The metrics (:mod:`alignment.influence`) are one code path for humans and agents.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.common import add_model_args
from experiments.errors import UsageError

__all__ = ["register", "run", "run_society", "run_study_file", "run_whatif_arms"]

_SHOWN = ("source", "condition", "groups", "diversity_ratio", "diversity_ratio_lo", "diversity_ratio_hi",
          "error_first", "error_last", "truth_in_range_first", "truth_in_range_last", "alpha")  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``influence`` sub-command."""
    p = sub.add_parser("influence", help="social-influence experiments: human metrics, LLM societies, classical models",
                       description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("--scenario", default=None, help="a social-influence scenario: lorenz2011 or FILE.toml")
    p.add_argument("--humans-only", action="store_true", help="print (and write) the human metrics table only")
    p.add_argument("--study", default=None, help='an influence study file (kind = "influence"), like compare')
    p.add_argument("--data", default=None, help="human data directory or URL (default $POPULACE_DATA)")
    p.add_argument("--seed", type=int, default=None, help="root seed (default 0; with --study: overrides the file's)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap replicates per CI (default 2000)")
    p.add_argument("--out", default=None, help="output folder (table.csv/.md, trajectory.png, report.md)")
    w = p.add_argument_group("paired what-if (--whatif): two arms on the same agents and seeds")
    w.add_argument("--whatif", action="store_true", help="compare two information rules and/or networks")
    w.add_argument("--control", default="none", help="control rule: none, mean, all, neighbours (default none)")
    w.add_argument("--treated", default="mean", help="treated rule (default mean)")
    w.add_argument("--control-network", default="complete", help="control network (default complete)")
    w.add_argument("--treated-network", default=None, help="treated network (default: the control's)")
    w.add_argument("--groups", type=int, default=10, help="paired groups (default 10)")
    w.add_argument("--population", default="fixed", help="population file or 'fixed' (default)")
    add_model_args(p)
    p.set_defaults(func=run)


def print_rows(rows: list[dict]) -> None:
    """The metrics table on stdout, three decimals."""
    cells = [[f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in _SHOWN] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(_SHOWN)]
    print("  ".join(c.ljust(w) for c, w in zip(_SHOWN, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def run_study_file(args: argparse.Namespace, path: str) -> int:
    """Run an influence study file (``compare`` and ``influence --study`` both come here)."""
    from dataclasses import replace

    from experiments.common import model_from_args
    from experiments.influence_run import load_influence_study, run_influence_study, write_influence
    from populace_lm.progress import set_progress

    study = load_influence_study(path)
    if getattr(args, "seed", None) is not None:
        study = replace(study, seed=args.seed)
    if getattr(args, "data", None):
        study = replace(study, data=args.data)
    if getattr(args, "plan", False):
        print(f"influence study {study.path}: scenario {study.scenario}, classical {list(study.classical)}, "
              f"constructions {[c['name'] for c in study.constructions]}, items {study.items or 'all'}, "
              f"{study.groups_per_cell or 'all'} held-out group(s) per condition and item")  # fmt: skip
        return 0
    if not args.out:
        raise UsageError("influence study: --out FOLDER is required")
    if getattr(args, "quiet", False):
        set_progress(False)
    model = model_from_args(args) if study.constructions else None
    try:
        result = run_influence_study(study, model, progress=not getattr(args, "quiet", False))
    finally:
        close = getattr(model, "close", None)
        if callable(close):
            close()
    notes = (f"Study `{study.path}`: held-out groups of `{study.scenario}`, every simulated source starting from "
             f"round 1 = {'the humans’ own estimates (snapped to the answer grid for LLM agents)' if study.start == 'humans' else 'its own answers'}. "
             f"Model: `{getattr(model, 'model_id', 'none')}`.")  # fmt: skip
    names = write_influence(Path(args.out), result, title=f"Social influence: {study.scenario}", notes=notes)
    print_rows(result["rows"])
    print(f"\nwrote {args.out}/" + ", ".join(names))
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch on the options (see the module docstring)."""
    if args.study:
        return run_study_file(args, args.study)
    if args.whatif:
        return run_whatif_arms(args)
    if not args.scenario:
        raise UsageError("influence: give --scenario NAME (with --humans-only) or --study FILE")
    if not args.humans_only:
        raise UsageError("influence --scenario: add --humans-only (LLM and classical runs: --study FILE)")
    from experiments.influence_run import humans_table, write_influence

    rows = humans_table(args.scenario, source=args.data, seed=args.seed or 0, n_boot=args.bootstrap)
    print_rows(rows)
    if args.out:
        names = write_influence(Path(args.out), {"rows": rows, "settings": {"scenario": args.scenario,
                                "seed": args.seed or 0, "bootstrap": args.bootstrap}},
                                title=f"Human metrics: {args.scenario}", notes="Every human group.")  # fmt: skip
        print(f"\nwrote {args.out}/" + ", ".join(names))
    return 0


def _society_question(name: str, data: str | None, rounds: int, rule: str, show: str) -> tuple[object, object]:
    """(spec, item) of ``--scenario``: an influence scenario's item, or a one-question survey dimension."""
    from scenarios.catalog import influence_files
    from scenarios.influence import get_influence, influence_from_question
    from scenarios.registry import get_scenario

    stem = name.split(":", 1)[0]
    is_file = stem.lower().endswith(".toml")
    if (is_file and _is_influence_file(stem)) or stem in influence_files():
        spec = get_influence(name)
        item_id = name.split(":", 1)[1] if ":" in name else spec.items[0].id
        return spec, spec.item(item_id)
    scenario = get_scenario(name, source=data)
    questions = scenario.questions()
    if len(questions) != 1:
        raise UsageError(
            f"run --influence asks one question over rounds; {name} has {len(questions)}: name one item, "
            f"e.g. --scenario {stem}:{questions[0].id}"
        )
    spec = influence_from_question(scenario.name, questions[0], rounds=rounds, rule=rule, show=show)
    return spec, spec.items[0]


def _is_influence_file(path: str) -> bool:
    import tomllib

    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8")).get("kind") == "influence"
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False


def run_society(args: argparse.Namespace) -> int:
    """``populace run --influence RULE``: one society on one graph, metrics per round, files in ``--out``."""
    import csv

    import numpy as np

    from alignment.influence import bimodality_coefficient, edge_assortativity, log_estimates
    from experiments.cmd_run import load_population
    from experiments.common import model_from_args
    from populace_lm.progress import progress_enabled
    from populace_lm.seeds import seed_int, seed_rng
    from simulator.decisions import DecisionService
    from simulator.influence import InfluenceModel
    from simulator.influence_graph import society_graph

    rounds = args.rounds if args.rounds is not None else 5
    show = getattr(args, "show", None) or "mean"
    spec, item = _society_question(args.scenario, getattr(args, "data", None), rounds, args.influence, show)
    graph = society_graph(args.network or "complete", n_groups=1, group_size=args.agents, seed=args.seed,
                          name="society")  # fmt: skip
    population, source = load_population(args.population)
    llm = model_from_args(args)
    service = DecisionService(llm, progress=progress_enabled())
    model = InfluenceModel(spec=spec, item=item, condition=spec.conditions[0].name, graph=graph,
                           population=population,
                           persona_indices=population.sample(args.agents, rng=seed_rng(args.seed, "influence-population")),
                           service=service, seed=seed_int(args.seed, "influence-model"), rounds=rounds,
                           rule=args.influence, show=show)  # fmt: skip
    while model.running:
        model.step()
    run = model.result(source=source)
    x = run.estimates[0]
    u = np.repeat(np.arange(graph.n), graph.degrees())
    keep = u < graph.indices
    u, v = u[keep], graph.indices[keep]
    rows = []
    for t in range(rounds):
        col = x[:, t]
        rows.append({"round": t + 1, "mean": float(col.mean()), "variance": float(col.var()),
                     "variance_log": float(log_estimates(col).var()), "bimodality": bimodality_coefficient(col),
                     "assortativity": edge_assortativity(col, u, v),
                     "parse_failure_rate": float(1 - run.valid_mass[0, :, t].mean()),
                     "distinct_prompts": run.distinct_prompts[t]})  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "rounds.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    np.savetxt(out / "estimates.csv", x, delimiter=",", fmt="%.10g",
               header=",".join(f"round_{t + 1}" for t in range(rounds)), comments="")  # fmt: skip
    from experiments.tables import markdown_table

    report = [f"# Opinion dynamics: {args.scenario}", "",
              f"{args.agents} agents of `{source}` on `{graph.network}`, rule `{args.influence}` (show {model.show}), "
              f"{rounds} rounds, answers: {run.answer_grid}, numbers shown at {model.shown_digits} significant "
              f"figures, seed {args.seed}. Model: `{getattr(llm, 'model_id', '?')}`.", "",
              markdown_table(rows, digits=3), "", service.summary(args.agents)]  # fmt: skip
    (out / "report.md").write_text("\n".join(report) + "\n", encoding="utf-8")
    print(markdown_table(rows, digits=3))
    print(f"\n{service.summary(args.agents)}\nwrote {out}/rounds.csv, estimates.csv, report.md")
    return 0


def run_whatif_arms(args: argparse.Namespace) -> int:
    """``populace influence --whatif``: control vs treated rule/network, paired; effects with bootstrap CIs."""
    import json

    from experiments.cmd_run import load_population
    from experiments.common import model_from_args
    from experiments.tables import markdown_table
    from populace_lm.progress import progress_enabled
    from scenarios.influence import RULES, get_influence
    from simulator.decisions import DecisionService
    from simulator.influence_study import influence_whatif

    if not args.scenario or not args.out:
        raise UsageError("influence --whatif: give --scenario NAME:ITEM and --out FOLDER")
    for flag in (args.control, args.treated):
        if flag not in RULES:
            raise UsageError(f"influence --whatif: rule {flag!r} is not one of {list(RULES)}")
    spec = get_influence(args.scenario)
    item = args.scenario.split(":", 1)[1] if ":" in args.scenario else spec.items[0].id
    population, source = load_population(args.population)
    llm = model_from_args(args)
    service = DecisionService(llm, progress=progress_enabled())
    treated_net = args.treated_network or args.control_network
    effects, runs = influence_whatif(spec, item, population, service, control=(args.control, args.control_network),
                                     treated=(args.treated, treated_net), n_groups=args.groups, seed=args.seed or 0,
                                     n_boot=args.bootstrap)  # fmt: skip
    rows = [e.row() for e in effects]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(rows, digits=3)
    (out / "effects.md").write_text(table + "\n", encoding="utf-8")
    facts = {"scenario": args.scenario, "population": source, "control": [args.control, args.control_network],
             "treated": [args.treated, treated_net], "groups": args.groups, "seed": args.seed or 0,
             "answer_grid": runs["control"].answer_grid, "model": str(getattr(llm, "model_id", "?")),
             "parse_failure_rate": {k: r.parse_failure_rate for k, r in runs.items()},
             "effects": rows, "decisions": service.stats().to_dict()}  # fmt: skip
    (out / "effects.json").write_text(json.dumps(facts, indent=2, sort_keys=True, default=str) + "\n")
    print(table)
    print(f"\n{service.summary(2 * args.groups * spec.group_size)}\nwrote {out}/effects.md, effects.json")
    return 0
