"""Payoff arithmetic of every game (scenarios.games), checked by hand."""

import numpy as np
import pytest

from scenarios.games import (
    bomb_payoffs,
    dictator_payoffs,
    public_goods_payoffs,
    trust_payoffs,
    ultimatum_payoffs,
)


def test_dictator_payoffs_split_the_stakes():
    d, r = dictator_payoffs(np.array([0, 30, 100]), 100)
    assert d.tolist() == [100.0, 70.0, 0.0]
    assert r.tolist() == [0.0, 30.0, 100.0]


def test_ultimatum_payoffs_accept_at_threshold_and_reject_below():
    p, r = ultimatum_payoffs(np.array([40, 40, 10]), np.array([40, 41, 0]), 100)
    assert p.tolist() == [60.0, 0.0, 90.0]
    assert r.tolist() == [40.0, 0.0, 10.0]


def test_trust_payoffs_multiply_the_amount_sent():
    i, b = trust_payoffs(np.array([50, 0, 10]), np.array([60, 0, 30]), 100, 3.0)
    assert i.tolist() == [110.0, 100.0, 120.0]
    assert b.tolist() == [90.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="returned more"):
        trust_payoffs(np.array([10]), np.array([31]), 100, 3.0)


def test_public_goods_payoffs_share_the_multiplied_pot():
    pay = public_goods_payoffs(np.array([20, 0, 10, 10]), 20, 2.0)
    # pot 40 × 2 = 80 shared by 4 → 20 each
    assert pay.tolist() == [20.0, 40.0, 30.0, 30.0]
    assert pay.sum() == pytest.approx(4 * 20 + (2.0 - 1) * 40)


def test_public_goods_punishment_costs_and_impacts():
    P = np.zeros((3, 3))
    P[0, 1] = 2  # member 0 gives member 1 two points
    pay = public_goods_payoffs(np.array([6, 0, 3]), 10, 1.5, P, punishment_cost=1.0, punishment_impact=3.0)
    base = 10 - np.array([6, 0, 3]) + 1.5 * 9 / 3
    assert pay.tolist() == pytest.approx((base - np.array([2.0, 6.0, 0.0])).tolist())
    with pytest.raises(ValueError, match="shape"):
        public_goods_payoffs(np.array([1, 2]), 10, 1.5, np.zeros((3, 3)))


def test_bomb_payoffs_pay_boxes_unless_the_bomb_is_opened():
    pay = bomb_payoffs(np.array([30, 30, 0, 100]), np.array([31, 30, 1, 100]))
    assert pay.tolist() == [30.0, 0.0, 0.0, 0.0]
