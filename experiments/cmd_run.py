"""``populace run``: one simulation → tidy per-agent-per-round Parquet records, manifest and report.

``--scenario`` takes a game, a game role, a built-in survey (``bigfive:E``) or a scenario file
(``FILE.toml`` or ``FILE.toml:DIMENSION``, resolved by :func:`scenarios.registry.get_scenario`);
``--population`` takes any population file the project writes (``populations.io.load_population_file``), including
``populace fit`` output. Progress bars follow the global ``--quiet``/``--verbose``
(:func:`populace_lm.progress.progress_enabled`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from experiments.common import add_model_args
from experiments.plan import add_plan_flag

SCENARIO_HELP = (
    "a game (dictator, ultimatum, trust, public_goods, bomb_risk), a game role (its game is played), "
    "a built-in survey (bigfive:E|N|A|C|O) or a scenario file FILE.toml[:DIMENSION] (survey or decision task)"
)


def add_simulation_args(p: argparse.ArgumentParser, *, default_agents: int, default_rounds: int) -> None:
    """Options shared by ``run`` and ``whatif``."""
    p.add_argument(
        "--population",
        required=True,
        help="population file (Population.save or `populace fit --out` output) or the word 'fixed' "
        "(fixed-prompt baseline)",
    )
    p.add_argument("--agents", type=int, default=default_agents, help=f"agents (default {default_agents})")
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        help=f"rounds of a game (1 = one-shot; default {default_rounds}; a survey asks each item once)",
    )
    p.set_defaults(game_rounds=default_rounds)
    p.add_argument(
        "--network",
        default=None,
        help="graph for repeated games: erdos_renyi[:p=..], watts_strogatz[:k=4,p=0.1], "
        "barabasi_albert[:m=2] or edge_list:path=FILE (default: random matching)",
    )
    p.add_argument(
        "--history-rounds",
        type=int,
        default=1,
        help="own past rounds shown in each prompt (default 1; keeps distinct prompts bounded)",
    )
    p.add_argument(
        "--history-step",
        type=int,
        default=None,
        help="amounts in histories are rounded to multiples of this (default: half the stakes, i.e. three levels)",
    )
    p.add_argument("--seed", type=int, default=0, help="root seed of every random choice")
    p.add_argument("--out", required=True, help="output folder")
    add_plan_flag(p)


def command_line(args: argparse.Namespace) -> str:
    """The command as typed (console script), else rebuilt from the parsed options."""
    if Path(sys.argv[0]).name == "populace":
        return "populace " + shlex.join(sys.argv[1:])
    opts = {
        k: v
        for k, v in vars(args).items()
        if k not in ("func", "command", "game_rounds") and v not in (None, False, [], "")
    }
    return f"populace {args.command} " + " ".join(f"--{k.replace('_', '-')}={v}" for k, v in sorted(opts.items()))


def load_population(spec: str) -> tuple[Any, str]:
    """The population named by ``--population`` and a description of its source.

    Raises:
        ValueError: a missing file or a file that is not a population (``kind`` must be ``populace.population``).
    """
    from populations.baselines import FixedPromptBuilder
    from populations.io import load_population_file

    if spec == "fixed":
        return FixedPromptBuilder().fit().population_, "fixed (FixedPromptBuilder default prompt)"
    return load_population_file(spec), spec


def config_from_args(args: argparse.Namespace, *, replicates: int) -> Any:
    """The validated :class:`~simulator.RunConfig` of the shared simulation options."""
    from scenarios.games import GAMES, ROLES
    from simulator import NetworkSpec, RunConfig, parse_assignments

    is_game = args.scenario in GAMES or args.scenario in ROLES
    rounds = args.rounds if args.rounds is not None else (args.game_rounds if is_game else 1)
    return RunConfig(
        scenario=args.scenario,
        n_agents=args.agents,
        seed=args.seed,
        rounds=rounds,
        params=parse_assignments(args.param),
        network=NetworkSpec.parse(args.network) if args.network else None,
        history_rounds=args.history_rounds,
        history_step=args.history_step,
        replicates=replicates,
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` sub-command."""
    p = sub.add_parser("run", help="run one simulation (survey or game, optionally repeated on a network)")
    p.add_argument("--scenario", required=True, help=SCENARIO_HELP)
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="game parameter, repeatable (e.g. --param multiplier=2.4); validated",
    )
    p.add_argument("--replicates", type=int, default=1, help="independent replicates (default 1)")
    add_simulation_args(p, default_agents=100, default_rounds=1)
    add_model_args(p)
    p.set_defaults(func=run)


def run_plan(config: Any, population: Any, source: str) -> Any:
    """The :class:`~experiments.plan.Plan` of one simulation (config and population already checked)."""
    from experiments.plan import ANSWER_TOKENS, Plan, simulation_requests

    n = simulation_requests(config, population)
    what = "survey answers" if config.is_survey else f"{config.rounds} round(s) of decisions"
    return Plan(
        "run",
        checks=[f"scenario {config.scenario}, {config.n_agents} agents × {config.replicates} replicate(s)",
                f"population {source}: {len(population)} personas"],
        rows=[{"what": what, "est_requests": n, "est_tokens": n * ANSWER_TOKENS}],
        notes=["an upper bound: agents that draw the same persona (and history) share one request"],
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Validate everything, run, write the folder, print the sharing statistics."""
    from experiments.common import model_from_args
    from experiments.plan import print_plan
    from experiments.reporting import write_run
    from populace_lm.progress import progress_enabled
    from simulator import DecisionService, run_simulation

    config = config_from_args(args, replicates=args.replicates)
    population, source = load_population(args.population)
    if args.plan:
        return print_plan(run_plan(config, population, source))
    llm = model_from_args(args)
    service = DecisionService(llm, progress=progress_enabled())
    result = run_simulation(config, population, service, progress=progress_enabled())
    out = write_run(
        args.out, result, llm_model=llm, population=population, population_source=source, command=command_line(args)
    )
    from experiments.reporting_runs import run_outcomes, score_names

    if config.is_survey:
        table = run_outcomes(result).groupby("item", sort=False).mean(numeric_only=True).drop(columns="replicate")
    else:
        table = result.outcomes.groupby("round").mean(numeric_only=True).drop(columns="replicate")
    print(table.dropna(axis=1, how="all").round(3).to_string())
    if result.scores:
        import numpy as np

        scores = np.concatenate([np.atleast_2d(np.asarray(s, dtype=float).T).T for s in result.scores])
        for j, name in enumerate(score_names(result)):
            sd = scores[:, j].std(ddof=1) if scores.shape[0] > 1 else 0.0
            print(f"{'' if j else chr(10)}{name}: mean {scores[:, j].mean():.3f}, sd {sd:.3f}")
    print(f"\n{service.summary(config.n_agents * config.replicates)}")
    files = json.loads((out / "manifest.json").read_text())["files"]
    print(f"wall time {result.wall_seconds:.1f} s; wrote {len(files)} files to {out}: {', '.join(files)}")
    return 0
