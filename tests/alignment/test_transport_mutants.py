"""Exact replays of :func:`alignment.transport_weights` (dense and blocked) and its messages (mutation targets).

The reference re-solves the problem the module docstring states with POT directly: squared costs with item
weights ω scaled to sum to D, ε and ρ relative to the median cost (sampled from a seeded generator above 1e6
pairs), each human's column shifted by its minimum, plain Sinkhorn unless the shifted problem is stiff (then the
stabilised / log-domain solver), and in blocked mode the seeded permutations split into B blocks solved in float32.
"""

from __future__ import annotations

import math
import os
import re
import warnings

import numpy as np
import ot
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from alignment import sample_by_mass, transport_weights

# mutmut's trampolines add stack frames, so under mutation testing a warning points into them, not at the caller
UNDER_MUTMUT = "MUTANT_UNDER_TEST" in os.environ


def raises_exactly(message):
    return pytest.raises(ValueError, match=f"^{re.escape(message)}$")


def sq_cost(x, y):
    c = (x * x).sum(axis=1)[:, None] + (y * y).sum(axis=1)[None, :] - 2.0 * (x @ y.T)
    return np.maximum(c, 0.0)


def solve(x, y, a, b, eps, rho, formulation, max_iter, tol):
    """One dense solve as documented; returns plan, cost, n_iter, err."""
    c = sq_cost(x, y)
    col_min = c.min(axis=0)
    c = c - col_min[None, :]
    stiff = float(c.min(axis=1).max()) / eps > (40.0 if c.dtype == np.float32 else 400.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if formulation == "balanced":
            method = "sinkhorn_log" if stiff else "sinkhorn"
            plan, log = ot.sinkhorn(a, b, c, eps, method=method, numItermax=max_iter, stopThr=tol, log=True, warn=False)
            n_iter = int(log["niter"]) + 1
        else:
            method = "sinkhorn_stabilized" if stiff else "sinkhorn"
            plan, log = ot.unbalanced.sinkhorn_unbalanced(
                a, b, c, eps, (rho, float("inf")), method=method, numItermax=max_iter, stopThr=tol, log=True
            )
            n_iter = len(log["err"]) if method == "sinkhorn" else min(max_iter, 10 * len(log["err"]))
    cost = float((plan * c).sum(dtype=np.float64) + col_min @ plan.sum(axis=0, dtype=np.float64))
    return plan, cost, n_iter, float(log["err"][-1]), stiff


def dense(x, y, *, reg=0.05, reg_m=1.0, formulation="semi_relaxed", max_iter=1000, tol=1e-9, iw=None):
    if iw is not None:
        w = np.asarray(iw, dtype=float) / np.sum(iw) * x.shape[1]
        x, y = x * np.sqrt(w), y * np.sqrt(w)
    med = float(np.median(sq_cost(x, y)))
    med = med if med > 0 else 1.0
    n, m = len(x), len(y)
    plan, cost, n_iter, err, stiff = solve(
        x, y, np.full(n, 1 / n), np.full(m, 1 / m), reg * med, reg_m * med, formulation, max_iter, tol
    )
    return plan, cost, n_iter, err, med, stiff


def case(n, m, d=2, shift=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(shift, 1.0, size=(n, d)), rng.normal(0.0, 1.0, size=(m, d))


def check_dense(res, plan, cost, n_iter, err, med, tol, formulation):
    assert_allclose(res.plan, plan, rtol=1e-12, atol=1e-300)
    assert_allclose(res.weights, plan.sum(axis=1) / plan.sum(), rtol=1e-12)
    assert res.cost == pytest.approx(cost, rel=1e-12)
    assert res.n_iter == n_iter
    assert res.converged is (err < tol)
    assert res.cost_scale == med
    assert res.formulation == formulation
    assert res.block_size is None


# ------------------------------------------------------------------------------------------------- dense
@pytest.mark.parametrize("formulation", ["semi_relaxed", "balanced"])
@pytest.mark.parametrize("reg", [0.5, 0.002])
def test_dense_solve_replays_exactly(formulation, reg):
    x, y = case(30, 20, shift=2.0)
    plan, cost, n_iter, err, med, stiff = dense(x, y, reg=reg, reg_m=0.3, formulation=formulation, max_iter=400)
    assert stiff is (reg == 0.002)  # both solver branches are exercised
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = transport_weights(x, y, reg=reg, reg_m=0.3, formulation=formulation, max_iter=400)
    check_dense(res, plan, cost, n_iter, err, med, 1e-9, formulation)


def test_dense_defaults():
    x, y = case(25, 15, shift=0.5, seed=1)
    plan, cost, n_iter, err, med, _ = dense(x, y)
    res = transport_weights(x, y)
    check_dense(res, plan, cost, n_iter, err, med, 1e-9, "semi_relaxed")
    assert res.converged is True


def test_item_weights_scale_to_sum_d():
    x, y = case(20, 12, d=3, seed=2)
    iw = [1.0, 3.0, 0.0]
    plan, cost, n_iter, err, med, _ = dense(x, y, iw=iw, reg=0.1)
    res = transport_weights(x, y, item_weights=iw, reg=0.1)
    check_dense(res, plan, cost, n_iter, err, med, 1e-9, "semi_relaxed")
    uniform = transport_weights(x, y, item_weights=[2.0, 2.0, 2.0], reg=0.1)
    plain = transport_weights(x, y, reg=0.1)
    assert uniform.cost == pytest.approx(plain.cost, rel=1e-12)
    assert uniform.cost_scale == pytest.approx(plain.cost_scale, rel=1e-12)


def test_identical_points_have_cost_scale_one():
    x = np.ones((4, 2))
    res = transport_weights(x, x.copy())
    assert res.cost_scale == 1.0
    assert_allclose(res.weights, np.full(4, 0.25), rtol=1e-12)
    assert res.cost == 0.0


def test_median_cost_is_sampled_above_a_million_pairs():
    x, y = case(1001, 1000, d=1, seed=3)
    res = transport_weights(x, y, block_size=1000, reg=1.0, tol=1e-4, seed=7)
    rng = np.random.default_rng([7, 1])
    i = rng.integers(1001, size=200_000)
    j = rng.integers(1000, size=200_000)
    assert res.cost_scale == float(np.median(((x[i] - y[j]) ** 2).sum(axis=1)))
    exact = transport_weights(x[:1000], y, block_size=1000, reg=1.0, tol=1e-4, seed=7)
    assert exact.cost_scale == float(np.median(sq_cost(x[:1000], y)))  # 1000 x 1000 pairs: exact median


def test_non_convergence_warns_with_the_error_and_the_remedy():
    x, y = case(30, 20, shift=2.0)
    _, _, _, err, _, _ = dense(x, y, max_iter=3)
    with pytest.warns(RuntimeWarning) as record:
        res = transport_weights(x, y, max_iter=3)
    assert res.converged is False
    assert [str(r.message) for r in record] == [
        f"transport_weights did not converge in max_iter=3 (error {err:.3g} >= tol 1e-09); increase max_iter or reg"
    ]
    assert UNDER_MUTMUT or record[0].filename == __file__


def test_a_numerical_warning_of_pot_is_reported_instead(monkeypatch):
    real = ot.unbalanced.sinkhorn_unbalanced

    def noisy(*args, **kwargs):
        warnings.warn("Numerical errors at iteration 2", stacklevel=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(ot.unbalanced, "sinkhorn_unbalanced", noisy)
    x, y = case(10, 8)
    with pytest.warns(RuntimeWarning) as record:
        transport_weights(x, y, max_iter=3)
    messages = [str(r.message) for r in record if r.category is RuntimeWarning]
    assert messages == ["transport_weights hit numerical under/overflow; increase reg"]
    assert UNDER_MUTMUT or [r.filename for r in record if r.category is RuntimeWarning] == [__file__]


def test_no_error_history_counts_as_not_converged(monkeypatch):
    def empty(a, b, c, *args, **kwargs):
        return np.outer(a, b), {"err": []}

    monkeypatch.setattr(ot.unbalanced, "sinkhorn_unbalanced", empty)
    x, y = case(6, 4)
    with pytest.warns(RuntimeWarning, match=r"\(error inf >= tol 1e-09\)"):
        res = transport_weights(x, y)
    assert res.converged is False and res.n_iter == 0
    assert_allclose(res.weights, np.full(6, 1 / 6))


def test_converged_solves_do_not_warn():
    x, y = case(20, 10, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert transport_weights(x, y, reg=0.5).converged is True


# ------------------------------------------------------------------------------------------------- blocked
def blocked(x, y, *, block_size, reg=0.05, reg_m=1.0, formulation="semi_relaxed", max_iter=1000, tol=1e-9, seed=0):
    n, m = len(x), len(y)
    cost = sq_cost(x, y)
    med = float(np.median(cost)) if n * m <= 1_000_000 else None
    n_blocks = min(max(math.ceil(max(n, m) / block_size), 1), n, m)
    rng = np.random.default_rng([seed, 2])
    p_blocks = np.array_split(rng.permutation(n), n_blocks)
    h_blocks = np.array_split(rng.permutation(m), n_blocks)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    tol32 = max(tol, 1e-6)
    mass, total, n_iter, worst = np.zeros(n), 0.0, 0, 0.0
    for pi, hj in zip(p_blocks, h_blocks, strict=True):
        b = np.full(len(hj), 1.0 / m, dtype=np.float32)
        a_val = (len(hj) / m) / len(pi) if formulation == "balanced" else 1.0 / n
        a = np.full(len(pi), a_val, dtype=np.float32)
        plan, c, it, err, _ = solve(
            x32[pi], y32[hj], a, b, np.float32(reg * med), np.float32(reg_m * med), formulation, max_iter, tol32
        )
        mass[pi] = plan.sum(axis=1, dtype=np.float64)
        total += c
        n_iter = max(n_iter, it)
        worst = max(worst, err)
    return mass, total, n_iter, worst, p_blocks, h_blocks


@pytest.mark.parametrize("formulation", ["semi_relaxed", "balanced"])
def test_blocked_solve_replays_exactly(formulation):
    x, y = case(50, 30, shift=1.5, seed=4)
    mass, cost, n_iter, worst, p_blocks, h_blocks = blocked(
        x, y, block_size=7, formulation=formulation, seed=3, reg=0.2
    )
    assert len(p_blocks) == 8  # ceil(50 / 7)
    res = transport_weights(x, y, block_size=7, formulation=formulation, seed=3, reg=0.2)
    assert res.plan is None and res.block_size == 7 and res.formulation == formulation
    assert_allclose(res.weights, mass / mass.sum(), rtol=1e-12)
    assert res.cost == pytest.approx(cost, rel=1e-12)
    assert res.n_iter == n_iter
    assert res.converged is (worst < 1e-6)
    assert res.cost_scale == float(np.median(sq_cost(x, y)))
    for pi, hj in zip(p_blocks, h_blocks, strict=True):
        # every pool block carries its humans' mass |hj| / M
        assert mass[pi].sum() == pytest.approx(len(hj) / 30, rel=1e-5)
        if formulation == "balanced":
            assert_allclose(mass[pi], len(hj) / 30 / len(pi), rtol=1e-5)


def test_blocks_are_capped_by_the_smaller_sample():
    x, y = case(12, 5, seed=6)
    mass, cost, n_iter, worst, p_blocks, _ = blocked(x, y, block_size=1, reg=0.5)
    assert len(p_blocks) == 5
    res = transport_weights(x, y, block_size=1, reg=0.5)
    assert_allclose(res.weights, mass / mass.sum(), rtol=1e-12)
    assert res.cost == pytest.approx(cost, rel=1e-12)


def test_one_block_when_the_block_is_larger_than_both_samples():
    x, y = case(9, 6, seed=8)
    mass, cost, _, _, p_blocks, _ = blocked(x, y, block_size=100, reg=0.5)
    assert len(p_blocks) == 1
    res = transport_weights(x, y, block_size=100, reg=0.5)
    assert_allclose(res.weights, mass / mass.sum(), rtol=1e-12)


def test_blocked_non_convergence_names_the_blocks_and_float32_tolerance():
    x, y = case(40, 30, shift=2.0)
    _, _, _, worst, _, _ = blocked(x, y, block_size=10, max_iter=2)
    with pytest.warns(RuntimeWarning) as record:
        res = transport_weights(x, y, block_size=10, max_iter=2)
    assert res.converged is False
    assert [str(r.message) for r in record] == [
        f"transport_weights did not converge in max_iter=2 (blocks of 10 humans) (error {worst:.3g} >= tol 1e-06); "
        "increase max_iter or reg"
    ]
    assert UNDER_MUTMUT or record[0].filename == __file__


def test_blocked_tolerance_above_the_float32_floor_is_kept():
    x, y = case(20, 20, seed=9)
    mass, _, n_iter, worst, _, _ = blocked(x, y, block_size=10, tol=1e-3, reg=0.5)
    res = transport_weights(x, y, block_size=10, tol=1e-3, reg=0.5)
    assert res.n_iter == n_iter and res.converged is (worst < 1e-3)
    assert_allclose(res.weights, mass / mass.sum(), rtol=1e-12)


# ------------------------------------------------------------------------------------------------- messages
def test_transport_messages():
    x, y = case(4, 3)
    with raises_exactly("formulation must be one of ('semi_relaxed', 'balanced'), got 'full'"):
        transport_weights(x, y, formulation="full")
    for name in ("reg", "reg_m", "tol"):
        for bad in (0.0, -1.0, float("inf"), float("nan")):
            with raises_exactly(f"{name} must be a positive finite float, got {bad!r}"):
                transport_weights(x, y, **{name: bad})
    with raises_exactly("max_iter must be a positive integer, got 0"):
        transport_weights(x, y, max_iter=0)
    with raises_exactly("block_size must be a positive integer, got 0"):
        transport_weights(x, y, block_size=0)
    with raises_exactly("item_weights must have shape (2,) to match the samples, got shape (3,)"):
        transport_weights(x, y, item_weights=[1.0, 1.0, 1.0])
    with raises_exactly("human must be 2-D with shape (n, D), got shape (3,)"):
        transport_weights(x, y[:, 0])
    with raises_exactly("pool and human must have the same number of columns, got shapes (4, 2) and (3, 1)"):
        transport_weights(x, y[:, :1])


# ------------------------------------------------------------------------------------------------- sampling
def test_sample_by_mass_replays_the_draw():
    w = np.array([0.1, 0.0, 0.6, 0.3])
    got = sample_by_mass(w, 2, rng=np.random.default_rng(4))
    assert_array_equal(got, np.random.default_rng(4).choice(4, size=2, replace=False, p=w))
    got = sample_by_mass(w, 6, rng=np.random.default_rng(4), replace=True)
    assert_array_equal(got, np.random.default_rng(4).choice(4, size=6, replace=True, p=w))


def test_sample_by_mass_boundaries_and_messages():
    w = [0.5, 0.0, 0.5]
    assert sorted(sample_by_mass(w, 2, rng=np.random.default_rng(0)).tolist()) == [0, 2]
    with raises_exactly(
        "m = 3 exceeds the 2 candidates with positive mass (weights shape (3,)); pass replace=True or a smaller m"
    ):
        sample_by_mass(w, 3, rng=np.random.default_rng(0))
    with raises_exactly("weights must have shape (N,), got shape (1, 2)"):
        sample_by_mass([[0.5, 0.5]], 1, rng=np.random.default_rng(0))
    with raises_exactly("m must be a positive integer, got 0"):
        sample_by_mass(w, 0, rng=np.random.default_rng(0))


def test_moderately_stiff_dense_problems_use_plain_sinkhorn_in_float64():
    # float64 switches solvers above 400 (float32 above 40): a ratio between the two keeps plain Sinkhorn
    x, y = case(30, 20, shift=2.0)
    reg = 0.02
    plan, cost, n_iter, err, med, stiff = dense(x, y, reg=reg, reg_m=0.3, max_iter=300)
    c = sq_cost(x, y)
    ratio = float((c - c.min(axis=0)).min(axis=1).max()) / (reg * med)
    assert 40 < ratio < 400 and stiff is False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = transport_weights(x, y, reg=reg, reg_m=0.3, max_iter=300)
    check_dense(res, plan, cost, n_iter, err, med, 1e-9, "semi_relaxed")


@pytest.mark.parametrize("formulation", ["semi_relaxed", "balanced"])
def test_moderately_stiff_blocks_use_the_stabilised_solver_in_float32(formulation):
    x, y = case(24, 20, shift=2.0, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mass, cost, n_iter, _, _, _ = blocked(x, y, block_size=10, reg=0.02, formulation=formulation, max_iter=300)
        res = transport_weights(x, y, block_size=10, reg=0.02, formulation=formulation, max_iter=300)
    assert_allclose(res.weights, mass / mass.sum(), rtol=1e-12)
    assert res.n_iter == n_iter
    assert res.cost == pytest.approx(cost, rel=1e-12)


def test_sample_by_mass_renormalises_masses_within_the_tolerance():
    w = np.array([0.5, 0.5 - 9e-7])  # accepted as a pmf (within 1e-6), renormalised before the draw
    got = sample_by_mass(w, 2, rng=np.random.default_rng(1))
    assert sorted(got.tolist()) == [0, 1]
    assert_array_equal(
        sample_by_mass(w, 3, rng=np.random.default_rng(1), replace=True),
        np.random.default_rng(1).choice(2, size=3, replace=True, p=w / w.sum()),
    )
