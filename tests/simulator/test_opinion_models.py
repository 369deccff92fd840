"""Classical opinion dynamics: DeGroot's closed-form consensus, Friedkin–Johnsen's fixed point, bounded confidence
clusters, and parameters recovered by the fits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from simulator.errors import SimulationError
from simulator.influence_graph import society_graph, view_matrix
from simulator.opinion_models import OpinionModel, OpinionSociety, fit_opinion_model, simulate_opinions


@pytest.mark.parametrize("network", ["watts_strogatz:k=4,p=0.2", "star", "random_regular:d=3"])
def test_degroot_reaches_the_closed_form_consensus(network):
    # W = (1 - α) I + α D⁻¹(A + I) is row-stochastic with stationary π ∝ deg + 1 (it is reversible), so on a
    # connected graph y_t → Σ π_i y_i(0) (DeGroot 1974, Theorem 1)
    g = society_graph(network, n_groups=1, group_size=30, seed=2)
    rng = np.random.default_rng(0)
    x1 = np.exp(rng.normal(5, 2, size=30))
    est, _ = simulate_opinions(OpinionModel(kind="degroot", alpha=0.5), x1, g, "mean", 3000)
    pi = (g.degrees() + 1.0) / (g.degrees() + 1.0).sum()
    expected = np.exp(pi @ np.log(x1))
    np.testing.assert_allclose(est[:, -1], expected, rtol=1e-8)
    assert np.ptp(np.log(est[:, -1])) < 1e-8


def test_the_view_matrix_is_row_stochastic_and_the_wrong_neighbours_would_change_it():
    g = society_graph("watts_strogatz:k=2,p=0.5", n_groups=2, group_size=7, seed=3)
    for rule in ("mean", "neighbours"):
        w = view_matrix(g, rule)
        np.testing.assert_allclose(np.asarray(w.sum(axis=1)).ravel(), 1.0)
        for i in range(g.n):
            assert set(sparse.find(w[i])[1]) == set(g.view(i, rule))


def test_friedkin_johnsen_converges_to_its_fixed_point():
    g = society_graph("complete", n_groups=1, group_size=10, seed=0)
    x1 = np.exp(np.linspace(1, 8, 10))
    m = OpinionModel(kind="friedkin_johnsen", alpha=0.4, stubbornness=0.3)
    est, _ = simulate_opinions(m, x1, g, "mean", 500)
    y0, w = np.log(x1), view_matrix(g, "mean").toarray()
    a = (1 - m.stubbornness) * ((1 - m.alpha) * np.eye(10) + m.alpha * w)
    fixed = np.linalg.solve(np.eye(10) - a, m.stubbornness * y0)
    np.testing.assert_allclose(np.log(est[:, -1]), fixed, atol=1e-8)
    assert np.ptp(fixed) > 0.5  # stubborn agents keep disagreeing


def test_bounded_confidence_splits_into_clusters_and_inf_is_degroot():
    g = society_graph("complete", n_groups=1, group_size=8, seed=0)
    x1 = np.exp(np.r_[np.full(4, 2.0) + np.arange(4) * 0.1, np.full(4, 8.0) + np.arange(4) * 0.1])
    est, _ = simulate_opinions(OpinionModel(kind="bounded_confidence", alpha=1.0, epsilon=1.0), x1, g, "mean", 50)
    y = np.log(est[:, -1])
    assert np.ptp(y[:4]) < 1e-9 and np.ptp(y[4:]) < 1e-9 and y[4] - y[0] > 5
    a, _ = simulate_opinions(OpinionModel(kind="bounded_confidence", alpha=0.5), x1, g, "mean", 5)
    b, _ = simulate_opinions(OpinionModel(kind="degroot", alpha=0.5), x1, g, "mean", 5)
    np.testing.assert_allclose(a, b)


def test_rule_none_freezes_estimates():
    g = society_graph("complete", n_groups=2, group_size=5, seed=0)
    x1 = np.arange(1.0, 11.0) * 10
    est, _ = simulate_opinions(OpinionModel(kind="degroot", alpha=0.9), x1, g, "none", 4)
    np.testing.assert_allclose(est, np.repeat(x1[:, None], 4, axis=1), rtol=1e-12)


@pytest.mark.parametrize(("kind", "truth"), [("degroot", {"alpha": 0.35}),
                                             ("friedkin_johnsen", {"alpha": 0.5, "stubbornness": 0.2}),
                                             ("bounded_confidence", {"alpha": 0.6, "epsilon": 1.5})])  # fmt: skip
def test_fits_recover_known_parameters(kind, truth):
    g = society_graph("complete", n_groups=60, group_size=12, seed=0)
    rng = np.random.default_rng(1)
    x1 = np.exp(rng.normal(5, 1.5, size=g.n))
    est, _ = simulate_opinions(OpinionModel(kind=kind, **truth), x1, g, "mean", 5)
    noisy = est * np.exp(rng.normal(0, 0.01, size=est.shape))
    noisy[:, 0] = est[:, 0]
    fitted = fit_opinion_model(kind, noisy.reshape(60, 12, 5))
    for k, v in truth.items():
        assert fitted.params()[k] == pytest.approx(v, rel=0.1), fitted.params()


def test_bad_parameters_are_one_line():
    with pytest.raises(SimulationError, match="unknown opinion model 'voter'"):
        OpinionModel(kind="voter", alpha=0.1)
    with pytest.raises(SimulationError, match="need 0 <= alpha <= 1"):
        OpinionModel(kind="degroot", alpha=1.5)


def test_the_mesa_model_steps_one_round_at_a_time_and_groups_its_output():
    g = society_graph("complete", n_groups=3, group_size=4, seed=0)
    x1 = np.arange(1.0, 13.0) * 7
    soc = OpinionSociety(model=OpinionModel(kind="degroot", alpha=0.2), x1=x1, graph=g, rule="mean", rounds=3)
    assert soc.running and np.isnan(soc.estimates[:, 1]).all()
    soc.step()
    y = np.log(x1)
    expect = y + 0.2 * (view_matrix(g, "mean") @ y - y)
    np.testing.assert_allclose(np.log(soc.estimates[:, 1]), expect)
    soc.step()
    assert not soc.running
    est, ref = soc.grouped()
    assert est.shape == ref.shape == (3, 4, 3) and np.isfinite(est).all()
