"""Property tests (hypothesis) of the inference and worth invariants (issue 20)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignment.inference import estimate_mean, estimate_median
from alignment.worth import worth_k

METHODS = ("classical", "naive", "ppi", "ppipp")


@st.composite
def samples(draw):
    seed = draw(st.integers(0, 2**20))
    n = draw(st.integers(5, 60))
    m = draw(st.integers(5, 200))
    rho = draw(st.floats(-0.9, 0.9))
    bias = draw(st.floats(-2, 2))
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    yhat = bias + rho * y + rng.normal(size=n)
    yhat_u = bias + rng.normal(size=m) * (1 + abs(rho))
    return y, yhat, yhat_u


@given(samples(), st.floats(-50, 50))
@settings(max_examples=60, deadline=None)
def test_every_interval_holds_its_estimate_and_shifts_with_the_data(data, c):
    y, yhat, yhat_u = data
    a = estimate_mean(y, yhat, yhat_u)
    b = estimate_mean(y + c, yhat + c, yhat_u + c)
    for m in METHODS:
        ia, ib = getattr(a, m), getattr(b, m)
        assert ia.lo <= ia.estimate + 1e-9 and ia.estimate <= ia.hi + 1e-9
        assert (ib.lo - c, ib.estimate - c, ib.hi - c) == pytest.approx((ia.lo, ia.estimate, ia.hi), abs=1e-6)
    assert b.rho == pytest.approx(a.rho, abs=1e-9)


@given(samples(), st.floats(0.1, 10))
@settings(max_examples=40, deadline=None)
def test_the_human_only_interval_ignores_the_twins_and_scales_with_the_humans(data, s):
    y, yhat, yhat_u = data
    a = estimate_mean(y, yhat, yhat_u)
    b = estimate_mean(y, yhat * 3 - 1, yhat_u[::-1])
    assert (a.classical.lo, a.classical.hi) == (b.classical.lo, b.classical.hi)
    scaled = estimate_mean(y * s, yhat * s, yhat_u * s)
    assert scaled.ppi.width == pytest.approx(a.ppi.width * s, rel=1e-6)
    assert scaled.ess == pytest.approx(a.ess, rel=1e-6)


@given(samples())
@settings(max_examples=40, deadline=None)
def test_median_intervals_lie_on_the_answers_and_hold_their_estimate(data):
    y, yhat, yhat_u = data
    yi, hi, ui = np.rint(y * 2), np.rint(yhat * 2), np.rint(yhat_u * 2)
    est = estimate_median(yi, hi, ui)
    for m in ("classical", "ppi"):
        iv = getattr(est, m)
        assert iv.lo <= iv.estimate <= iv.hi
        assert {iv.lo, iv.hi, iv.estimate} <= set(yi.tolist())  # the human median lives on the humans' answers


@given(st.integers(0, 2**16), st.floats(-3, 3), st.integers(2, 12))
@settings(max_examples=25, deadline=None)
def test_worth_is_on_the_grid_and_does_not_see_where_the_scale_starts(seed, shift, n_tasks):
    rng = np.random.default_rng(seed)
    support = np.arange(1.0, 8.0)
    sims = [rng.dirichlet(np.ones(7)) for _ in range(n_tasks)]
    humans = [rng.choice(support, size=50, p=rng.dirichlet(np.ones(7))) for _ in range(n_tasks)]
    a = worth_k(sims, humans, supports=[support] * n_tasks, budget=300, rng=seed)
    b = worth_k(sims, [h + 100.0 for h in humans], supports=[support + 100.0] * n_tasks, budget=300, rng=seed)
    assert a.k_hat == 0 or a.k_hat in set(a.grid.tolist())
    assert a.k_hat == b.k_hat  # a shift of both supports is the same problem
    assert np.all((a.miscoverage >= 0) & (a.miscoverage <= 1))
    assert a.k_lo <= a.k_hi


@given(samples(), st.floats(0.01, 5))
@settings(max_examples=40, deadline=None)
def test_a_power_plan_never_needs_more_humans_with_twins_than_without(data, h):
    from alignment.inference import power_plan

    y, yhat, _ = data
    plan = power_plan(y, yhat, half_width=h)
    assert 1 <= plan["n_ppi"] <= plan["n_classical"]
    assert -1 < plan["rho"] < 1
