"""Ultimatum game (Güth et al. 1982): a proposer offers a split, a responder states a minimum acceptable offer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from scenarios.games.spec import GameSpec, Param, RoleSpec, RoundContext, RoundOutcome

__all__ = ["ULTIMATUM", "ultimatum_payoffs"]


def ultimatum_payoffs(offer: np.ndarray, min_accept: np.ndarray, stakes: int) -> tuple[np.ndarray, np.ndarray]:
    """(proposer, responder) payoffs; an offer is accepted when ``offer >= min_accept``; shapes ``(n,)``.

    >>> [a.tolist() for a in ultimatum_payoffs(np.array([40, 10]), np.array([30, 20]), 100)]
    [[60.0, 0.0], [40.0, 0.0]]
    """
    o = np.asarray(offer, dtype=float)
    accepted = o >= np.asarray(min_accept, dtype=float)
    return np.where(accepted, stakes - o, 0.0), np.where(accepted, o, 0.0)


def _proposer(p: Mapping[str, Any]) -> tuple[str, str]:
    s = p["stakes"]
    return (
        f"You are paired with another participant. You propose how to split ${s}. The other participant either "
        "accepts your proposal, and you both get the proposed amounts, or rejects it, and you both get nothing. "
        f"How many dollars, from 0 to {s}, do you offer the other participant? Answer with a whole number.",
        "I offer $",
    )


def _responder(p: Mapping[str, Any]) -> tuple[str, str]:
    s = p["stakes"]
    return (
        f"You are paired with another participant who proposes how to split ${s} between you. If you accept, you "
        "both get the proposed amounts; if you reject, you both get nothing. What is the smallest offer, from 0 "
        f"to {s} dollars, that you would accept? Answer with a whole number.",
        "The smallest offer I would accept is $",
    )


def _settle(ctx: RoundContext) -> RoundOutcome:
    """Every agent proposes to its partner and responds (one threshold) to whoever proposed to it."""
    offer, vm_o = ctx.decision("ultimatum_proposer")
    min_acc, vm_m = ctx.decision("ultimatum_responder")
    pay_p, pay_r = ultimatum_payoffs(offer, min_acc[ctx.partner], ctx.params["stakes"])
    got = np.bincount(ctx.partner, weights=pay_r, minlength=ctx.n)
    idx = np.arange(ctx.n)
    ctx.record(
        agent=idx,
        role="ultimatum_proposer",
        question="ultimatum_proposer",
        decision=offer,
        valid_mass=vm_o,
        payoff=pay_p,
        partner=ctx.partner,
    )
    ctx.record(
        agent=idx,
        role="ultimatum_responder",
        question="ultimatum_responder",
        decision=min_acc,
        valid_mass=vm_m,
        payoff=got,
    )
    lines = None
    if ctx.remembers:
        accepted = offer >= min_acc[ctx.partner]
        lines = [
            f"you offered about ${ctx.about(o)} and it was {'accepted' if a else 'rejected'}; "
            f"you asked for at least about ${ctx.about(m)}"
            for o, a, m in zip(offer, accepted, min_acc, strict=True)
        ]
    return RoundOutcome(payoff=pay_p + got, history=lines)


ULTIMATUM = GameSpec(
    name="ultimatum",
    params=(Param(name="stakes", type=int, low=1, high=10_000, default=100),),
    human_params={"stakes": 100},
    roles=(
        RoleSpec(
            name="ultimatum_proposer",
            label="offer",
            human_column="ultimatum_1",
            human_max=100,
            verbatim_key="ultimatum_1",
            high=lambda p: p["stakes"],
            instruction=_proposer,
        ),
        RoleSpec(
            name="ultimatum_responder",
            label="smallest acceptable offer",
            human_column="ultimatum_2",
            human_max=100,
            verbatim_key="ultimatum_2",
            high=lambda p: p["stakes"],
            instruction=_responder,
        ),
    ),
    first_stage=("ultimatum_proposer", "ultimatum_responder"),
    matching="pair",
    scale="stakes",
    settle=_settle,
)
