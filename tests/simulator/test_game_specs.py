"""Game specs: payoffs by hand through each spec's ``settle``, spec validation, and adding a game."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from populace_lm.types import IntegerAnswers
from scenarios.errors import ScenarioError
from scenarios.games import (
    BOMB_RISK,
    DICTATOR,
    GAMES,
    PUBLIC_GOODS,
    ROLES,
    TRUST,
    ULTIMATUM,
    Game,
    GameSpec,
    Param,
    RoleSpec,
    RoundContext,
    RoundOutcome,
    game_role,
)
from simulator import DecisionService, GameModel
from tests.simulator.fakes import fake_model, two_personas


class HandContext:
    """A :class:`RoundContext` with decisions set by hand (no Mesa, no LLM)."""

    def __init__(self, spec: GameSpec, decisions: Mapping[str, list[float]], *, partner=None, groups=(), **kw: Any):
        first = next(iter(decisions.values()))
        self.n = len(first)
        self.params = Game(name=spec.name, params=kw.pop("params", {})).params
        self.partner = np.asarray(partner if partner is not None else [-1] * self.n, dtype=np.int64)
        self.groups = [np.asarray(g) for g in groups]
        self.neighbors = kw.pop("neighbors", None)
        self.group_size = np.asarray(kw.pop("group_size", [len(groups[0]) if groups else 2] * self.n))
        self.rng = kw.pop("rng", np.random.default_rng(0))
        self.remembers = kw.pop("remembers", True)
        self._decisions = {k: (np.asarray(v, dtype=float), np.ones(self.n)) for k, v in decisions.items()}
        self._answers = kw.pop("answers", {})
        self.asked: list[tuple[str, Mapping]] = []
        self.rows: list[dict[str, Any]] = []

    def decision(self, role):
        return self._decisions[role]

    def ask(self, role, requests, *, desc):
        self.asked.append((role, requests))
        agents, tags, values = [], [], []
        for agent, reqs in requests.items():
            for over, tag in reqs:
                agents.append(agent)
                tags.append(tag)
                values.append(self._answers[(agent, over["invested"])])
        return np.asarray(agents), tags, np.asarray(values, dtype=float), np.full(len(agents), 0.8)

    def record(self, **columns):
        self.rows.append(columns)

    def about(self, x):
        return int(10 * round(float(x) / 10))


def _is_context(ctx: HandContext) -> bool:
    return isinstance(ctx, RoundContext) or all(hasattr(ctx, a) for a in RoundContext.__annotations__)


def test_dictator_by_hand():
    ctx = HandContext(DICTATOR, {"dictator": [30, 0, 100]}, partner=[1, 2, 0])
    out = DICTATOR.settle(ctx)
    # agent 0 keeps 70, receives agent 2's 100; agent 1 keeps 100, receives 30; agent 2 keeps 0, receives 0
    assert out.payoff.tolist() == [170.0, 130.0, 0.0]
    assert [r["role"] for r in ctx.rows] == ["dictator", "recipient"]
    assert out.history[0] == "you gave about $30 of $100 and received about $100"


def test_ultimatum_by_hand():
    ctx = HandContext(
        ULTIMATUM,
        {"ultimatum_proposer": [40, 10, 50], "ultimatum_responder": [30, 20, 60]},
        partner=[1, 2, 0],
    )
    out = ULTIMATUM.settle(ctx)
    # 0 offers 40 to 1 (min 20): accepted → 0 gets 60, 1 gets 40
    # 1 offers 10 to 2 (min 60): rejected → both 0
    # 2 offers 50 to 0 (min 30): accepted → 2 gets 50, 0 gets 50
    assert out.payoff.tolist() == [110.0, 40.0, 50.0]
    assert "rejected" in out.history[1] and "accepted" in out.history[0]


def test_trust_by_hand_asks_each_banker_once_per_amount_received():
    ctx = HandContext(
        TRUST,
        {"trust_investor": [50, 0, 20]},
        partner=[1, 2, 1],
        answers={(1, 50): 100, (1, 20): 70},  # banker 1 gets 150 from agent 0 and 60 from agent 2
    )
    out = TRUST.settle(ctx)
    role, requests = ctx.asked[0]
    assert role == "trust_banker" and requests == {1: [({"invested": 50}, 0), ({"invested": 20}, 2)]}
    # returns are capped at what was received: 70 > 3 × 20 = 60 → 60
    # investor 0: 100 − 50 + 100 = 150; investor 1 sent 0: 100; investor 2: 100 − 20 + 60 = 140
    # banker 1: (150 − 100) + (60 − 60) = 50; banker 2 received nothing
    assert out.payoff.tolist() == [150.0, 100.0 + 50.0, 140.0]
    banker = ctx.rows[1]
    assert banker["role"] == "trust_banker" and banker["decision"].tolist() == [100.0, 0.0, 60.0]
    assert np.isnan(banker["valid_mass"][1])  # nothing sent by agent 1 → nothing asked


def test_public_goods_by_hand_random_groups():
    ctx = HandContext(PUBLIC_GOODS, {"public_goods": [20, 0, 10, 10]}, groups=[[0, 1, 2, 3]], group_size=[4, 4, 4, 4])
    out = PUBLIC_GOODS.settle(ctx)
    # pot 40 × 2 / 4 = 20 each: 20 − c + 20
    assert out.payoff.tolist() == [20.0, 40.0, 30.0, 30.0]
    assert out.history[1] == "you contributed about $0; the others in your group contributed about $10 on average"


def test_public_goods_by_hand_on_a_network():
    # path 0 − 1 − 2: groups {0,1}, {1,0,2}, {2,1}; agent 1 splits its contribution over 3 groups
    nb = [np.array([1]), np.array([0, 2]), np.array([1])]
    ctx = HandContext(
        PUBLIC_GOODS,
        {"public_goods": [10, 6, 0]},
        groups=[[0, 1], [1, 0, 2], [2, 1]],
        group_size=[2, 3, 2],
        neighbors=nb,
        params={"multiplier": 1.5},
    )
    out = PUBLIC_GOODS.settle(ctx)
    share = np.array([5.0, 2.0, 0.0])
    g0 = 1.5 * (share[0] + share[1]) / 2
    g1 = 1.5 * (share[1] + share[0] + share[2]) / 3
    g2 = 1.5 * (share[2] + share[1]) / 2
    expected = 20 - np.array([10.0, 6.0, 0.0]) + np.array([g0 + g1, g0 + g1 + g2, g1 + g2])
    np.testing.assert_allclose(out.payoff, expected, rtol=0, atol=1e-12)
    # money is conserved up to the multiplier: Σ payoff = 3 × 20 + (1.5 − 1) × Σ c
    assert out.payoff.sum() == pytest.approx(60 + 0.5 * 16)


def test_bomb_by_hand_uses_the_context_generator_after_the_answers():
    ctx = HandContext(BOMB_RISK, {"bomb_risk": [30, 30, 0, 100]}, rng=np.random.default_rng(5))
    bomb = np.random.default_rng(5).integers(1, 101, size=4)
    out = BOMB_RISK.settle(ctx)
    assert out.payoff.tolist() == [30.0 if b > 30 else 0.0 for b in bomb[:2]] + [0.0, 0.0]


def test_no_history_lines_when_agents_do_not_remember():
    ctx = HandContext(DICTATOR, {"dictator": [1, 2]}, partner=[1, 0], remembers=False)
    assert DICTATOR.settle(ctx).history is None


def test_registry_roles_and_bounds():
    assert set(GAMES) == {"dictator", "ultimatum", "trust", "public_goods", "bomb_risk"}
    assert ROLES["trust_banker"] == ("trust", "trust_3")
    assert game_role("trust_banker", invested=7, multiplier=2.5).answers == IntegerAnswers(low=0, high=18)
    assert game_role("public_goods", endowment=30).answers.high == 30
    assert Game(name="trust").spec is TRUST and Game(name="trust").matches_human_data
    assert not Game(name="trust", params={"stakes": 90}).matches_human_data


def test_param_and_spec_validation():
    with pytest.raises(ScenarioError, match=r"trust.invested=60 exceeds trust.stakes=50"):
        Game(name="trust", params={"stakes": 50, "invested": 60})
    with pytest.raises(ScenarioError, match=r"dictator.stakes must be a whole number, got '2.5'"):
        Game(name="dictator", params={"stakes": "2.5"})
    with pytest.raises(ScenarioError, match=r"public_goods.punishment must be true/false, got 'maybe'"):
        Game(name="public_goods", params={"punishment": "maybe"})
    assert Game(name="public_goods", params={"punishment": "on"}).params["punishment"] is True
    with pytest.raises(ScenarioError, match="unknown game 'chess'"):
        Game(name="chess")
    with pytest.raises(ScenarioError, match="default 0 outside"):
        Param(name="x", type=int, low=1, high=3, default=0)
    with pytest.raises(ScenarioError, match="scale 'pot' is not a parameter"):
        GameSpec(
            name="bad", params=DICTATOR.params, human_params={}, roles=DICTATOR.roles,
            first_stage=("dictator",), matching="pair", scale="pot", settle=DICTATOR.settle,
        )  # fmt: skip
    with pytest.raises(ScenarioError, match="group matching needs a 'group_size' parameter"):
        GameSpec(
            name="bad", params=DICTATOR.params, human_params={}, roles=DICTATOR.roles,
            first_stage=("dictator",), matching="group", scale="stakes", settle=DICTATOR.settle,
        )  # fmt: skip


# ----------------------------------------------------------------------------- adding a game
def _stag_settle(ctx: RoundContext) -> RoundOutcome:
    """Stag hunt with effort 0..2: both ≥ 2 → 4 each, else the effort you did not spend."""
    e, vm = ctx.decision("hunter")
    other = e[ctx.partner]
    pay = np.where((e >= 2) & (other >= 2), 4.0, 2.0 - e)
    ctx.record(agent=np.arange(ctx.n), role="hunter", question="hunter", decision=e, valid_mass=vm, payoff=pay,
               partner=ctx.partner)  # fmt: skip
    lines = [f"you spent {int(x)} effort" for x in e] if ctx.remembers else None
    return RoundOutcome(payoff=pay, history=lines)


STAG_HUNT = GameSpec(
    name="stag_hunt",
    params=(Param(name="effort", type=int, low=1, high=9, default=2),),
    human_params={},
    roles=(
        RoleSpec(
            name="hunter",
            human_column="",
            human_max=2,
            verbatim_key="",
            high=lambda p: p["effort"],
            instruction=lambda p: (f"Choose your effort from 0 to {p['effort']}.", "My effort is "),
        ),
    ),
    first_stage=("hunter",),
    matching="pair",
    scale="effort",
    settle=_stag_settle,
)


def test_a_new_game_needs_only_its_spec_and_one_registration(monkeypatch):
    monkeypatch.setitem(GAMES, "stag_hunt", STAG_HUNT)  # the one registration line
    pop = two_personas()
    model = GameModel(
        game=Game(name="stag_hunt"),
        population=pop,
        persona_indices=pop.sample(10, rng=np.random.default_rng(0)),
        service=DecisionService(fake_model()),
        seed=3,
        rounds=2,
    )
    while model.running:
        model.step()
    rec = model.records()
    assert set(rec["role"]) == {"hunter"} and len(rec) == 20
    assert rec["decision"].between(0, 2).all()
    both = (rec["decision"].to_numpy() >= 2) & (
        rec.set_index(["round", "agent"])
        .loc[list(zip(rec["round"], rec["partner"], strict=True)), "decision"]
        .to_numpy()
        >= 2
    )
    np.testing.assert_array_equal(rec["payoff"].to_numpy(), np.where(both, 4.0, 2.0 - rec["decision"].to_numpy()))
    assert any("you spent" in q.prompt for q in model._questions.values())
