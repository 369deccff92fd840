"""Bomb risk elicitation task (Crosetto & Filippin 2013): open boxes, one of which holds a bomb."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from scenarios.games.spec import GameSpec, Param, RoleSpec, RoundContext, RoundOutcome

__all__ = ["BOMB_RISK", "bomb_payoffs"]


def bomb_payoffs(boxes: np.ndarray, bomb_position: np.ndarray) -> np.ndarray:
    """Points: ``boxes`` if the bomb (at position 1..n) is not among the first ``boxes`` opened, else 0.

    >>> bomb_payoffs(np.array([30, 30]), np.array([31, 30])).tolist()
    [30.0, 0.0]
    """
    b = np.asarray(boxes, dtype=float)
    return np.where(np.asarray(bomb_position) > b, b, 0.0)


def _instruction(p: Mapping[str, Any]) -> tuple[str, str]:
    n = p["n_boxes"]
    return (
        f"There are {n} boxes. One of them, chosen at random, holds a bomb. You choose how many boxes to open, "
        f"from 0 to {n}. If none of the opened boxes holds the bomb, you earn one point per opened box; if the bomb "
        "is among them, you earn nothing. How many boxes do you open? Answer with a whole number.",
        "I open ",
    )


def _settle(ctx: RoundContext) -> RoundOutcome:
    """The bomb's box is drawn per agent from the model's generator, after the answers."""
    boxes, vm = ctx.decision("bomb_risk")
    bomb = ctx.rng.integers(1, ctx.params["n_boxes"] + 1, size=ctx.n)
    payoff = bomb_payoffs(boxes, bomb)
    ctx.record(
        agent=np.arange(ctx.n),
        role="bomb_risk",
        question="bomb_risk",
        decision=boxes,
        valid_mass=vm,
        payoff=payoff,
        group_size=1,
    )
    lines = None
    if ctx.remembers:
        lines = [
            f"you opened about {ctx.about(b)} boxes and {'avoided' if bomb[i] > b else 'hit'} the bomb"
            for i, b in enumerate(boxes)
        ]
    return RoundOutcome(payoff=payoff, history=lines)


BOMB_RISK = GameSpec(
    name="bomb_risk",
    params=(Param(name="n_boxes", type=int, low=1, high=10_000, default=100),),
    human_params={"n_boxes": 100},
    roles=(
        RoleSpec(
            name="bomb_risk",
            label="boxes opened",
            human_column="bomb",
            human_max=100,
            verbatim_key="bomb",
            high=lambda p: p["n_boxes"],
            instruction=_instruction,
        ),
    ),
    first_stage=("bomb_risk",),
    matching="individual",
    scale="n_boxes",
    cooperation=False,
    settle=_settle,
)
