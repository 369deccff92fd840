"""Dictator game (Forsythe et al. 1994): a dictator splits the stakes, the recipient has no say."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from scenarios.games.spec import GameSpec, Param, RoleSpec, RoundContext, RoundOutcome

__all__ = ["DICTATOR", "dictator_payoffs"]


def dictator_payoffs(give: np.ndarray, stakes: int) -> tuple[np.ndarray, np.ndarray]:
    """(dictator, recipient) payoffs: ``stakes − give`` and ``give``; ``give`` shape ``(n,)``.

    >>> [a.tolist() for a in dictator_payoffs(np.array([30]), 100)]
    [[70.0], [30.0]]
    """
    g = np.asarray(give, dtype=float)
    return stakes - g, g


def _instruction(p: Mapping[str, Any]) -> tuple[str, str]:
    s = p["stakes"]
    return (
        f"You are paired with another participant. You have ${s} to split between the two of you, and the other "
        f"participant has no say: they receive whatever you decide. How many dollars, from 0 to {s}, do you give "
        "to the other participant? Answer with a whole number.",
        "I give the other participant $",
    )


def _settle(ctx: RoundContext) -> RoundOutcome:
    """Each agent gives to its partner; it also receives from whoever chose it."""
    give, vm = ctx.decision("dictator")
    stakes = ctx.params["stakes"]
    pay_d, _ = dictator_payoffs(give, stakes)
    received = np.bincount(ctx.partner, weights=give, minlength=ctx.n)
    idx = np.arange(ctx.n)
    ctx.record(
        agent=idx, role="dictator", question="dictator", decision=give, valid_mass=vm, payoff=pay_d, partner=ctx.partner
    )
    ctx.record(
        agent=idx,
        role="recipient",
        question="",
        decision=np.full(ctx.n, np.nan),
        valid_mass=np.full(ctx.n, np.nan),
        payoff=received,
    )
    lines = None
    if ctx.remembers:
        lines = [
            f"you gave about ${ctx.about(g)} of ${stakes} and received about ${ctx.about(r)}"
            for g, r in zip(give, received, strict=True)
        ]
    return RoundOutcome(payoff=pay_d + received, history=lines)


DICTATOR = GameSpec(
    name="dictator",
    params=(Param(name="stakes", type=int, low=1, high=10_000, default=100),),
    human_params={"stakes": 100},
    roles=(
        RoleSpec(
            name="dictator",
            label="amount given",
            human_column="dictator",
            human_max=100,
            verbatim_key="dictator",
            high=lambda p: p["stakes"],
            instruction=_instruction,
        ),
    ),
    first_stage=("dictator",),
    matching="pair",
    scale="stakes",
    settle=_settle,
)
