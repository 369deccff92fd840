"""Linear public goods game (Isaac & Walker 1988; Fehr & Gächter 2000 for punishment)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from scenarios.games.spec import GameSpec, Param, RoleSpec, RoundContext, RoundOutcome

__all__ = ["PUBLIC_GOODS", "public_goods_payoffs"]


def public_goods_payoffs(
    contributions: np.ndarray,
    endowment: int,
    multiplier: float,
    punishment_given: np.ndarray | None = None,
    punishment_cost: float = 1.0,
    punishment_impact: float = 3.0,
) -> np.ndarray:
    """Payoffs of one group, shape ``(g,)``.

    ``payoff_i = endowment − c_i + multiplier · Σc / g`` minus, with punishment, ``cost · Σ_j P_ij`` paid and
    ``impact · Σ_j P_ji`` received, where ``punishment_given`` is the ``(g, g)`` matrix of points ``P``.

    >>> public_goods_payoffs(np.array([20, 0]), 20, 2.0).tolist()
    [20.0, 40.0]
    """
    c = np.asarray(contributions, dtype=float)
    pay = endowment - c + multiplier * c.sum() / c.size
    if punishment_given is not None:
        P = np.asarray(punishment_given, dtype=float)
        if P.shape != (c.size, c.size):
            raise ValueError(f"punishment_given has shape {P.shape}, expected ({c.size}, {c.size})")
        pay = pay - punishment_cost * P.sum(axis=1) - punishment_impact * P.sum(axis=0)
    return pay


def _instruction(p: Mapping[str, Any]) -> tuple[str, str]:
    e, m, g = p["endowment"], p["multiplier"], p["group_size"]
    share = m / g
    text = (
        f"You are in a group of {g} participants. Each of you receives ${e} and decides how much to put into a "
        f"shared project. Everything put in is multiplied by {m:g} and split equally among all {g} members, so "
        f"each dollar contributed returns ${share:.2f} to every member. You keep whatever you do not contribute. "
    )
    if p["punishment"]:
        text += (
            f"After contributions are shown, each member may pay ${p['punishment_cost']:g} per point to reduce "
            f"another member's earnings by ${p['punishment_impact']:g}. "
        )
    text += f"How many dollars, from 0 to {e}, do you contribute? Answer with a whole number."
    return text, "I contribute $"


def _unsupported(p: Mapping[str, Any]) -> str | None:
    if p["punishment"]:
        return (
            "public_goods with punishment=true is not simulated: there is no punishment-stage question yet; "
            "use punishment=false"
        )
    return None


def _settle(ctx: RoundContext) -> RoundOutcome:
    """Random groups pay off as one pot each; on a network an agent splits its contribution over its groups."""
    c, vm = ctx.decision("public_goods")
    p = ctx.params
    payoff = np.zeros(ctx.n)
    others = np.zeros(ctx.n)
    if ctx.neighbors is not None:
        share = c / ctx.group_size
        for g in ctx.groups:  # group centred on g[0]: each member puts in its share of its contribution
            payoff[g] += public_goods_payoffs(share[g], 0, p["multiplier"])
        payoff += p["endowment"]
        others = np.asarray([c[nb].mean() for nb in ctx.neighbors])
    else:
        for g in ctx.groups:
            payoff[g] = public_goods_payoffs(c[g], p["endowment"], p["multiplier"])
            others[g] = (c[g].sum() - c[g]) / (g.size - 1)
    ctx.record(
        agent=np.arange(ctx.n),
        role="public_goods",
        question="public_goods",
        decision=c,
        valid_mass=vm,
        payoff=payoff,
        group_size=ctx.group_size,
    )
    lines = None
    if ctx.remembers:
        lines = [
            f"you contributed about ${ctx.about(ci)}; the others in your group contributed about "
            f"${ctx.about(oi)} on average"
            for ci, oi in zip(c, others, strict=True)
        ]
    return RoundOutcome(payoff=payoff, history=lines)


PUBLIC_GOODS = GameSpec(
    name="public_goods",
    params=(
        Param(name="endowment", type=int, low=1, high=10_000, default=20),
        Param(name="multiplier", type=float, low=0.0, high=100.0, default=2.0),
        Param(name="group_size", type=int, low=2, high=100, default=4),
        Param(name="punishment", type=bool, low=0, high=1, default=False),
        Param(name="punishment_cost", type=float, low=0.0, high=100.0, default=1.0),
        Param(name="punishment_impact", type=float, low=0.0, high=100.0, default=3.0),
    ),
    human_params={"endowment": 20, "multiplier": 2.0, "group_size": 4},
    roles=(
        RoleSpec(
            name="public_goods",
            label="contribution",
            human_column="PG",
            human_max=20,
            verbatim_key="PG",
            high=lambda p: p["endowment"],
            instruction=_instruction,
        ),
    ),
    first_stage=("public_goods",),
    matching="group",
    scale="endowment",
    settle=_settle,
    unsupported=_unsupported,
)
