"""``populace run``: one simulation → tidy per-agent-per-round Parquet records, manifest and report.

``--scenario`` takes a game, a game role, a built-in survey (``bigfive:E``) or a scenario file
(``FILE.toml`` or ``FILE.toml:DIMENSION``, resolved by :func:`scenarios.registry.get_scenario`);
``--population`` takes any population file the project writes (``populations.io.load_population_file``), including
``populace fit`` output. Progress bars follow the global ``--quiet``/``--verbose``
(:func:`populace_lm.progress.progress_enabled`).

Memory: the records stream to ``records.parquet`` as they are made, one Parquet row group per chunk
(:class:`RecordWriter`; a survey runs through :mod:`simulator.streaming`), so a survey's peak memory is about ten
bytes per agent plus one chunk, whatever the number of items. Before any work the run's size is estimated
(:func:`simulator.runner.estimate_run`) and an ``--agents`` value whose output does not fit the disk under
``--out``, or whose run does not fit the memory available, is refused with the estimate.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from experiments.common import add_model_args
from experiments.errors import UsageError
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
    p.add_argument(
        "--influence",
        choices=("none", "mean", "all", "neighbours"),
        default=None,
        help="opinion dynamics: ask one item over --rounds, showing what this rule shows (see influence)",
    )
    p.add_argument("--show", choices=("mean", "all"), default=None, help="with --influence neighbours: mean or list")
    add_simulation_args(p, default_agents=100, default_rounds=1)
    add_model_args(p)
    p.set_defaults(func=run)


class RecordWriter:
    """Records to one Parquet file, a row group per chunk, written to ``PATH.partial`` and renamed at :meth:`close`.

    The schema (with the pandas metadata ``DataFrame.to_parquet`` writes) comes from the first chunk, so the file
    reads back as the held records would have been written. A run that fails leaves only the ``.partial`` file.

    Args:
        path: the final file, e.g. ``OUT/records.parquet``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.rows = 0
        self._writer: Any = None
        self._schema: Any = None
        self._empty: Any = None

    def __call__(self, frame: Any) -> None:
        """Append one chunk of records as a row group."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if len(frame) == 0:
            self._empty = frame if self._empty is None else self._empty
            return
        table = pa.Table.from_pandas(frame, preserve_index=False, schema=self._schema)
        if self._writer is None:
            self._schema = table.schema
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.partial, self._schema)
        self._writer.write_table(table, row_group_size=max(1, len(frame)))
        self.rows += len(frame)

    def close(self, empty: Any = None) -> Path:
        """Finish the file (an empty frame's file when no row came) and give it its final name."""
        if self._writer is None:
            frame = self._empty if self._empty is not None else empty
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            frame.to_parquet(self.partial, index=False)
        else:
            self._writer.close()
            self._writer = None
        self.partial.replace(self.path)
        return self.path


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def _memory_available() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable``), or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(config: Any, out: str, *, streamed: bool = True) -> Any:
    """Refuse, before any work, a run that does not fit the disk under ``out`` or the memory available.

    Returns the :class:`~simulator.runner.RunEstimate`.

    Raises:
        UsageError: naming ``--agents``, the estimate, what is free, and how many agents would fit.
    """
    from simulator.runner import estimate_run

    estimate = estimate_run(config, streamed=streamed)
    holder = Path(out).expanduser()
    while not holder.exists() and holder != holder.parent:
        holder = holder.parent
    try:
        free_disk: int | None = shutil.disk_usage(holder).free
    except OSError:
        free_disk = None
    free_memory = _memory_available()
    problems = []
    if free_disk is not None and estimate.disk_bytes > 0.9 * free_disk:
        problems.append(("disk", estimate.disk_bytes, free_disk, f"{holder} has {_gib(free_disk)} free"))
    if free_memory is not None and estimate.memory_bytes > 0.8 * free_memory:
        problems.append(("memory", estimate.memory_bytes, free_memory, f"{_gib(free_memory)} of memory is available"))
    if problems:
        share = min(0.9 * free / need for _, need, free, _ in problems)
        fits = max(1, int(config.n_agents * share))
        needs = "; ".join(f"{what} ~{_gib(need)} ({note})" for what, need, _, note in problems)
        raise UsageError(
            f"--agents {config.n_agents}: this run needs {needs} for {estimate.rows:,} record rows: lower --agents "
            f"(about {fits:,} fit{'' if config.replicates == 1 else ' per replicate'}), or free the space"
        )
    return estimate


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
    if args.influence:  # opinion dynamics of one item on a graph (experiments.cmd_influence)
        from experiments.cmd_influence import run_society

        return run_society(args)
    from experiments.common import model_from_args
    from experiments.plan import print_plan
    from experiments.reporting import write_run
    from populace_lm.progress import progress_enabled
    from simulator import DecisionService, run_simulation

    config = config_from_args(args, replicates=args.replicates)
    check_fits(config, args.out or ".")
    population, source = load_population(args.population)
    if args.plan:
        return print_plan(run_plan(config, population, source))
    llm = model_from_args(args)
    service = DecisionService(llm, progress=progress_enabled())
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = RecordWriter(out_dir / "records.parquet")
    result = run_simulation(
        config, population, service, progress=progress_enabled(), on_records=writer, spill_dir=str(out_dir)
    )
    writer.close(empty=result.records)
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

        parts = [np.atleast_2d(np.asarray(s, dtype=float).T).T for s in result.scores]
        scores = parts[0] if len(parts) == 1 else np.concatenate(parts)  # one replicate: a view, no copy
        for j, name in enumerate(score_names(result)):
            sd = scores[:, j].std(ddof=1) if scores.shape[0] > 1 else 0.0
            print(f"{'' if j else chr(10)}{name}: mean {scores[:, j].mean():.3f}, sd {sd:.3f}")
    print(f"\n{service.summary(config.n_agents * config.replicates)}")
    files = json.loads((out / "manifest.json").read_text())["files"]
    print(f"wall time {result.wall_seconds:.1f} s; wrote {len(files)} files to {out}: {', '.join(files)}")
    return 0
