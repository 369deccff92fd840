"""The ``populace`` command line: one sub-command per module in :data:`COMMAND_MODULES`.

Each module defines ``register(subparsers)`` which adds its parser and sets ``func``; heavy imports happen
inside the command functions, so ``populace --help`` stays fast. User errors (bad input, missing data or model,
unreachable endpoint, exhausted budget) print one line naming the problem and the fix, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "experiments.cmd_demo",
    "experiments.cmd_probe",
    "experiments.cmd_experiment",
    "experiments.cmd_align",
    "experiments.cmd_select",
    "experiments.cmd_fit",
    "experiments.cmd_run",
    "experiments.cmd_whatif",
    "experiments.cmd_compare",
)


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types shown as one-line user errors."""
    from populace_lm.errors import LLMError
    from scenarios.errors import DataError, ScenarioError

    return (LLMError, DataError, ScenarioError, ValueError, FileNotFoundError, PermissionError)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(
        prog="populace",
        description="LLM populations calibrated to human data: build, simulate, score.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``populace`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("populace: interrupted (finished LLM answers are kept in the cache)", file=sys.stderr)
        return 130
    except user_errors() as exc:
        print(f"populace: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
