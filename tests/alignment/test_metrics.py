import numpy as np
import pytest
from numpy.testing import assert_allclose

from alignment import (
    average_marginal_wasserstein,
    correlation_mae,
    frechet_distance,
    mmd_rbf,
    score_table,
    sliced_wasserstein,
    wasserstein_1d,
    wasserstein_per_dimension,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(300, 3))
Y = RNG.normal(size=(250, 3)) + [0.5, 0.0, -1.0]


def test_w1_point_masses_and_weights():
    assert wasserstein_1d([0.0], [3.0]) == 3.0
    # mass 0.25 at 0 and 0.75 at 1, vs all at 0: distance 0.75
    assert_allclose(wasserstein_1d([0.0, 1.0], [0.0], u_weights=[1.0, 3.0]), 0.75)
    assert_allclose(wasserstein_1d(X[:, 0], Y[:, 0]), wasserstein_1d(Y[:, 0], X[:, 0]))


@pytest.mark.parametrize(
    "metric",
    [wasserstein_per_dimension, average_marginal_wasserstein, frechet_distance, correlation_mae],
)
def test_exact_metrics_vanish_on_identical_samples(metric):
    assert_allclose(metric(X, X), 0.0, atol=1e-10)


def test_sampled_metrics_vanish_on_identical_samples():
    assert_allclose(sliced_wasserstein(X, X), 0.0, atol=1e-10)
    assert abs(mmd_rbf(X, X)) < 1e-2


def test_symmetry():
    for metric in (average_marginal_wasserstein, frechet_distance, correlation_mae):
        assert_allclose(metric(X, Y), metric(Y, X))
    assert_allclose(sliced_wasserstein(X, Y), sliced_wasserstein(Y, X))
    assert_allclose(mmd_rbf(X, Y, bandwidth=1.0), mmd_rbf(Y, X, bandwidth=1.0))


def test_amw_is_mean_of_per_dimension_w1():
    per = wasserstein_per_dimension(X, Y)
    assert per.shape == (3,)
    assert_allclose(per[0], wasserstein_1d(X[:, 0], Y[:, 0]))
    assert_allclose(average_marginal_wasserstein(X, Y), per.mean())


def test_weights_are_honoured():
    x = np.array([[0.0], [10.0]])
    assert_allclose(average_marginal_wasserstein(x, [[0.0]], x_weights=[1.0, 0.0]), 0.0)
    assert_allclose(sliced_wasserstein(x, [[10.0]], x_weights=[0.0, 1.0]), 0.0, atol=1e-12)


def test_frechet_closed_form_two_gaussians():
    # N(mu1, s1^2 I) vs N(mu2, s2^2 I): |mu1 - mu2|^2 + D (s1 - s2)^2, computed on exact moments
    z = np.random.default_rng(1).normal(size=(4000, 2))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    a, b = z * 1.0, z * 3.0 + [1.0, 2.0]
    assert_allclose(frechet_distance(a, b), 5.0 + 2 * 4.0, rtol=1e-8)


def test_frechet_handles_singular_covariance():
    a = np.column_stack([np.arange(10.0), np.arange(10.0)])  # rank-1 covariance
    assert frechet_distance(a, a + 1.0) == pytest.approx(2.0)


def test_sliced_wasserstein_shift_and_seed():
    assert_allclose(sliced_wasserstein(X[:, :1], X[:, :1] + 2.0), 2.0)
    delta = np.array([3.0, 0.0, 4.0])
    sw = sliced_wasserstein(X, X + delta, n_projections=2000)
    assert sw == pytest.approx(np.linalg.norm(delta) / np.sqrt(3), rel=0.05)
    assert sliced_wasserstein(X, Y, seed=3) == sliced_wasserstein(X, Y, seed=3)


def test_mmd_detects_shift_and_is_deterministic():
    assert mmd_rbf(X, Y) > 0.05
    assert mmd_rbf(X, Y, seed=4) == mmd_rbf(X, Y, seed=4)
    with pytest.raises(ValueError, match="bandwidth"):
        mmd_rbf(X, Y, bandwidth=-1.0)


def test_mmd_blockwise_matches_dense_formula():
    x, y = X[:40], Y[:30]
    gamma = 1 / (2 * 1.5**2)

    def k(a, b):
        return np.exp(-gamma * ((a[:, None] - b[None]) ** 2).sum(-1))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    expected = (kxx.sum() - 40) / (40 * 39) + (kyy.sum() - 30) / (30 * 29) - 2 * kxy.mean()
    assert_allclose(mmd_rbf(x, y, bandwidth=1.5), expected, rtol=1e-10)


def test_correlation_mae_known_value_and_constant_column():
    x = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    assert correlation_mae(x, x * [1.0, -1.0]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="D >= 2"):
        correlation_mae(X[:, :1], Y[:, :1])
    with pytest.warns(RuntimeWarning, match="constant column"):
        assert np.isnan(correlation_mae(np.column_stack([np.ones(3), [1.0, 2, 3]]), x))


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros((0, 2)), np.zeros((3, 2)), "x is empty"),
        (np.zeros((3, 2)), np.zeros((3, 3)), r"same number of columns.*\(3, 2\).*\(3, 3\)"),
        (np.full((3, 2), np.nan), np.zeros((3, 2)), "x contains NaN"),
        (np.zeros(3), np.zeros((3, 1)), r"x must be 2-D.*\(3,\)"),
    ],
)
def test_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        average_marginal_wasserstein(x, y)


def test_bad_weights():
    with pytest.raises(ValueError, match="x_weights contains negative"):
        average_marginal_wasserstein(X, Y, x_weights=-np.ones(300))
    with pytest.raises(ValueError, match=r"y_weights must have shape \(250,\)"):
        sliced_wasserstein(X, Y, y_weights=np.ones(3))
    with pytest.raises(ValueError, match="u_weights sums to zero"):
        wasserstein_1d([1.0], [2.0], u_weights=[0.0])


def test_score_table_records():
    rows = score_table(X, Y, dimension_names=["a", "b", "c"])
    w1 = [r for r in rows if r["metric"] == "w1"]
    assert [r["dimension"] for r in w1] == ["a", "b", "c"]
    assert [r["metric"] for r in rows[3:]] == ["amw", "frechet", "sliced_w", "mmd", "corr_mae"]
    by = {r["metric"]: r["value"] for r in rows if r["dimension"] is None}
    assert_allclose(by["amw"], average_marginal_wasserstein(X, Y))
    assert_allclose(by["frechet"], frechet_distance(X, Y))
    assert all(isinstance(r["value"], float) for r in rows)
    weighted = score_table(X, Y, metrics=("amw",), simulated_weights=np.ones(300))
    assert_allclose(weighted[-1]["value"], by["amw"])
    with pytest.raises(ValueError, match="unknown names"):
        score_table(X, Y, metrics=("nope",))
    with pytest.raises(ValueError, match="dimension_names has 2 entries"):
        score_table(X, Y, dimension_names=["a", "b"])
