import warnings

import numpy as np
import pytest
import scipy.stats
from numpy.testing import assert_allclose

from alignment import MixtureFit, fit_mixture_weights, fit_mixture_weights_multi, mixture_pmf

SUPPORT = np.arange(11.0)


def random_case(seed, k=6, s=11):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(s, 0.5), size=k), rng.dirichlet(np.full(s, 0.5))


def w1(p, q):
    return scipy.stats.wasserstein_distance(SUPPORT, SUPPORT, p, q)


@pytest.mark.parametrize("method", ["lp", "slsqp"])
def test_weights_on_simplex_and_loss_is_w1(method):
    comps, target = random_case(0)
    fit = fit_mixture_weights(comps, SUPPORT, target, method=method, rng=1)
    assert isinstance(fit, MixtureFit)
    assert fit.method == method
    assert np.all(fit.weights >= 0)
    assert_allclose(fit.weights.sum(), 1.0)
    assert_allclose(fit.loss, w1(mixture_pmf(fit.weights, comps), target), atol=1e-12)


def test_lp_loss_never_above_slsqp():
    for seed in range(8):
        comps, target = random_case(seed)
        lp = fit_mixture_weights(comps, SUPPORT, target, method="lp")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sq = fit_mixture_weights(comps, SUPPORT, target, method="slsqp", n_restarts=3, rng=seed)
        assert lp.loss <= sq.loss + 1e-9
        assert lp.converged


@pytest.mark.parametrize("method", ["lp", "slsqp"])
def test_target_equal_to_a_component(method):
    comps, _ = random_case(3)
    fit = fit_mixture_weights(comps, SUPPORT, comps[2], method=method, rng=0)
    assert fit.loss < 1e-4
    assert fit.weights[2] > 0.99 if method == "lp" else fit.weights[2] > 0.9


def test_known_mixture_is_recovered():
    comps = np.zeros((3, 11))
    comps[0, :3] = 1 / 3
    comps[1, 4:7] = 1 / 3
    comps[2, 8:] = 1 / 3
    true_w = np.array([0.2, 0.5, 0.3])
    fit = fit_mixture_weights(comps, SUPPORT, true_w @ comps)
    assert_allclose(fit.loss, 0.0, atol=1e-9)
    assert_allclose(fit.weights, true_w, atol=1e-7)


def test_slsqp_is_deterministic_given_seed():
    comps, target = random_case(4)
    a = fit_mixture_weights(comps, SUPPORT, target, method="slsqp", rng=np.random.default_rng(7))
    b = fit_mixture_weights(comps, SUPPORT, target, method="slsqp", rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.weights, b.weights)


def test_multi_dimensional_shared_weights():
    rng = np.random.default_rng(5)
    comps = rng.dirichlet(np.ones(11), size=(4, 3))  # (K, D, S)
    true_w = np.array([0.1, 0.0, 0.6, 0.3])
    targets = np.einsum("k,kds->ds", true_w, comps)
    fit = fit_mixture_weights_multi(comps, SUPPORT, targets)
    assert_allclose(fit.loss, 0.0, atol=1e-9)
    assert_allclose(fit.weights, true_w, atol=1e-6)
    # loss is the mean W1 over items
    other = rng.dirichlet(np.ones(11), size=3)
    fit2 = fit_mixture_weights_multi(comps, SUPPORT, other)
    mixes = np.einsum("k,kds->ds", fit2.weights, comps)
    assert_allclose(fit2.loss, np.mean([w1(mixes[d], other[d]) for d in range(3)]), atol=1e-12)
    sq = fit_mixture_weights_multi(comps, SUPPORT, other, method="slsqp", n_restarts=2)
    assert fit2.loss <= sq.loss + 1e-9


def test_bad_input():
    comps, target = random_case(0)
    with pytest.raises(ValueError, match=r"disagree in S.*\(6, 11\), \(11,\) and \(5,\)"):
        fit_mixture_weights(comps, SUPPORT[:5], target)
    with pytest.raises(ValueError, match=r"shapes \(K, D, S\), \(D, S\).*\(2, 11\)"):
        fit_mixture_weights_multi(comps[:, None, :], SUPPORT, np.tile(target, (2, 1)))
    with pytest.raises(ValueError, match="target_pmf is not normalised"):
        fit_mixture_weights(comps, SUPPORT, target * 2)
    with pytest.raises(ValueError, match="component_pmfs contains negative"):
        fit_mixture_weights(comps - 0.5, SUPPORT, target)
    with pytest.raises(ValueError, match="target_pmf contains NaN"):
        fit_mixture_weights(comps, SUPPORT, np.full(11, np.nan))
    with pytest.raises(ValueError, match="method must be"):
        fit_mixture_weights(comps, SUPPORT, target, method="em")
    with pytest.raises(ValueError, match=r"component_pmfs must have shape \(K, S\)"):
        fit_mixture_weights(comps[0], SUPPORT, target)


def test_result_is_frozen():
    comps, target = random_case(0)
    fit = fit_mixture_weights(comps, SUPPORT, target)
    with pytest.raises(AttributeError):
        fit.loss = 0.0
