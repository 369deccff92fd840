import numpy as np
import pytest
from numpy.testing import assert_allclose

from alignment import (
    average_marginal_wasserstein,
    human_sample_floor,
    human_sample_floor_stats,
    wasserstein_1d,
)


def test_floor_matches_manual_split_1d_and_nd():
    h = np.random.default_rng(0).normal(size=(500, 3))
    perm = np.random.default_rng(5).permutation(500)
    expected = average_marginal_wasserstein(h[perm[:100]], h[perm[100:]])
    assert_allclose(human_sample_floor(h, n=100, rng=np.random.default_rng(5)), expected)
    expected_1d = wasserstein_1d(h[perm[:100], 0], h[perm[100:], 0])
    assert_allclose(human_sample_floor(h[:, 0], n=100, rng=np.random.default_rng(5)), expected_1d)


def test_floor_shrinks_with_n_and_stats_are_deterministic():
    h = np.random.default_rng(1).normal(size=4000)
    small, _ = human_sample_floor_stats(h, n=50, repeats=10, rng=np.random.default_rng(0))
    large, sd = human_sample_floor_stats(h, n=2000, repeats=10, rng=np.random.default_rng(0))
    assert large < small
    assert sd > 0
    again = human_sample_floor_stats(h, n=2000, repeats=10, rng=np.random.default_rng(0))
    assert again == (large, sd)


def test_floor_bad_input():
    with pytest.raises(ValueError, match=r"n = 10 must be smaller.*\(10,\)"):
        human_sample_floor(np.zeros(10), n=10, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="human contains NaN"):
        human_sample_floor(np.array([np.nan, 1.0, 2.0]), n=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="repeats must be a positive integer"):
        human_sample_floor_stats(np.zeros(10), n=2, repeats=0, rng=np.random.default_rng(0))
