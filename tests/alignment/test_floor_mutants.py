"""The human sampling floor replayed exactly with the same seeded split (mutation-testing targets)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from alignment import average_marginal_wasserstein, human_sample_floor, human_sample_floor_stats, wasserstein_1d

H1 = np.random.default_rng(7).normal(size=1003)
H2 = np.random.default_rng(8).normal(size=(40, 3))


def replay(h, n, rng):
    perm = rng.permutation(h.shape[0])
    a, b = h[perm[:n]], h[perm[n:]]
    return wasserstein_1d(a, b) if h.ndim == 1 else average_marginal_wasserstein(a, b)


def test_default_n_is_one_thousand():
    got = human_sample_floor(H1, rng=np.random.default_rng(3))
    assert got == replay(H1, 1000, np.random.default_rng(3))
    with pytest.raises(
        ValueError, match=r"^n = 1000 must be smaller than the number of humans \(human shape \(1000,\)\)$"
    ):
        human_sample_floor(H1[:1000], rng=np.random.default_rng(0))


def test_largest_n_is_m_minus_one():
    got = human_sample_floor(H2, n=39, rng=np.random.default_rng(1))
    assert got == replay(H2, 39, np.random.default_rng(1))
    assert got > 0


def test_n_is_a_positive_integer():
    with pytest.raises(ValueError, match=r"^n must be a positive integer, got 0$"):
        human_sample_floor(H2, n=0, rng=np.random.default_rng(0))


def test_human_must_be_1d_or_2d():
    with pytest.raises(ValueError, match=f"^{re.escape('human must be 2-D with shape (n, D), got shape (2, 2, 2)')}$"):
        human_sample_floor(np.zeros((2, 2, 2)), n=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^human is empty \(shape \(0,\)\); at least one sample is needed$"):
        human_sample_floor([], n=1, rng=np.random.default_rng(0))


def test_stats_replay_mean_and_sample_sd():
    rng = np.random.default_rng(11)
    vals = np.array([replay(H2, 10, rng) for _ in range(4)])
    mean, sd = human_sample_floor_stats(H2, n=10, repeats=4, rng=np.random.default_rng(11))
    assert type(mean) is float and type(sd) is float
    assert mean == float(vals.mean())
    assert sd == float(vals.std(ddof=1))
    assert sd != float(vals.std(ddof=0))


def test_stats_defaults_are_n_1000_and_ten_repeats():
    rng = np.random.default_rng(5)
    vals = np.array([replay(H1, 1000, rng) for _ in range(10)])
    assert human_sample_floor_stats(H1, rng=np.random.default_rng(5)) == (float(vals.mean()), float(vals.std(ddof=1)))


def test_one_repeat_has_zero_sd():
    mean, sd = human_sample_floor_stats(H2, n=5, repeats=1, rng=np.random.default_rng(2))
    assert mean == replay(H2, 5, np.random.default_rng(2)) and sd == 0.0


def test_two_repeats_use_ddof_one():
    rng = np.random.default_rng(4)
    a, b = replay(H2, 5, rng), replay(H2, 5, rng)
    mean, sd = human_sample_floor_stats(H2, n=5, repeats=2, rng=np.random.default_rng(4))
    assert mean == pytest.approx((a + b) / 2, abs=1e-15)
    assert sd == pytest.approx(abs(a - b) / np.sqrt(2), rel=1e-12)
