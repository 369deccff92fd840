"""``populace experiment NAME [options]``: reproduce a paper's tables (``experiments/exp_<name>.py``).

Each experiment module defines ``main(argv: list[str]) -> int`` with its own options.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import experiments
from experiments.errors import UsageError


def available() -> list[str]:
    """Experiment names (modules ``experiments/exp_*.py``)."""
    return sorted(m.name[4:] for m in pkgutil.iter_modules(experiments.__path__) if m.name.startswith("exp_"))


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``experiment`` sub-command."""
    p = sub.add_parser(
        "experiment",
        help="reproduce a paper's table (seed000, seed002, …)",
        description=f"experiments: {', '.join(available()) or 'none'}",
    )
    p.add_argument("name", help="experiment name")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="the experiment's own options (see NAME --help)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the experiment module."""
    if args.name not in available():
        raise UsageError(f"unknown experiment {args.name!r}; experiments: {available()}")
    return int(importlib.import_module(f"experiments.exp_{args.name}").main(args.rest) or 0)
