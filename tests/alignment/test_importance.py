import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal

from alignment import importance_resample, kde_importance_weights, standardize


def test_standardize_uses_human_moments():
    rng = np.random.default_rng(0)
    human = rng.normal(3.0, 2.0, size=(500, 2))
    pool = rng.normal(size=(50, 2))
    p, h, mean, scale = standardize(pool, human)
    assert_allclose(h.mean(0), 0.0, atol=1e-12)
    assert_allclose(h.std(0), 1.0)
    assert_allclose(p, (pool - mean) / scale)
    with pytest.raises(ValueError, match="same number of columns"):
        standardize(pool[:, :1], human)


def test_kde_weights_match_explicit_gaussian_mixture_ratio():
    rng = np.random.default_rng(1)
    pool, human, h = rng.normal(size=(40, 3)), rng.normal(0.5, 1, size=(30, 3)), 0.7

    def kde(points, ref):
        return np.mean([multivariate_normal(r, h**2 * np.eye(3)).pdf(points) for r in ref], axis=0)

    expected = kde(pool, human) / kde(pool, pool)
    w = kde_importance_weights(pool, human, bandwidth=h, block_size=7)
    assert_allclose(w, expected / expected.sum(), rtol=1e-4)


def test_kde_weights_prefer_candidates_near_humans_and_subsampling():
    rng = np.random.default_rng(2)
    pool = np.concatenate([rng.normal(0, 1, (300, 2)), rng.normal(4, 1, (300, 2))])
    human = rng.normal(0, 1, (400, 2))
    w = kde_importance_weights(pool, human, bandwidth=0.5)
    assert w.shape == (600,)
    assert_allclose(w.sum(), 1.0)
    assert w[:300].sum() > 0.95
    ws = kde_importance_weights(pool, human, bandwidth=0.5, max_reference=200, seed=3)
    assert ws[:300].sum() > 0.95
    np.testing.assert_array_equal(ws, kde_importance_weights(pool, human, bandwidth=0.5, max_reference=200, seed=3))


def test_kde_bad_input():
    with pytest.raises(ValueError, match="bandwidth"):
        kde_importance_weights(np.zeros((3, 2)), np.zeros((3, 2)), bandwidth=0.0)
    with pytest.raises(ValueError, match="pool contains NaN"):
        kde_importance_weights(np.full((3, 2), np.nan), np.zeros((3, 2)))


def test_importance_resample_without_replacement_and_keep_fraction():
    w = np.array([0.4, 0.3, 0.2, 0.1, 0.0])
    idx = importance_resample(w, 3, rng=np.random.default_rng(0))
    assert len(set(idx.tolist())) == 3
    assert 4 not in idx
    top = importance_resample(w, 2, rng=np.random.default_rng(0), keep_fraction=0.4)
    assert sorted(top.tolist()) == [0, 1]
    np.testing.assert_array_equal(idx, importance_resample(w, 3, rng=np.random.default_rng(0)))


def test_importance_resample_bad_input():
    with pytest.raises(ValueError, match="weights is not normalised"):
        importance_resample([0.5, 0.7], 1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="weights contains negative"):
        importance_resample([1.5, -0.5], 1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="exceeds the 1 kept"):
        importance_resample([1.0, 0.0], 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="keep_fraction"):
        importance_resample([0.5, 0.5], 1, rng=np.random.default_rng(0), keep_fraction=1.5)
