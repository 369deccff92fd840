"""Exact values, boundaries and messages of :mod:`alignment.importance` (mutation-testing targets).

The KDE weights are checked against a direct float64 evaluation of the two Gaussian kernel sums (the formula of
the module docstring), including points far apart (log weights of order -1e3, where only a max-shifted exponent
stays finite), blocks that do not divide N, and the seeded reference subsample.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from alignment import importance_resample, kde_importance_weights, standardize


def kde_ratio(pool, human, h):
    """Reference weights: mean_j exp(-|x - y_j|^2 / 2h^2) over humans / over the pool, normalised (float64)."""

    def log_kde(points, ref):
        d2 = ((points[:, None, :] - ref[None, :, :]) ** 2).sum(-1)
        a = -d2 / (2 * h**2)
        mx = a.max(axis=1, keepdims=True)
        return (mx + np.log(np.exp(a - mx).mean(axis=1, keepdims=True))).ravel()

    lw = log_kde(pool, human) - log_kde(pool, pool)
    w = np.exp(lw - lw.max())
    return w / w.sum()


def raises_exactly(message):
    return pytest.raises(ValueError, match=f"^{re.escape(message)}$")


# ------------------------------------------------------------------------------------------------- standardize
def test_standardize_exact_values_and_constant_columns():
    pool = np.array([[4.0, 7.0], [0.0, 5.0]])
    human = np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 5.0]])
    p, h, mean, scale = standardize(pool, human)
    assert_allclose(mean, [2.0, 5.0])
    assert_allclose(scale, [np.sqrt(2.0 / 3.0), 1.0])  # population sd (ddof 0); constant column gets scale 1
    assert_allclose(p, [[2.0 / np.sqrt(2.0 / 3.0), 2.0], [-2.0 / np.sqrt(2.0 / 3.0), 0.0]])
    assert_allclose(h[:, 1], [0.0, 0.0, 0.0])
    assert_allclose(h[:, 0], [-1.0, 1.0, 0.0] / np.sqrt(2.0 / 3.0))


def test_standardize_messages():
    with raises_exactly("pool must be 2-D with shape (n, D), got shape (2,)"):
        standardize([1.0, 2.0], [[1.0], [2.0]])
    with raises_exactly("pool and human must have the same number of columns, got shapes (1, 2) and (2, 1)"):
        standardize([[1.0, 2.0]], [[1.0], [2.0]])


# ------------------------------------------------------------------------------------------------- KDE weights
@pytest.mark.parametrize(("h", "block"), [(0.7, 7), (0.3, 1), (1.3, 1024), (0.5, 40)])
def test_kde_weights_match_the_formula(h, block):
    rng = np.random.default_rng(1)
    pool, human = rng.normal(size=(40, 3)), rng.normal(0.5, 1.0, size=(25, 3))
    w = kde_importance_weights(pool, human, bandwidth=h, block_size=block)
    assert w.shape == (40,)
    assert_allclose(w, kde_ratio(pool, human, h), rtol=2e-4, atol=1e-12)
    assert_allclose(w.sum(), 1.0, rtol=1e-12)


def test_kde_default_bandwidth_is_0_2():
    rng = np.random.default_rng(2)
    pool, human = rng.normal(size=(30, 2)) * 0.3, rng.normal(0.2, 0.3, size=(20, 2))
    assert_allclose(kde_importance_weights(pool, human), kde_ratio(pool, human, 0.2), rtol=2e-4, atol=1e-12)


def test_kde_weights_stay_finite_far_from_the_humans():
    # pool points 0, 1 far from all humans (at 30): their log densities are about -2000 and differ by ~100
    pool = np.array([[0.0], [1.0], [2.0]])
    human = np.array([[30.0], [30.5]])
    w = kde_importance_weights(pool, human, bandwidth=0.5)
    assert np.isfinite(w).all()
    assert_allclose(w, kde_ratio(pool, human, 0.5), rtol=1e-3, atol=1e-300)
    assert w[2] > 0.999


def test_kde_weights_on_identical_points_are_uniform():
    pool = np.zeros((4, 2))
    assert_allclose(kde_importance_weights(pool, np.zeros((3, 2))), np.full(4, 0.25), rtol=1e-12)


def test_kde_reference_subsample_is_seeded_and_capped():
    rng = np.random.default_rng(3)
    pool, human = rng.normal(size=(30, 2)), rng.normal(0.3, 1.0, size=(50, 2))
    exact = kde_importance_weights(pool, human, bandwidth=0.8)
    # a cap at least as large as both samples changes nothing
    assert_allclose(kde_importance_weights(pool, human, bandwidth=0.8, max_reference=50), exact, rtol=1e-6)
    sub = kde_importance_weights(pool, human, bandwidth=0.8, max_reference=10, seed=4)
    gen = np.random.default_rng(4)
    ref_h = human[gen.choice(50, 10, replace=False)]
    ref_p = pool[gen.choice(30, 10, replace=False)]

    def log_kde(points, ref):
        d2 = ((points[:, None, :] - ref[None, :, :]) ** 2).sum(-1)
        return np.log(np.exp(-d2 / (2 * 0.8**2)).mean(axis=1))

    lw = log_kde(pool, ref_h) - log_kde(pool, ref_p)
    expected = np.exp(lw - lw.max())
    assert_allclose(sub, expected / expected.sum(), rtol=2e-4)
    assert not np.allclose(sub, exact, rtol=1e-3)
    with raises_exactly("max_reference must be a positive integer, got 0"):
        kde_importance_weights(pool, human, max_reference=0)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_kde_bandwidth_message(bad):
    with raises_exactly(f"bandwidth must be a positive finite float, got {bad!r}"):
        kde_importance_weights(np.zeros((2, 1)), np.zeros((2, 1)), bandwidth=bad)


def test_kde_input_messages():
    with raises_exactly("block_size must be a positive integer, got 0"):
        kde_importance_weights(np.zeros((2, 1)), np.zeros((2, 1)), block_size=0)
    with raises_exactly("human contains NaN or infinite values (shape (2, 1))"):
        kde_importance_weights(np.zeros((2, 1)), [[0.0], [np.nan]])
    with raises_exactly("pool and human must have the same number of columns, got shapes (2, 1) and (2, 2)"):
        kde_importance_weights(np.zeros((2, 1)), np.zeros((2, 2)))


# ------------------------------------------------------------------------------------------------- resampling
def test_importance_resample_replays_the_weighted_draw():
    w = np.array([0.1, 0.2, 0.3, 0.4])
    got = importance_resample(w, 2, rng=np.random.default_rng(9))
    assert_array_equal(got, np.random.default_rng(9).choice(np.arange(4), size=2, replace=False, p=w))


def test_keep_fraction_keeps_the_ceiling_of_the_top_candidates():
    w = np.array([0.1, 0.4, 0.2, 0.3])
    # ceil(0.5 * 4) = 2 kept: indices 1 and 3 (largest weights), renormalised
    got = importance_resample(w, 2, rng=np.random.default_rng(0), keep_fraction=0.5)
    assert sorted(got.tolist()) == [1, 3]
    # ceil(0.26 * 4) = 2 as well (not 1)
    got = importance_resample(w, 2, rng=np.random.default_rng(0), keep_fraction=0.26)
    assert sorted(got.tolist()) == [1, 3]
    kept = np.array([1, 3])
    again = importance_resample(w, 1, rng=np.random.default_rng(5), keep_fraction=0.5)
    assert_array_equal(again, np.random.default_rng(5).choice(kept, size=1, replace=False, p=w[kept] / w[kept].sum()))


def test_keep_fraction_ties_keep_the_first_index():
    w = np.array([0.25, 0.25, 0.25, 0.25])
    got = importance_resample(w, 1, rng=np.random.default_rng(0), keep_fraction=0.25)
    assert got.tolist() == [0]


def test_keep_fraction_one_is_allowed_and_zero_is_not():
    w = np.array([0.5, 0.5])
    assert sorted(importance_resample(w, 2, rng=np.random.default_rng(0), keep_fraction=1.0).tolist()) == [0, 1]
    for bad in (0.0, -0.1, 1.01):
        with raises_exactly(f"keep_fraction must be in (0, 1], got {bad!r}"):
            importance_resample(w, 1, rng=np.random.default_rng(0), keep_fraction=bad)


def test_importance_resample_messages():
    with raises_exactly("weights must have shape (N,), got shape (2, 2)"):
        importance_resample([[0.5, 0.5], [0.5, 0.5]], 1, rng=np.random.default_rng(0))
    with raises_exactly("m must be a positive integer, got 0"):
        importance_resample([0.5, 0.5], 0, rng=np.random.default_rng(0))
    with raises_exactly(
        "m = 2 exceeds the 1 kept candidates with positive weight (weights shape (3,), keep_fraction=0.5)"
    ):
        importance_resample([0.0, 1.0, 0.0], 2, rng=np.random.default_rng(0), keep_fraction=0.5)
    # exactly as many positive weights as draws is fine
    assert sorted(importance_resample([0.0, 0.5, 0.5], 2, rng=np.random.default_rng(0)).tolist()) == [1, 2]


def test_keep_fraction_ties_are_broken_by_index_for_many_candidates():
    # 200 weights with many ties: the kept half is the first indices among equal weights (a stable sort)
    w = np.random.default_rng(0).integers(1, 4, 200).astype(float)
    w /= w.sum()
    order = sorted(range(200), key=lambda i: (-w[i], i))
    got = importance_resample(w, 100, rng=np.random.default_rng(0), keep_fraction=0.5)
    assert sorted(got.tolist()) == sorted(order[:100])
