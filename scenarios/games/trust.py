"""Trust game (Berg, Dickhaut & McCabe 1995): an investor sends money, multiplied; the banker returns some."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from scenarios.errors import ScenarioError
from scenarios.games.spec import GameSpec, Param, RoleSpec, RoundContext, RoundOutcome

__all__ = ["TRUST", "trust_payoffs"]


def trust_payoffs(
    sent: np.ndarray, returned: np.ndarray, stakes: int, multiplier: float
) -> tuple[np.ndarray, np.ndarray]:
    """(investor, banker) payoffs ``stakes − s + r`` and ``m·s − r``; shapes ``(n,)``.

    Raises:
        ValueError: a banker returned more than ``multiplier * sent``.

    >>> [a.tolist() for a in trust_payoffs(np.array([50]), np.array([60]), 100, 3.0)]
    [[110.0], [90.0]]
    """
    s, r = np.asarray(sent, dtype=float), np.asarray(returned, dtype=float)
    if np.any(r > multiplier * s + 1e-9):
        raise ValueError("a banker returned more than the multiplied amount received")
    return stakes - s + r, multiplier * s - r


def _investor(p: Mapping[str, Any]) -> tuple[str, str]:
    s, m = p["stakes"], p["multiplier"]
    return (
        f"You have ${s}. You may send any part of it to another participant; whatever you send is multiplied by "
        f"{m:g} before they receive it. They then decide how much of that to send back to you. How many dollars, "
        f"from 0 to {s}, do you send? Answer with a whole number.",
        "I send $",
    )


def _pot(p: Mapping[str, Any]) -> int:
    return int(round(p["multiplier"] * p["invested"]))


def _banker(p: Mapping[str, Any]) -> tuple[str, str]:
    m, inv = p["multiplier"], p["invested"]
    pot = _pot(p)
    return (
        f"Another participant had ${p['stakes']} and chose to send you ${inv}. It was multiplied by {m:g}, so you "
        f"now hold ${pot}. You may return any part of it to them and keep the rest. How many dollars, from 0 to "
        f"{pot}, do you return? Answer with a whole number.",
        "I return $",
    )


def _check(p: Mapping[str, Any]) -> None:
    if p["invested"] > p["stakes"]:
        raise ScenarioError(f"trust.invested={p['invested']} exceeds trust.stakes={p['stakes']}")


def _settle(ctx: RoundContext) -> RoundOutcome:
    """Investors send to their partner; each banker then decides once per amount received (a second stage)."""
    sent, vm_s = ctx.decision("trust_investor")
    p = ctx.params
    incoming: dict[int, list[tuple[dict[str, Any], Any]]] = {}
    for i in np.flatnonzero(sent > 0):
        incoming.setdefault(int(ctx.partner[i]), []).append(({"invested": int(sent[i])}, int(i)))
    _, tags, values, mass = ctx.ask("trust_banker", incoming, desc="bankers")
    returned = np.zeros(ctx.n)
    vm_r = np.full(ctx.n, np.nan)  # no question is asked when nothing was sent
    investor = np.asarray(tags, dtype=np.int64)
    # an answer set rounds multiplier × sent; never return more than was actually received
    returned[investor] = np.minimum(values, p["multiplier"] * sent[investor])
    vm_r[investor] = mass
    pay_i, pay_b = trust_payoffs(sent, returned, p["stakes"], p["multiplier"])
    idx = np.arange(ctx.n)
    ctx.record(
        agent=idx,
        role="trust_investor",
        question="trust_investor",
        decision=sent,
        valid_mass=vm_s,
        payoff=pay_i,
        partner=ctx.partner,
    )
    ctx.record(
        agent=ctx.partner,
        role="trust_banker",
        question="trust_banker",
        decision=returned,
        valid_mass=vm_r,
        payoff=pay_b,
        partner=idx,
    )
    banked = np.bincount(ctx.partner, weights=pay_b, minlength=ctx.n)
    lines = None
    if ctx.remembers:
        back = np.bincount(ctx.partner, weights=returned, minlength=ctx.n)
        lines = [
            f"you sent about ${ctx.about(s)} and got back about ${ctx.about(r)}; "
            f"as a receiver you returned about ${ctx.about(b)} in total"
            for s, r, b in zip(sent, returned, back, strict=True)
        ]
    return RoundOutcome(payoff=pay_i + banked, history=lines)


TRUST = GameSpec(
    name="trust",
    params=(
        Param(name="stakes", type=int, low=1, high=10_000, default=100),
        Param(name="multiplier", type=float, low=1.0, high=10.0, default=3.0),
        Param(name="invested", type=int, low=0, high=10_000, default=50),
    ),
    human_params={"stakes": 100, "multiplier": 3.0, "invested": 50},
    roles=(
        RoleSpec(
            name="trust_investor",
            label="amount sent",
            human_column="trust_1",
            human_max=100,
            verbatim_key="trust_1",
            high=lambda p: p["stakes"],
            instruction=_investor,
        ),
        RoleSpec(
            name="trust_banker",
            label="amount returned",
            human_column="trust_3",
            human_max=150,
            verbatim_key="trust_3",
            high=_pot,
            instruction=_banker,
        ),
    ),
    first_stage=("trust_investor",),
    matching="pair",
    scale="stakes",
    settle=_settle,
    check=_check,
)
