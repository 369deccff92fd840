"""Exact messages and boundaries of the shared input checks (``alignment._validation``), through the public functions.

Each check is reached through a public function of :mod:`alignment` (the argument names in the messages are the
public ones), and each message is matched whole, so a changed word, shape or bound fails.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from alignment import (
    average_marginal_wasserstein,
    mixture_pmf,
    pmf_from_samples,
    sample_from_pmf,
    standardize,
    total_variation,
    wasserstein_1d,
)


def raises_exactly(message: str):
    return pytest.raises(ValueError, match=f"^{re.escape(message)}$")


# ------------------------------------------------------------------------------------------------- 1-D samples
def test_samples_1d_messages():
    with raises_exactly("u_values must be 1-D with shape (n,), got shape (2, 1)"):
        wasserstein_1d([[1.0], [2.0]], [1.0])
    with raises_exactly("v_values must be 1-D with shape (n,), got shape ()"):
        wasserstein_1d([1.0], 2.0)
    with raises_exactly("u_values is empty (shape (0,)); at least one sample is needed"):
        wasserstein_1d([], [1.0])
    with raises_exactly("v_values contains NaN or infinite values (shape (2,))"):
        wasserstein_1d([1.0], [1.0, np.inf])


def test_a_single_sample_is_enough():
    assert wasserstein_1d([2.0], [5.0]) == 3.0


# ------------------------------------------------------------------------------------------------- 2-D samples
def test_samples_2d_messages():
    with raises_exactly("x must be 2-D with shape (n, D), got shape (3,)"):
        average_marginal_wasserstein(np.zeros(3), np.zeros((3, 1)))
    with raises_exactly("y must be 2-D with shape (n, D), got shape (1, 1, 1)"):
        average_marginal_wasserstein(np.zeros((3, 1)), np.zeros((1, 1, 1)))
    with raises_exactly("x is empty or too small: shape (0, 2), need at least 1 row(s)"):
        average_marginal_wasserstein(np.zeros((0, 2)), np.zeros((3, 2)))
    with raises_exactly("y is empty or too small: shape (3, 0), need at least 1 row(s)"):
        average_marginal_wasserstein(np.zeros((3, 1)), np.zeros((3, 0)))
    with raises_exactly("y contains NaN or infinite values (shape (2, 2))"):
        average_marginal_wasserstein(np.zeros((2, 2)), [[0.0, 1.0], [np.nan, 0.0]])
    with raises_exactly("x and y must have the same number of columns, got shapes (2, 2) and (2, 3)"):
        average_marginal_wasserstein(np.zeros((2, 2)), np.zeros((2, 3)))


def test_min_rows_is_inclusive():
    # standardize needs M >= 2 human rows: 2 pass, 1 fails with the bound in the message
    p, h, mean, scale = standardize([[1.0]], [[0.0], [2.0]])
    assert_allclose(h.ravel(), [-1.0, 1.0])
    with raises_exactly("human is empty or too small: shape (1, 1), need at least 2 row(s)"):
        standardize([[1.0]], [[0.0]])
    # one pool row (min_rows 1) is enough
    assert p.shape == (1, 1)


# ------------------------------------------------------------------------------------------------- weights
def test_sample_weight_messages():
    with raises_exactly("u_weights must have shape (2,) to match the samples, got shape (3,)"):
        wasserstein_1d([0.0, 1.0], [0.0], u_weights=[1.0, 1.0, 1.0])
    with raises_exactly("v_weights contains NaN or infinite values (shape (1,))"):
        wasserstein_1d([0.0], [0.0], v_weights=[np.nan])
    with raises_exactly("u_weights contains negative weights (shape (2,))"):
        wasserstein_1d([0.0, 1.0], [0.0], u_weights=[2.0, -1.0])
    with raises_exactly("u_weights sums to zero (shape (2,)); at least one weight must be positive"):
        wasserstein_1d([0.0, 1.0], [0.0], u_weights=[0.0, 0.0])


def test_zero_weights_are_allowed_beside_positive_ones():
    # a zero weight is not negative: the weighted sample is the point 1
    assert wasserstein_1d([0.0, 1.0], [1.0], u_weights=[0.0, 5.0]) == 0.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.01, 100.0), min_size=1, max_size=8), st.floats(0.1, 1000.0))
def test_weights_are_scale_free(weights, factor):
    # the weights are normalised: multiplying them all by a constant changes nothing
    values = np.arange(len(weights), dtype=float)
    base = pmf_from_samples(values, values, weights)
    assert_allclose(base.sum(), 1.0)
    assert_allclose(pmf_from_samples(values, values, np.asarray(weights) * factor), base, rtol=1e-12)
    assert_allclose(base, np.asarray(weights) / np.sum(weights), rtol=1e-12)


# ------------------------------------------------------------------------------------------------- pmfs
def test_pmf_messages():
    with raises_exactly("weights must have shape (2,), got shape (3,)"):
        mixture_pmf([0.2, 0.3, 0.5], [[1.0, 0.0], [0.0, 1.0]])
    with raises_exactly("p is empty (shape (0,))"):
        total_variation([], [])
    with raises_exactly("pmf contains NaN or infinite values (shape (2,))"):
        sample_from_pmf([np.nan, 1.0], [1.0, 2.0], 1, np.random.default_rng(0))
    with raises_exactly("pmf contains negative probabilities (shape (2,))"):
        sample_from_pmf([-0.5, 1.5], [1.0, 2.0], 1, np.random.default_rng(0))
    with raises_exactly("pmf is not normalised: sums along axis -1 differ from 1 by up to 0.1 (shape (2,))"):
        sample_from_pmf([0.5, 0.6], [1.0, 2.0], 1, np.random.default_rng(0))
    with raises_exactly(
        "component_pmfs is not normalised: sums along axis 1 differ from 1 by up to 0.5 (shape (2, 2))"
    ):
        mixture_pmf([0.5, 0.5], [[1.0, 0.0], [0.25, 0.25]])


def test_pmf_tolerance_is_one_in_a_million():
    rng = np.random.default_rng(0)
    sample_from_pmf([0.5, 0.5 + 9e-7], [1.0, 2.0], 1, rng)  # within 1e-6: accepted
    with pytest.raises(ValueError, match=r"differ from 1 by up to 1\.1e-06"):
        sample_from_pmf([0.5, 0.5 + 1.1e-6], [1.0, 2.0], 1, rng)


def test_pmf_zero_entries_are_valid():
    assert sample_from_pmf([0.0, 1.0], [1.0, 2.0], 2, np.random.default_rng(0)).tolist() == [2.0, 2.0]


# ------------------------------------------------------------------------------------------------- supports
def test_support_must_strictly_increase():
    with raises_exactly("support must be strictly increasing (shape (3,))"):
        pmf_from_samples([1.0], [1.0, 2.0, 2.0])
    with raises_exactly("support is empty (shape (0,)); at least one sample is needed"):
        pmf_from_samples([1.0], [])
    assert pmf_from_samples([7.0], [7.0]).tolist() == [1.0]  # a one-point support is increasing


# ------------------------------------------------------------------------------------------------- integers
@pytest.mark.parametrize("bad", [0, -3, True, False, 1.0, 2.5, "2", None])
def test_positive_int_rejects(bad):
    with raises_exactly(f"n must be a positive integer, got {bad!r}"):
        sample_from_pmf([1.0], [1.0], bad, np.random.default_rng(0))


@pytest.mark.parametrize("good", [1, 3, np.int64(2), np.int32(1)])
def test_positive_int_accepts_ints_and_numpy_ints(good):
    out = sample_from_pmf([1.0], [4.0], good, np.random.default_rng(0))
    assert out.tolist() == [4.0] * int(good)
