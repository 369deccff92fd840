"""Property-based tests (hypothesis) of the metrics' invariants and the OT plan's marginals.

Metric axioms are asserted where they hold: W1 (1-D and per-dimension average), sliced W2 with *fixed* projections
(an L2 mean of 1-D W2 distances over the same directions, so a pseudo-metric), the square root of the biased MMD²
with a fixed bandwidth (a distance between kernel mean embeddings), and total variation. The unbiased MMD² and the
Fréchet distance are not metrics on samples; only their symmetry and zero on identical inputs are asserted.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from alignment import (
    average_marginal_wasserstein,
    frechet_distance,
    mmd_rbf,
    sliced_wasserstein,
    total_variation,
    transport_weights,
    wasserstein_1d,
)

SETTINGS = settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
ATOL = 1e-9

values = st.floats(min_value=-50, max_value=50, allow_nan=False, allow_infinity=False, width=64)


def samples_1d(min_size: int = 1, max_size: int = 30):
    return arrays(np.float64, st.integers(min_size, max_size), elements=values)


def samples_2d(d: int, min_rows: int = 2, max_rows: int = 12):
    return arrays(np.float64, st.tuples(st.integers(min_rows, max_rows), st.just(d)), elements=values)


@st.composite
def pmfs(draw, size: int):
    w = draw(arrays(np.float64, size, elements=st.floats(0, 10, allow_nan=False)))
    if w.sum() <= 0:
        w = np.ones(size)
    return w / w.sum()


# ------------------------------------------------------------------------------------------------- W1 (1-D)
@SETTINGS
@given(samples_1d(), samples_1d(), samples_1d())
def test_w1_is_a_metric(x, y, z):
    dxy, dyx = wasserstein_1d(x, y), wasserstein_1d(y, x)
    assert dxy >= 0 and dxy == pytest.approx(dyx, abs=ATOL)
    assert wasserstein_1d(x, x) == 0.0
    assert dxy <= wasserstein_1d(x, z) + wasserstein_1d(z, y) + 1e-7


@SETTINGS
@given(samples_1d(), st.floats(-20, 20, allow_nan=False))
def test_w1_of_a_shift_is_the_shift(x, delta):
    assert wasserstein_1d(x, x + delta) == pytest.approx(abs(delta), abs=1e-7)


# ------------------------------------------------------------------------------------------------- AMW
@SETTINGS
@given(samples_2d(3), samples_2d(3), samples_2d(3))
def test_amw_is_a_metric(x, y, z):
    dxy = average_marginal_wasserstein(x, y)
    assert dxy >= 0 and dxy == pytest.approx(average_marginal_wasserstein(y, x), abs=ATOL)
    assert average_marginal_wasserstein(x, x) == 0.0
    assert dxy <= average_marginal_wasserstein(x, z) + average_marginal_wasserstein(z, y) + 1e-7


# ------------------------------------------------------------------------------------------------- sliced W2
@SETTINGS
@given(samples_2d(2), samples_2d(2), samples_2d(2))
def test_sliced_wasserstein_with_fixed_projections_is_a_metric(x, y, z):
    def sw(a, b):
        return sliced_wasserstein(a, b, n_projections=16, seed=3)

    dxy = sw(x, y)
    assert dxy >= 0 and dxy == pytest.approx(sw(y, x), abs=1e-7)
    assert sw(x, x) == pytest.approx(0.0, abs=1e-7)
    assert dxy <= sw(x, z) + sw(z, y) + 1e-6


# ------------------------------------------------------------------------------------------------- MMD
@SETTINGS
@given(samples_2d(2), samples_2d(2), samples_2d(2))
def test_biased_mmd_root_with_a_fixed_bandwidth_is_a_metric(x, y, z):
    def d(a, b):
        return np.sqrt(mmd_rbf(a, b, bandwidth=5.0, unbiased=False))

    dxy = d(x, y)
    assert dxy >= 0 and dxy == pytest.approx(d(y, x), abs=1e-7)
    assert d(x, x) == pytest.approx(0.0, abs=1e-6)
    assert dxy <= d(x, z) + d(z, y) + 1e-6


@SETTINGS
@given(samples_2d(2), samples_2d(2))
def test_unbiased_mmd_is_symmetric(x, y):
    assert mmd_rbf(x, y, bandwidth=5.0) == pytest.approx(mmd_rbf(y, x, bandwidth=5.0), abs=1e-9)


# ------------------------------------------------------------------------------------------------- Fréchet
@SETTINGS
@given(samples_2d(2, min_rows=4), samples_2d(2, min_rows=4))
def test_frechet_is_symmetric_and_zero_on_itself(x, y):
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-5, abs=1e-5)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-5)
    assert frechet_distance(x, y) >= -1e-6


# ------------------------------------------------------------------------------------------------- TV
@SETTINGS
@given(pmfs(6), pmfs(6), pmfs(6))
def test_total_variation_is_a_bounded_metric(p, q, r):
    d = total_variation(p, q)
    assert 0.0 <= d <= 1.0 + 1e-12 and d == pytest.approx(total_variation(q, p), abs=ATOL)
    assert total_variation(p, p) == 0.0
    assert d <= total_variation(p, r) + total_variation(r, q) + 1e-12


def test_total_variation_values_and_errors():
    assert total_variation([1.0, 0.0], [0.0, 1.0]) == 1.0
    assert total_variation([0.25, 0.75], [0.5, 0.5]) == pytest.approx(0.25, abs=1e-15)
    with pytest.raises(ValueError, match=r"q must have shape \(2,\)"):
        total_variation([0.5, 0.5], [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="p is not normalised"):
        total_variation([0.5, 0.6], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"p and q must have shape \(S,\)"):
        total_variation([[0.5, 0.5]], [[0.5, 0.5]])


def test_biased_mmd_is_the_embedding_distance():
    x, y = np.array([[0.0], [1.0]]), np.array([[10.0], [11.0]])
    k = np.exp(-1 / 2)  # bandwidth 1, points one apart
    expected_xx = (2 + 2 * k) / 4
    assert mmd_rbf(x, y, bandwidth=1.0, unbiased=False) == pytest.approx(2 * expected_xx, rel=1e-6)
    assert mmd_rbf(x, x, bandwidth=1.0, unbiased=False) == 0.0


# ------------------------------------------------------------------------------------------------- OT marginals
@settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(samples_2d(2, min_rows=3, max_rows=10), samples_2d(2, min_rows=3, max_rows=10))
def test_transport_plan_marginals(x, y):
    x = x / 10.0
    y = y / 10.0 + 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # slow convergence on a degenerate draw: checked below
        bal = transport_weights(x, y, formulation="balanced", reg=0.5, max_iter=1000, tol=1e-9)
        semi = transport_weights(x, y, reg=0.5, reg_m=0.5, max_iter=1000, tol=1e-9)
    n, m = x.shape[0], y.shape[0]
    # Sinkhorn ends on a row scaling: rows exact; columns within the stopping error (tight once converged).
    col_tol = 1e-6 if bal.converged else 1e-3
    np.testing.assert_allclose(bal.plan.sum(axis=1), np.full(n, 1 / n), rtol=1e-9)
    np.testing.assert_allclose(bal.plan.sum(axis=0), np.full(m, 1 / m), rtol=col_tol)
    np.testing.assert_allclose(semi.plan.sum(axis=0), np.full(m, 1 / m), rtol=1e-3)  # the tight (human) side
    for res in (bal, semi):
        assert (res.plan >= 0).all() and res.weights.sum() == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(res.weights, res.plan.sum(axis=1) / res.plan.sum(), atol=1e-12)
