"""``--plan``: every check a command makes before its first LLM call, then the cost of its LLM requests.

One path for ``compare``, ``fit``, ``run``, ``whatif``, ``align`` and ``select``: each command splits its work into a
*prepare* step (options, scenario, human data read and validated, population and pool files read, construction
kinds checked against the answer scale — everything the run does before the model loads) and the run itself. With
``--plan`` the command calls the same prepare step, so a file the run would refuse is refused by the plan in the
same one line, then builds a :class:`Plan` of request estimates and prints it with :func:`print_plan`; no model is
loaded. Estimates count distinct LLM requests (the cache answers repeats for free) and are upper bounds where the
run shares prompts (agents drawing the same persona share one answer distribution).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Plan", "add_plan_flag", "human_check", "print_plan", "simulation_requests"]

#: Rough prompt + completion tokens of one answer-distribution request (as the construction estimates use).
ANSWER_TOKENS = 120
#: Rough tokens of one free-text generation (a persona revision in ``select --revise``).
GENERATION_TOKENS = 250


def add_plan_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--plan``: run every check of the command, print the estimated LLM requests, load no model."""
    parser.add_argument(
        "--plan",
        action="store_true",
        help="check everything the run checks before its first LLM call (data included), print the estimated "
        "LLM requests; load no model",
    )


@dataclass
class Plan:
    """What a command would do: the checks it passed and one row per group of LLM requests.

    Attributes:
        command: the command name (``fit``).
        checks: one line per thing read and validated (``"human data: 2,709 rows read, 1,354 fit / 1,355 test"``).
        rows: request estimates; each has ``what``, ``est_requests`` and ``est_tokens`` plus command columns.
        columns: the columns printed, in order.
        notes: lines printed after the table (what the estimate leaves out).
    """

    command: str
    checks: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=lambda: ["what", "est_requests", "est_tokens"])
    notes: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """Estimated distinct LLM requests in all."""
        return int(sum(int(r["est_requests"]) for r in self.rows))

    @property
    def tokens(self) -> int:
        """Estimated tokens in all."""
        return int(sum(int(r["est_tokens"]) for r in self.rows))


def _cell(v: object) -> str:
    if v is None:
        return ""
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def print_plan(plan: Plan) -> int:
    """Print the checks, the request table and the totals; returns the exit code 0."""
    print(f"{plan.command} --plan: every check before the first LLM call passed; no model loaded")
    for line in plan.checks:
        print(f"  checked: {line}")
    if plan.rows:
        cols = plan.columns
        widths = {c: max(len(c), *(len(_cell(r.get(c))) for r in plan.rows)) for c in cols}
        print("  ".join(c.ljust(widths[c]) for c in cols))
        for r in plan.rows:
            print("  ".join(_cell(r.get(c)).ljust(widths[c]) for c in cols))
    for note in plan.notes:
        print(note)
    print(f"estimated distinct LLM requests: {plan.requests}, about {plan.tokens} tokens (cache hits cost nothing)")
    return 0


def human_check(scenario: Any, halves: Any) -> str:
    """One check line for a scenario whose human rows were read and split (``halves``: a ``HumanHalves``)."""
    report: dict[str, Any] = {}
    data_report = getattr(scenario, "data_report", None)
    if callable(data_report):
        report = data_report()
    read = f"{report['rows_read']} rows read from {report['file']}, " if "rows_read" in report else ""
    weighted = ", weighted" if halves.fit_weights is not None else ""
    return (
        f"human data of {scenario.name}: {read}{halves.fit.shape[0]} fit / {halves.test.shape[0]} test "
        f"respondents{weighted}"
    )


def simulation_requests(config: Any, population: Any, *, questions: Sequence[Any] | None = None) -> int:
    """Distinct answer requests of one simulation condition (an upper bound).

    A survey or decision task asks each drawn persona every question once, and personas drawn twice share one
    distribution: at most ``min(K, n_agents × replicates) × Q``. A game asks every agent in every round (histories
    differ): at most ``n_agents × rounds × replicates``.

    Args:
        config: a :class:`simulator.RunConfig`.
        population: the population (K personas).
        questions: the scenario's questions (surveys; looked up when None).
    """
    draws = int(config.n_agents) * int(config.replicates)
    if config.is_survey:
        if questions is None:
            from scenarios.registry import get_scenario

            questions = get_scenario(config.scenario).questions()
        return min(len(population), draws) * len(questions)
    return draws * int(config.rounds)
