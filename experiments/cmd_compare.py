"""``populace compare CONFIG.toml --out D``: populations × scenarios × metrics → table, histogram grid, costs.

The config (TOML, see ``experiments/configs/compare_sample.toml``)::

    agents = 200                      # simulated agents per population and scenario
    seed = 0                          # root seed
    scenarios = ["bigfive:E", "dictator"]
    metrics = ["w1", "frechet"]       # w1, frechet, mmd
    # data = "path/to/shared/data"    # human data (default $POPULACE_DATA or ../shared/data)

    [[populations]]
    name = "fixed_prompt"
    kind = "fixed"                    # FixedPromptBuilder; optional system_prompt = "..."

    [[populations]]
    name = "personachat_10"
    kind = "pool"                     # a JSONL persona pool, uniform weights
    pool = "personachat"              # a name in $POPULACE_PERSONAS or ../shared/personas, or a path
    limit = 10

    [[populations]]
    name = "em_mixture"
    kind = "file"                     # a population JSON written by Population.save
    path = "runs/em/population.json"

Relative paths (``path``, a ``pool`` given as a path, ``data``) resolve against the config file's folder. Every
file is checked before the model is loaded.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

from experiments.common import add_model_args

_TOP_KEYS = {"agents", "seed", "scenarios", "metrics", "data", "populations"}
_POP_KEYS = {
    "fixed": {"name", "kind", "system_prompt"},
    "pool": {"name", "kind", "pool", "limit"},
    "file": {"name", "kind", "path"},
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare`` sub-command."""
    p = sub.add_parser("compare", help="compare population constructions against human data (TOML config)")
    p.add_argument("config", help="TOML config (see experiments/configs/compare_sample.toml)")
    p.add_argument("--out", required=True, help="output folder (table.md/csv, grid.png, cost.csv, manifest)")
    p.add_argument("--agents", type=int, default=None, help="override the config's agents")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_model_args(p)
    p.set_defaults(func=run)


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def load_compare_config(path: str | Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Read and validate a compare config; build its populations (no LLM call).

    Returns:
        (settings, populations name → Population, sources name → description).

    Raises:
        FileNotFoundError: the config or a file it names is missing.
        ValueError: malformed TOML, unknown keys or kinds, duplicate names, a bad population file.
    """
    from populations.baselines import DEFAULT_SYSTEM_PROMPT, FixedPromptBuilder
    from populations.io import load_population_file
    from populations.persona import Population
    from populations.pools import load_pool, personas_root, resolve_pool_path

    cfg_path = Path(path)
    if not cfg_path.is_file():
        raise FileNotFoundError(f"compare config {cfg_path} does not exist")
    try:
        cfg = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{cfg_path}: invalid TOML: {exc}") from exc
    base = cfg_path.resolve().parent
    unknown = sorted(set(cfg) - _TOP_KEYS)
    if unknown:
        raise ValueError(f"{cfg_path}: unknown key(s) {unknown}; allowed: {sorted(_TOP_KEYS)}")
    for key in ("scenarios", "populations"):
        if not cfg.get(key):
            raise ValueError(f"{cfg_path}: '{key}' is missing or empty")
    settings = {
        "agents": int(cfg.get("agents", 200)),
        "seed": int(cfg.get("seed", 0)),
        "scenarios": [str(s) for s in cfg["scenarios"]],
        "metrics": [str(m) for m in cfg.get("metrics", ["w1"])],
        "data": str(_resolve(base, cfg["data"])) if cfg.get("data") else None,
    }
    if settings["data"] and not Path(settings["data"]).exists():
        raise FileNotFoundError(f"{cfg_path}: data folder {settings['data']} does not exist")
    populations: dict[str, Population] = {}
    sources: dict[str, str] = {}
    for i, entry in enumerate(cfg["populations"], start=1):
        where = f"{cfg_path}: populations #{i}"
        kind = entry.get("kind")
        if kind not in _POP_KEYS:
            raise ValueError(f"{where}: kind must be one of {sorted(_POP_KEYS)}, got {kind!r}")
        extra = sorted(set(entry) - _POP_KEYS[kind])
        if extra:
            raise ValueError(f"{where}: unknown key(s) {extra} for kind {kind!r}; allowed {sorted(_POP_KEYS[kind])}")
        name = str(entry.get("name", ""))
        if not name or name in populations:
            raise ValueError(f"{where}: every population needs a unique 'name' (got {name!r})")
        if kind == "fixed":
            prompt = entry.get("system_prompt", DEFAULT_SYSTEM_PROMPT)
            populations[name] = FixedPromptBuilder(prompt).fit().population_
            sources[name] = "fixed prompt"
        elif kind == "file":
            if "path" not in entry:
                raise ValueError(f"{where}: kind 'file' needs path = \"population.json\"")
            file = _resolve(base, entry["path"])
            if not file.is_file():
                raise FileNotFoundError(
                    f"{where}: population file {file} does not exist (paths resolve against {base})"
                )
            populations[name] = load_population_file(file)
            sources[name] = str(file)
        else:
            import numpy as np

            if "pool" not in entry:
                raise ValueError(f"{where}: kind 'pool' needs pool = NAME or a path")
            pool = str(entry["pool"])
            local = _resolve(base, pool)
            target = local if local.exists() else pool
            try:
                resolved = resolve_pool_path(target)
            except ValueError as exc:
                raise FileNotFoundError(
                    f"{where}: {exc} (relative paths resolve against {base}, names in {personas_root()})"
                ) from exc
            personas = load_pool(resolved, limit=entry.get("limit"))
            populations[name] = Population(
                personas=personas,
                weights=np.full(len(personas), 1 / len(personas)),
                construction="persona_pool",
                metadata={"pool": str(resolved), "limit": entry.get("limit")},
            )
            sources[name] = f"pool {resolved} (first {len(personas)}, uniform weights)"
    return settings, populations, sources


def run(args: argparse.Namespace) -> int:
    """Validate the config, run the comparison, write the folder and print the table."""
    from experiments.cmd_run import command_line
    from experiments.common import model_from_args
    from scenarios.registry import get_scenario
    from simulator.compare import METRICS, compare_populations, write_compare

    settings, populations, sources = load_compare_config(args.config)
    if args.agents is not None:
        settings["agents"] = args.agents
    for s in settings["scenarios"]:
        get_scenario(s, source=settings["data"])
    bad = [m for m in settings["metrics"] if m not in METRICS]
    if bad:
        raise ValueError(f"{args.config}: unknown metric(s) {bad}; choose from {sorted(METRICS)}")
    llm = model_from_args(args)
    result = compare_populations(
        populations,
        settings["scenarios"],
        llm,
        n_agents=settings["agents"],
        seed=settings["seed"],
        metrics=settings["metrics"],
        data_source=settings["data"],
        progress=not args.quiet,
    )
    out = write_compare(args.out, result, llm_model=llm, sources=sources, config=settings, command=command_line(args))
    cols = ["population", "scenario", *settings["metrics"], "w1_human_floor", "parse_failure_rate"]
    print(result.table[cols].round(4).to_string(index=False))
    print()
    print(result.cost.to_string(index=False))
    print(f"\nwrote {out}/table.md, table.csv, grid.png, cost.csv, report.md")
    return 0
