import numpy as np
import ot
import pytest
from numpy.testing import assert_allclose

from alignment import (
    AlignmentResult,
    average_marginal_wasserstein,
    correlation_mae,
    frechet_distance,
    mmd_rbf,
    sample_by_mass,
    sliced_wasserstein,
    transport_weights,
)


def shifted_case(n=400, m=300, d=1, shift=0.5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(shift, 1.0, size=(n, d)), rng.normal(0.0, 1.0, size=(m, d))


def test_balanced_is_degenerate_uniform_and_marginals_hold():
    pool, human = shifted_case()
    res = transport_weights(pool, human, formulation="balanced")
    assert isinstance(res, AlignmentResult)
    assert res.converged
    assert_allclose(res.weights * 400, 1.0, atol=1e-8)
    assert_allclose(res.plan.sum(axis=1), np.full(400, 1 / 400), atol=1e-10)
    assert_allclose(res.plan.sum(axis=0), np.full(300, 1 / 300), atol=1e-10)


def test_semi_relaxed_moves_mass_toward_humans():
    pool, human = shifted_case()
    res = transport_weights(pool, human)
    assert res.formulation == "semi_relaxed"
    assert res.converged
    assert_allclose(res.weights.sum(), 1.0)
    assert_allclose(res.plan.sum(axis=0), np.full(300, 1 / 300), atol=1e-9)  # human marginal tight
    assert_allclose(res.plan.sum(axis=1), res.weights)
    before, after = pool.mean(), res.weights @ pool[:, 0]
    assert after < before - 0.2
    assert abs(after - human.mean()) < abs(before - human.mean())
    stronger = transport_weights(pool, human, reg_m=0.1)
    assert abs(stronger.weights @ pool[:, 0] - human.mean()) < abs(after - human.mean())


def test_dense_matches_pot_semi_relaxed_directly():
    pool, human = shifted_case(60, 50, d=3, seed=1)
    iw = np.array([1.0, 2.0, 0.5])
    res = transport_weights(pool, human, item_weights=iw, reg=0.1, reg_m=0.5)
    w = iw / iw.sum() * 3
    cost = ((pool[:, None, :] - human[None, :, :]) ** 2 * w).sum(-1)
    med = np.median(cost)
    plan = ot.unbalanced.sinkhorn_unbalanced(
        np.full(60, 1 / 60),
        np.full(50, 1 / 50),
        cost,
        0.1 * med,
        (0.5 * med, np.inf),
        numItermax=5000,
        stopThr=1e-12,
    )
    assert_allclose(res.plan, plan, atol=1e-9)
    assert_allclose(res.cost, (plan * cost).sum(), rtol=1e-6)
    assert_allclose(res.cost_scale, med)


def test_small_reg_uses_stabilised_solver_without_nan():
    pool, human = shifted_case(200, 150, d=2, shift=3.0)
    res = transport_weights(pool, human, reg=0.002, max_iter=3000)
    assert np.all(np.isfinite(res.weights))
    assert_allclose(res.plan.sum(axis=0), np.full(150, 1 / 150), atol=1e-6)


def test_blocked_mode_marginals_and_approximation():
    pool, human = shifted_case(600, 500, d=2)
    dense = transport_weights(pool, human)
    blocked = transport_weights(pool, human, block_size=250)
    assert blocked.plan is None
    assert blocked.block_size == 250
    assert blocked.converged
    assert_allclose(blocked.weights.sum(), 1.0)
    assert np.abs(blocked.weights - dense.weights).sum() < 0.2
    assert blocked.weights @ pool[:, 0] < pool[:, 0].mean() - 0.1
    # restricted to block-diagonal plans: the transport objective cannot beat the dense optimum by much
    assert blocked.cost >= 0.95 * dense.cost
    one_block = transport_weights(pool, human, block_size=10_000)
    assert_allclose(one_block.weights, dense.weights, atol=1e-5)
    balanced = transport_weights(pool, human, block_size=250, formulation="balanced")
    assert_allclose(balanced.weights * 600, 1.0, atol=1e-2)


def test_determinism_same_seed_same_result():
    pool, human = shifted_case(300, 200, d=2)
    a = transport_weights(pool, human, block_size=100, seed=3)
    b = transport_weights(pool, human, block_size=100, seed=3)
    np.testing.assert_array_equal(a.weights, b.weights)
    c = transport_weights(pool, human, block_size=100, seed=4)
    assert not np.array_equal(a.weights, c.weights)


def test_non_convergence_warns_with_remedy():
    pool, human = shifted_case(100, 80)
    with pytest.warns(RuntimeWarning, match="increase max_iter or reg"):
        res = transport_weights(pool, human, max_iter=3)
    assert not res.converged
    with pytest.warns(RuntimeWarning, match=r"blocks of 40 humans.*increase max_iter or reg"):
        transport_weights(pool, human, max_iter=3, block_size=40)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"human": np.zeros((5, 3))}, r"same number of columns.*\(10, 2\) and \(5, 3\)"),
        ({"human": np.zeros((0, 2))}, "human is empty"),
        ({"pool": np.full((10, 2), np.nan)}, "pool contains NaN"),
        ({"item_weights": [1.0, -1.0]}, "item_weights contains negative"),
        ({"item_weights": [1.0, 1.0, 1.0]}, r"item_weights must have shape \(2,\)"),
        ({"formulation": "full"}, "formulation must be one of"),
        ({"reg": 0.0}, "reg must be a positive"),
        ({"reg_m": -1.0}, "reg_m must be a positive"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"pool": np.zeros((10, 2)), "human": np.ones((5, 2))} | kwargs
    with pytest.raises(ValueError, match=match):
        transport_weights(args.pop("pool"), args.pop("human"), **args)


def test_sample_by_mass():
    w = np.array([0.5, 0.5, 0.0])
    idx = sample_by_mass(w, 2, rng=np.random.default_rng(0))
    assert sorted(idx.tolist()) == [0, 1]
    assert sample_by_mass(w, 5, rng=np.random.default_rng(0), replace=True).shape == (5,)
    with pytest.raises(ValueError, match="exceeds the 2 candidates"):
        sample_by_mass(w, 3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="weights is not normalised"):
        sample_by_mass([0.2, 0.2], 1, rng=np.random.default_rng(0))


def test_resampling_toward_target_reduces_every_metric():
    """End to end: a pool that is half 'right' and half shifted; OT mass resampling improves all metrics."""
    rng = np.random.default_rng(11)
    cov = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, 0.3], [0.0, 0.3, 1.0]])
    human = rng.multivariate_normal(np.zeros(3), cov, size=600)
    pool = np.concatenate([rng.multivariate_normal(np.zeros(3), cov, size=600), rng.normal(1.5, 1.0, (600, 3))])
    res = transport_weights(pool, human, reg_m=0.1)
    chosen = pool[sample_by_mass(res.weights, 400, rng=np.random.default_rng(0))]
    baseline = pool[np.random.default_rng(0).choice(1200, 400, replace=False)]
    for metric in (
        average_marginal_wasserstein,
        frechet_distance,
        sliced_wasserstein,
        mmd_rbf,
        correlation_mae,
    ):
        assert metric(chosen, human) < metric(baseline, human), metric.__name__
