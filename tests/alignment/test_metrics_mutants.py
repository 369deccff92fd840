"""Exact values, defaults, boundaries and messages of :mod:`alignment.metrics` (mutation-testing targets).

Reference values come from scipy and numpy directly (``scipy.stats.wasserstein_distance``, dense kernel matrices,
``np.corrcoef``, ``ot.sliced_wasserstein_distance`` with explicit uniform weights) or by hand.
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import ot
import pytest
import scipy.spatial.distance
import scipy.stats
from numpy.testing import assert_allclose

from alignment import (
    average_marginal_wasserstein,
    correlation_mae,
    frechet_distance,
    mmd_rbf,
    score_table,
    sliced_wasserstein,
    total_variation,
    wasserstein_1d,
    wasserstein_per_dimension,
)

RNG = np.random.default_rng(12)
X = RNG.normal(size=(30, 3))
Y = RNG.normal(0.4, 1.2, size=(25, 3))
XW = RNG.random(30) + 0.1
YW = RNG.random(25) + 0.1

# mutmut's trampolines add stack frames, so under mutation testing a warning points into them, not at the caller
UNDER_MUTMUT = "MUTANT_UNDER_TEST" in os.environ


def raises_exactly(message):
    return pytest.raises(ValueError, match=f"^{re.escape(message)}$")


def dense_mmd(x, y, sigma, unbiased=True):
    gamma = 1.0 / (2.0 * sigma**2)

    def k(a, b):
        return np.exp(-gamma * ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    n, m = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    if unbiased:
        return (kxx.sum() - n) / (n * (n - 1)) + (kyy.sum() - m) / (m * (m - 1)) - 2 * kxy.mean()
    return kxx.mean() + kyy.mean() - 2 * kxy.mean()


# ------------------------------------------------------------------------------------------------- W1
def test_w1_passes_both_weights_through():
    expected = scipy.stats.wasserstein_distance(X[:, 0], Y[:, 0], XW, YW)
    assert wasserstein_1d(X[:, 0], Y[:, 0], XW, YW) == pytest.approx(expected, rel=1e-12)
    assert type(wasserstein_1d([0.0], [1.0])) is float


def test_per_dimension_w1_uses_both_weights():
    got = wasserstein_per_dimension(X, Y, XW, YW)
    expected = [scipy.stats.wasserstein_distance(X[:, d], Y[:, d], XW, YW) for d in range(3)]
    assert_allclose(got, expected, rtol=1e-12)
    with raises_exactly("y_weights must have shape (25,) to match the samples, got shape (30,)"):
        wasserstein_per_dimension(X, Y, XW, XW)


def test_amw_passes_weights_and_is_a_float():
    got = average_marginal_wasserstein(X, Y, XW, YW)
    assert type(got) is float
    assert got == pytest.approx(np.mean(wasserstein_per_dimension(X, Y, XW, YW)), rel=1e-12)
    assert got != pytest.approx(average_marginal_wasserstein(X, Y), rel=1e-6)


# ------------------------------------------------------------------------------------------------- Fréchet
def test_frechet_matches_the_closed_form():
    mu = X.mean(0) - Y.mean(0)
    sx, sy = np.cov(X, rowvar=False), np.cov(Y, rowvar=False)
    vals, vecs = np.linalg.eigh(sx)
    root = vecs @ np.diag(np.sqrt(vals)) @ vecs.T
    cross = np.sqrt(np.linalg.eigvalsh(root @ sy @ root)).sum()
    expected = mu @ mu + np.trace(sx) + np.trace(sy) - 2 * cross
    got = frechet_distance(X, Y)
    assert type(got) is float
    assert got == pytest.approx(expected, rel=1e-10)


def test_frechet_one_dimension_and_asymmetric_covariances():
    # 1-D: (mu_x - mu_y)^2 + (sd_x - sd_y)^2 with sample (ddof 1) variances
    x, y = np.array([[0.0], [2.0], [4.0]]), np.array([[1.0], [2.0]])
    sdx, sdy = np.std(x, ddof=1), np.std(y, ddof=1)
    assert frechet_distance(x, y) == pytest.approx((2.0 - 1.5) ** 2 + (sdx - sdy) ** 2, rel=1e-12)


def test_frechet_needs_two_rows_and_is_never_negative():
    with raises_exactly("x is empty or too small: shape (1, 2), need at least 2 row(s)"):
        frechet_distance(np.zeros((1, 2)), np.zeros((3, 2)))
    a = np.column_stack([np.arange(6.0), np.arange(6.0) * 2.0])  # singular covariance
    assert frechet_distance(a, a) == 0.0


# ------------------------------------------------------------------------------------------------- sliced W
def test_sliced_wasserstein_matches_pot_with_uniform_weights_and_defaults():
    expected = ot.sliced_wasserstein_distance(
        X, Y, np.full(30, 1 / 30), np.full(25, 1 / 25), n_projections=200, p=2, seed=0
    )
    got = sliced_wasserstein(X, Y)
    assert type(got) is float
    assert got == pytest.approx(float(expected), rel=1e-12)


def test_sliced_wasserstein_passes_weights_projections_and_seed():
    expected = ot.sliced_wasserstein_distance(X, Y, XW / XW.sum(), YW / YW.sum(), n_projections=17, p=2, seed=5)
    got = sliced_wasserstein(X, Y, n_projections=17, seed=5, x_weights=XW, y_weights=YW)
    assert got == pytest.approx(float(expected), rel=1e-12)
    with raises_exactly("n_projections must be a positive integer, got 0"):
        sliced_wasserstein(X, Y, n_projections=0)
    with raises_exactly("x_weights must have shape (30,) to match the samples, got shape (25,)"):
        sliced_wasserstein(X, Y, x_weights=YW)


# ------------------------------------------------------------------------------------------------- MMD
@pytest.mark.parametrize("unbiased", [True, False])
def test_mmd_matches_the_dense_formula(unbiased):
    got = mmd_rbf(X, Y, bandwidth=0.9, unbiased=unbiased)
    assert type(got) is float
    assert got == pytest.approx(dense_mmd(X, Y, 0.9, unbiased), rel=1e-10)


def test_mmd_blocks_of_1024_rows_add_up():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(1100, 1)), rng.normal(0.5, 1.0, size=(40, 1))
    assert mmd_rbf(x, y, bandwidth=1.0) == pytest.approx(dense_mmd(x, y, 1.0), rel=1e-9)
    assert mmd_rbf(y, x, bandwidth=1.0, unbiased=False) == pytest.approx(dense_mmd(y, x, 1.0, False), rel=1e-9)


def test_mmd_median_heuristic_on_all_points():
    pooled = np.concatenate([X, Y])
    sigma = float(np.median(scipy.spatial.distance.pdist(pooled)))
    assert mmd_rbf(X, Y) == pytest.approx(dense_mmd(X, Y, sigma), rel=1e-10)


def test_mmd_median_heuristic_on_1000_seeded_points():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(700, 1)), rng.normal(1.0, 1.0, size=(400, 1))
    pooled = np.concatenate([x, y])
    sub = pooled[np.random.default_rng(6).choice(1100, 1000, replace=False)]
    sigma = float(np.median(scipy.spatial.distance.pdist(sub)))
    assert mmd_rbf(x, y, seed=6) == pytest.approx(mmd_rbf(x, y, bandwidth=sigma), rel=1e-12)
    assert mmd_rbf(x, y, seed=6) != mmd_rbf(x, y, seed=7)


def test_mmd_median_heuristic_ignores_zero_distances_and_defaults_to_one():
    x = np.array([[0.0], [0.0], [0.0], [3.0]])
    y = np.array([[0.0], [0.0]])
    # positive pairwise distances of the pooled sample: 3 (four times) -> sigma = 3, not the median 0
    assert mmd_rbf(x, y) == pytest.approx(dense_mmd(x, y, 3.0), rel=1e-12)
    same = np.zeros((3, 1))
    assert mmd_rbf(same, same + 0.0) == pytest.approx(dense_mmd(same, same, 1.0), abs=1e-15)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_mmd_bandwidth_message(bad):
    with raises_exactly(f"bandwidth must be a positive finite float, got {bad!r}"):
        mmd_rbf(X, Y, bandwidth=bad)


def test_biased_mmd_is_clipped_at_zero_and_unbiased_is_not():
    x = np.array([[0.0], [1.0]])
    assert mmd_rbf(x, x, bandwidth=1.0, unbiased=False) == 0.0
    assert mmd_rbf(x, x, bandwidth=1.0) == pytest.approx(dense_mmd(x, x, 1.0), rel=1e-12)
    assert mmd_rbf(x, x, bandwidth=1.0) < 0
    with raises_exactly("y is empty or too small: shape (1, 1), need at least 2 row(s)"):
        mmd_rbf(x, [[0.0]])


# ------------------------------------------------------------------------------------------------- TV
def test_total_variation_messages():
    with raises_exactly("q must have shape (2,), got shape (3,)"):
        total_variation([0.5, 0.5], [0.2, 0.3, 0.5])
    with raises_exactly("p and q must have shape (S,), got (2, 2)"):
        total_variation([[0.5, 0.5], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]])
    got = total_variation([0.5, 0.25, 0.25], [0.25, 0.25, 0.5])
    assert type(got) is float and got == 0.25


# ------------------------------------------------------------------------------------------------- MAE-corr
def test_correlation_mae_matches_corrcoef():
    iu = np.triu_indices(3, k=1)
    expected = np.mean(np.abs(np.corrcoef(X, rowvar=False)[iu] - np.corrcoef(Y, rowvar=False)[iu]))
    got = correlation_mae(X, Y)
    assert type(got) is float
    assert got == pytest.approx(expected, rel=1e-10)


def test_correlation_mae_honours_weights():
    def wcorr(a, w):
        c = np.cov(a, rowvar=False, aweights=w)
        s = np.sqrt(np.diag(c))
        return (c / np.outer(s, s))[np.triu_indices(3, k=1)]

    expected = np.mean(np.abs(wcorr(X, XW) - wcorr(Y, YW)))
    assert correlation_mae(X, Y, x_weights=XW, y_weights=YW) == pytest.approx(expected, rel=1e-10)


def test_correlation_mae_messages_and_two_rows():
    with raises_exactly("correlation_mae needs D >= 2 columns, got shapes (3, 1) and (3, 1)"):
        correlation_mae(np.zeros((3, 1)), np.zeros((3, 1)))
    with raises_exactly("x is empty or too small: shape (1, 2), need at least 2 row(s)"):
        correlation_mae(np.zeros((1, 2)), np.zeros((3, 2)))
    two = np.array([[0.0, 0.0], [1.0, 1.0]])
    assert correlation_mae(two, two * [1.0, -1.0]) == pytest.approx(2.0)
    with raises_exactly("y_weights must have shape (2,) to match the samples, got shape (3,)"):
        correlation_mae(two, two, y_weights=[1.0, 1.0, 1.0])


def test_constant_column_warns_names_it_and_gives_nan():
    y = np.array([[1.0, 5.0, 0.0], [2.0, 5.0, 1.0], [3.0, 5.0, 0.0]])
    with pytest.warns(RuntimeWarning) as record:
        got = correlation_mae(X[:3], y)
    assert np.isnan(got)
    assert len(record) == 1
    assert str(record[0].message) == (
        "y (shape (3, 3)) has constant column(s) [1]: their correlations are undefined and correlation_mae returns nan"
    )
    assert UNDER_MUTMUT or record[0].filename == __file__  # stacklevel points at the caller


def test_near_constant_threshold_is_relative_to_the_data_scale():
    # sd 1e-9 on data of size 1e4 is below 1e-12 * 1e4 = 1e-8: constant
    big = np.array([[1e4, 0.0], [1e4 + 2e-9, 1.0], [1e4, 2.0]])
    with pytest.warns(RuntimeWarning, match=r"constant column\(s\) \[0\]"):
        correlation_mae(big, X[:3, :2])
    # the same spread on data of size 1 is real variation (threshold 1e-12): no warning
    small = np.array([[0.0, 0.0], [2e-9, 1.0], [0.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(correlation_mae(small, X[:3, :2]))


# ------------------------------------------------------------------------------------------------- score_table
def test_score_table_values_order_and_defaults():
    rows = score_table(X, Y)
    assert [r["dimension"] for r in rows] == ["dim0", "dim1", "dim2", None, None, None, None, None]
    assert [r["metric"] for r in rows] == ["w1"] * 3 + ["amw", "frechet", "sliced_w", "mmd", "corr_mae"]
    values = [r["value"] for r in rows]
    assert_allclose(values[:3], wasserstein_per_dimension(X, Y), rtol=1e-12)
    assert values[3] == pytest.approx(average_marginal_wasserstein(X, Y), rel=1e-12)
    assert values[4] == pytest.approx(frechet_distance(X, Y), rel=1e-12)
    assert values[5] == pytest.approx(sliced_wasserstein(X, Y, seed=0), rel=1e-12)
    assert values[6] == pytest.approx(mmd_rbf(X, Y, seed=0), rel=1e-12)
    assert values[7] == pytest.approx(correlation_mae(X, Y), rel=1e-12)
    assert set(rows[0]) == {"metric", "dimension", "value"}


def test_score_table_weights_and_seed():
    rows = score_table(X, Y, simulated_weights=XW, seed=3, dimension_names=["a", "b", "c"])
    by = {(r["metric"], r["dimension"]): r["value"] for r in rows}
    w = XW / XW.sum()
    assert by[("w1", "b")] == pytest.approx(scipy.stats.wasserstein_distance(X[:, 1], Y[:, 1], w), rel=1e-12)
    assert by[("sliced_w", None)] == pytest.approx(sliced_wasserstein(X, Y, seed=3, x_weights=XW), rel=1e-12)
    assert by[("corr_mae", None)] == pytest.approx(correlation_mae(X, Y, x_weights=XW), rel=1e-12)
    resampled = X[np.random.default_rng(3).choice(30, 30, p=w)]
    assert by[("frechet", None)] == pytest.approx(frechet_distance(resampled, Y), rel=1e-12)
    assert by[("mmd", None)] == pytest.approx(mmd_rbf(resampled, Y, seed=3), rel=1e-12)


def test_score_table_requested_metrics_only_in_order():
    rows = score_table(X, Y, metrics=("mmd", "amw"), seed=2)
    assert [r["metric"] for r in rows[3:]] == ["mmd", "amw"]
    assert rows[3]["value"] == pytest.approx(mmd_rbf(X, Y, seed=2), rel=1e-12)
    assert [r["metric"] for r in score_table(X, Y, metrics=())] == ["w1"] * 3


def test_score_table_messages():
    with raises_exactly(
        "metrics contains unknown names ['w1', 'x']; choose from ('amw', 'frechet', 'sliced_w', 'mmd', 'corr_mae')"
    ):
        score_table(X, Y, metrics=("amw", "w1", "x"))
    with raises_exactly("dimension_names has 4 entries, expected D = 3"):
        score_table(X, Y, dimension_names=["a", "b", "c", "d"])
    with raises_exactly("simulated and human must have the same number of columns, got shapes (30, 3) and (25, 2)"):
        score_table(X, Y[:, :2])
    with raises_exactly("simulated_weights must have shape (30,) to match the samples, got shape (25,)"):
        score_table(X, Y, simulated_weights=YW)
    with raises_exactly("human must be 2-D with shape (n, D), got shape (25,)"):
        score_table(X, Y[:, 0])


def test_inputs_are_named_in_messages():
    with raises_exactly("simulated must be 2-D with shape (n, D), got shape (30,)"):
        score_table(X[:, 0], Y)
    with raises_exactly("x_weights must have shape (30,) to match the samples, got shape (25,)"):
        correlation_mae(X, Y, x_weights=YW)


def test_a_constant_column_of_x_is_named_x():
    x = np.column_stack([X[:3, 0], np.ones(3), X[:3, 1]])
    with pytest.warns(RuntimeWarning, match=r"^x \(shape \(3, 3\)\) has constant column\(s\) \[1\]"):
        correlation_mae(x, X[:3])


def test_two_columns_with_a_constant_one_warn_once():
    y = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert np.isnan(correlation_mae(X[:3, :2], y))
    assert [str(r.message)[:31] for r in record] == ["y (shape (3, 2)) has constant c"]


def test_the_constant_threshold_is_at_least_1e_12():
    # column sd ~1.7e-12 on data of size <= 1: above the threshold 1e-12 * max(1, 1) -> a real (tiny) variation
    tiny = np.array([[0.0, 0.0], [3e-12, 0.5], [0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(correlation_mae(tiny, X[:3, :2]))


def test_score_table_passes_its_seed_to_the_mmd_bandwidth():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(700, 1)), rng.normal(0.5, 1.0, size=(400, 1))
    got = score_table(x, y, metrics=("mmd",), seed=3)[-1]["value"]
    assert got == mmd_rbf(x, y, seed=3)
    assert got != mmd_rbf(x, y, seed=0)
