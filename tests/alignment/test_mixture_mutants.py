"""Mixture-weight fits (alignment.mixture) against independent optima and the documented solver contracts.

Independent references: ``scipy.stats.wasserstein_distance`` for every loss, a grid over the simplex for the LP
optimum (K = 3), hand-solved two-point problems, and spies on ``scipy.optimize.linprog`` / ``minimize`` that record
what the solvers were given and returned (the starts, the per-restart results, the HiGHS tolerances).
Documented contracts checked: SLSQP starts are normalised draws of the seeded generator (``None`` = seed 0), the best
restart is kept, ``n_iter`` sums the restarts, ``tol`` reaches both solvers (HiGHS floored at 1e-10), failures
warn with a message naming the status and the fix, and weights sit on the simplex to rounding.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.stats
from numpy.testing import assert_allclose, assert_array_equal

from alignment import fit_mixture_weights, fit_mixture_weights_multi, mixture_pmf

REAL_LINPROG = scipy.optimize.linprog
REAL_MINIMIZE = scipy.optimize.minimize
# mutmut's trampolines add stack frames between the caller and the solver, so under mutation testing a warning's
# stacklevel cannot point at the caller; the location is only checked on the real code.
UNDER_MUTMUT = "MUTANT_UNDER_TEST" in os.environ


def case(seed: int, k: int, s: int, alpha: float = 0.3):
    """Seeded random problem: component pmfs (k, s), target pmf (s,), support 0..s-1."""
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(s, alpha), size=k), np.arange(float(s)), rng.dirichlet(np.full(s, alpha))


def drawn_case(seed: int):
    """Seeded random problem whose sizes are drawn too: K in [3, 8], S in [3, 7]."""
    rng = np.random.default_rng(seed)
    k, s = int(rng.integers(3, 9)), int(rng.integers(3, 8))
    return rng.dirichlet(np.full(s, 0.3), size=k), np.arange(float(s)), rng.dirichlet(np.full(s, 0.3))


def w1(weights, comps, support, target) -> float:
    return scipy.stats.wasserstein_distance(support, support, mixture_pmf(weights, comps), target)


def on_simplex(weights) -> np.ndarray:
    w = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
    return w / w.sum()


class MinimizeSpy:
    """Wraps ``scipy.optimize.minimize``: records each restart's start and result."""

    def __init__(self, options=None):
        self.starts, self.results, self.calls = [], [], []
        self.options = options  # overrides of the solver options (to build a failure any release reports)

    def __call__(self, fun, x0, *args, **kwargs):
        self.starts.append(np.array(x0, copy=True))
        self.calls.append(dict(kwargs))
        if self.options is not None:
            kwargs = {**kwargs, "options": {**kwargs.get("options", {}), **self.options}}
        res = REAL_MINIMIZE(fun, x0, *args, **kwargs)
        self.results.append(res)
        return res


@pytest.fixture
def minimize_spy(monkeypatch):
    spy = MinimizeSpy()
    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    return spy


def expected_starts(gen: np.random.Generator, k: int, n: int) -> list[np.ndarray]:
    out = []
    for _ in range(n):
        x = gen.random(k)
        out.append(x / x.sum())
    return out


# ------------------------------------------------------------------------------------------------- LP optimality
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lp_matches_a_grid_optimum_for_three_components(seed):
    comps, support, target = case(seed, 3, 6, alpha=1.0)
    fit = fit_mixture_weights(comps, support, target)
    step = 1.0 / 60
    grid = [(a * step, b * step, 1.0 - (a + b) * step) for a in range(61) for b in range(61 - a)]
    losses = np.array([w1(np.clip(g, 0.0, None), comps, support, target) for g in grid])
    # Exact LP optimum: never above any grid point, and within the grid's resolution of the best one
    # (W1 is Lipschitz in w with constant <= (s_S - s_1) * max L1 step of w on the grid = 5 * 2 * step).
    assert fit.loss <= losses.min() + 1e-12
    assert fit.loss >= losses.min() - 10 * step
    assert fit.loss == pytest.approx(w1(fit.weights, comps, support, target), abs=1e-12)
    assert fit.converged is True and fit.method == "lp"
    assert isinstance(fit.n_iter, int) and fit.n_iter >= 1


def test_lp_two_point_support_is_solved_exactly():
    # S = 2: W1 = |F_mix(s_1) - G(s_1)| * (s_2 - s_1) = |w_1 - 0.3| * 4, so w = (0.3, 0.7) and loss 0.
    fit = fit_mixture_weights([[1.0, 0.0], [0.0, 1.0]], [1.0, 5.0], [0.3, 0.7])
    assert_allclose(fit.weights, [0.3, 0.7], atol=1e-9)
    assert fit.loss == pytest.approx(0.0, abs=1e-12)
    # target outside the hull: components (0.6, 0.4) and (0.9, 0.1) for target (0.2, 0.8) -> all weight on the first
    fit = fit_mixture_weights([[0.6, 0.4], [0.9, 0.1]], [1.0, 5.0], [0.2, 0.8])
    assert_allclose(fit.weights, [1.0, 0.0], atol=1e-9)
    assert fit.loss == pytest.approx(0.4 * 4.0, abs=1e-12)


@pytest.mark.parametrize("fit_fn", ["single", "multi"])
def test_single_point_support_gives_uniform_weights_and_zero_loss(fit_fn):
    # With S = 1 every mixture equals the target: the fit is the uniform weight vector, no solver call.
    if fit_fn == "single":
        fit = fit_mixture_weights([[1.0], [1.0], [1.0], [1.0]], [4.0], [1.0])
    else:
        fit = fit_mixture_weights_multi(np.ones((4, 2, 1)), [4.0], np.ones((2, 1)))
    assert_array_equal(fit.weights, np.full(4, 0.25))
    assert fit.loss == 0.0 and fit.n_iter == 0 and fit.converged is True and fit.method == "lp"


def test_weights_sum_to_one_to_rounding():
    # The solvers' raw x sums to 1 only up to ~1e-13; the returned weights are renormalised onto the simplex.
    for seed in range(10):
        rng = np.random.default_rng(seed)
        comps, target, support = (
            rng.dirichlet(np.full(11, 0.5), size=6),
            rng.dirichlet(np.full(11, 0.5)),
            np.arange(11.0),
        )
        for method in ("lp", "slsqp"):
            fit = fit_mixture_weights(comps, support, target, method=method, n_restarts=2, rng=seed)
            assert np.all(fit.weights >= 0.0)
            assert abs(fit.weights.sum() - 1.0) <= 1e-15, (seed, method, fit.weights.sum() - 1.0)


# ------------------------------------------------------------------------------------------------- HiGHS options
def test_lp_passes_tol_to_highs_floored_and_warns_about_nothing(monkeypatch):
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs["options"])
        return REAL_LINPROG(*args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "linprog", spy)
    comps, support, target = case(3, 5, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # unknown or out-of-range HiGHS options would warn
        for tol in (1e-4, 1e-12):
            fit = fit_mixture_weights(comps, support, target, tol=tol)
            assert fit.converged is True
    assert seen == [
        {"primal_feasibility_tolerance": 1e-4, "dual_feasibility_tolerance": 1e-4},
        {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
    ]


def test_lp_solver_failure_warns_and_falls_back_to_uniform(monkeypatch):
    # A real HiGHS stop (iteration limit 0), injected through the options: status 1, message from HiGHS.
    messages = []

    def limited(*args, **kwargs):
        res = REAL_LINPROG(*args, **{**kwargs, "options": {**kwargs["options"], "maxiter": 0}})
        messages.append(res.message)
        return res

    monkeypatch.setattr(scipy.optimize, "linprog", limited)
    comps, support, target = case(4, 3, 5)
    with pytest.warns(RuntimeWarning) as record:
        fit = fit_mixture_weights(comps, support, target)
    assert len(record) == 1
    assert str(record[0].message) == (
        f"linprog (HiGHS) stopped with status 1: {messages[0]}; loosen tol or check the inputs"
    )
    assert UNDER_MUTMUT or record[0].filename == __file__  # the warning points at the caller, not at internals
    assert_array_equal(fit.weights, np.full(3, 1 / 3))
    assert fit.converged is False and fit.method == "lp" and isinstance(fit.n_iter, int)
    assert fit.loss == pytest.approx(w1(np.full(3, 1 / 3), comps, support, target), abs=1e-12)


# ------------------------------------------------------------------------------------------------- SLSQP
@pytest.mark.parametrize("seed", range(12))
def test_slsqp_reaches_the_lp_optimum_on_small_problems(seed):
    rng = np.random.default_rng(seed)
    k, s = int(rng.integers(2, 5)), int(rng.integers(3, 8))
    comps, target, support = rng.dirichlet(np.ones(s), size=k), rng.dirichlet(np.ones(s)), np.arange(float(s))
    lp = fit_mixture_weights(comps, support, target)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # converges: no warning
        sq = fit_mixture_weights(comps, support, target, method="slsqp", n_restarts=5, rng=seed)
    assert sq.converged is True and sq.method == "slsqp"
    assert np.all(sq.weights >= 0.0) and sq.weights.sum() == pytest.approx(1.0, abs=1e-15)
    assert sq.loss == pytest.approx(w1(sq.weights, comps, support, target), abs=1e-12)
    assert lp.loss - 1e-12 <= sq.loss <= lp.loss + 1e-5


def test_slsqp_keeps_the_best_restart_and_sums_iterations(minimize_spy):
    # A problem whose 4 restarts end at different losses, the best being neither the first nor the last.
    comps, support, target = case(101, 4, 6)
    fit = fit_mixture_weights(comps, support, target, method="slsqp", n_restarts=4, rng=0)
    assert len(minimize_spy.results) == 4
    ends = [on_simplex(r.x) for r in minimize_spy.results]
    losses = np.array([w1(w, comps, support, target) for w in ends])
    best = int(np.argmin(losses))
    assert best not in (0, 3) and min(losses[0], losses[3]) - losses[best] > 1e-6
    assert fit.loss == pytest.approx(losses[best], abs=1e-12)
    assert_allclose(fit.weights, ends[best], rtol=0, atol=1e-15)
    assert fit.n_iter == sum(int(r.nit) for r in minimize_spy.results)
    assert fit.converged is bool(minimize_spy.results[best].success)


def test_slsqp_starts_are_normalised_draws_of_the_seeded_generator(minimize_spy):
    comps, support, target = case(7, 5, 6)
    fit_mixture_weights(comps, support, target, method="slsqp", rng=None)  # default: 5 restarts, seed 0
    fit_mixture_weights(comps, support, target, method="slsqp", n_restarts=2, rng=11)
    gen = np.random.default_rng(123)
    gen.random(3)  # a generator is used as is, continuing its stream
    probe = np.random.default_rng(123)
    probe.random(3)
    fit_mixture_weights_multi(comps[:, None, :], support, target[None, :], method="slsqp", n_restarts=2, rng=gen)
    fit_mixture_weights_multi(comps[:, None, :], support, target[None, :], method="slsqp", n_restarts=1)
    expected = (
        expected_starts(np.random.default_rng(0), 5, 5)
        + expected_starts(np.random.default_rng(11), 5, 2)
        + expected_starts(probe, 5, 2)
        + expected_starts(np.random.default_rng(0), 5, 1)
    )
    assert len(minimize_spy.starts) == len(expected) == 10
    for got, want in zip(minimize_spy.starts, expected, strict=True):
        assert_allclose(got, want, rtol=0, atol=1e-15)
        assert got.sum() == pytest.approx(1.0, abs=1e-15)


def test_default_number_of_restarts_is_five(minimize_spy):
    comps, support, target = case(8, 3, 5)
    fit_mixture_weights(comps, support, target, method="slsqp")
    assert len(minimize_spy.results) == 5
    fit_mixture_weights_multi(comps[:, None, :], support, target[None, :], method="slsqp")
    assert len(minimize_spy.results) == 10


def test_slsqp_seed_changes_the_fit_when_the_optimum_is_not_unique():
    # Components 0 and 1 are identical: every split of their mass is optimal, so the start decides the split.
    comps, support, target = case(9, 3, 6)
    comps[1] = comps[0]
    a = fit_mixture_weights(comps, support, target, method="slsqp", n_restarts=1, rng=None)
    b = fit_mixture_weights(comps, support, target, method="slsqp", n_restarts=1, rng=0)
    c = fit_mixture_weights(comps, support, target, method="slsqp", n_restarts=1, rng=5)
    assert_array_equal(a.weights, b.weights)
    assert abs(c.weights[0] - a.weights[0]) > 1e-3
    assert c.loss == pytest.approx(a.loss, abs=1e-6)


def test_slsqp_tol_controls_where_it_stops():
    comps, support, target = case(0, 3, 5, alpha=1.0)
    loose = fit_mixture_weights(comps, support, target, method="slsqp", n_restarts=2, tol=1e-1)
    tight = fit_mixture_weights(comps, support, target, method="slsqp", n_restarts=2, tol=1e-10)
    multi_loose = fit_mixture_weights_multi(
        comps[:, None, :], support, target[None, :], method="slsqp", n_restarts=2, tol=1e-1
    )
    assert loose.n_iter < tight.n_iter
    assert loose.loss > tight.loss + 1e-4
    assert multi_loose.n_iter == loose.n_iter and multi_loose.loss == pytest.approx(loose.loss, abs=1e-15)


def test_slsqp_allows_more_than_100_iterations(minimize_spy):
    # scipy's default maxiter (100) would stop a slow start unconverged; the fit raises it to 1000. Which problems need
    # more than 100 iterations depends on the scipy release, so the test checks that the option reaches SLSQP.
    comps, support, target = drawn_case(144)
    fit_mixture_weights(comps, support, target, method="slsqp", n_restarts=2, rng=144, tol=1e-12)
    assert len(minimize_spy.calls) == 2
    for call in minimize_spy.calls:
        assert call["method"] == "SLSQP" and call["options"] == {"maxiter": 1000} and call["tol"] == 1e-12


def test_slsqp_failure_of_the_best_restart_warns(monkeypatch):
    # A genuine SLSQP failure that every scipy release reports: the real solver, stopped after one iteration
    # ("Iteration limit reached") on a problem whose random start is not optimal.
    spy = MinimizeSpy(options={"maxiter": 1})
    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    comps, support, target = drawn_case(43)  # K = 6, S = 6
    with pytest.warns(RuntimeWarning) as record:
        fit = fit_mixture_weights(comps, support, target, method="slsqp", n_restarts=2, rng=43, tol=1e-12)
    assert [bool(r.success) for r in spy.results] == [False, False]
    assert len(record) == 1
    assert str(record[0].message) == (
        "SLSQP did not report convergence for the best restart; increase n_restarts or tol, or use method='lp' (exact)"
    )
    assert UNDER_MUTMUT or record[0].filename == __file__
    assert fit.converged is False and fit.method == "slsqp"
    assert np.all(fit.weights >= 0) and fit.weights.sum() == pytest.approx(1.0, abs=1e-15)
    assert fit.loss == pytest.approx(w1(fit.weights, comps, support, target), abs=1e-12)


# ------------------------------------------------------------------------------------------------- multi
def test_multi_loss_is_the_mean_w1_and_beats_per_item_fits():
    rng = np.random.default_rng(21)
    comps = rng.dirichlet(np.full(7, 0.5), size=(4, 3))  # (K, D, S)
    targets = rng.dirichlet(np.full(7, 0.5), size=3)
    support = np.arange(7.0)

    def mean_w1(w):
        return np.mean([w1(w, comps[:, d], support, targets[d]) for d in range(3)])

    fit = fit_mixture_weights_multi(comps, support, targets)
    assert fit.loss == pytest.approx(mean_w1(fit.weights), abs=1e-12)
    for d in range(3):
        single = fit_mixture_weights(comps[:, d], support, targets[d])
        assert fit.loss <= mean_w1(single.weights) + 1e-12
        # and the per-item fit is at least as good on its own item
        assert single.loss <= w1(fit.weights, comps[:, d], support, targets[d]) + 1e-12
    for corner in np.eye(4):
        assert fit.loss <= mean_w1(corner) + 1e-12


# ------------------------------------------------------------------------------------------------- messages
def test_error_messages_name_the_argument_and_shapes():
    comps, support, target = case(0, 2, 3)
    with pytest.raises(ValueError, match=r"^target_pmf must have shape \(S,\), got shape \(1, 3\)$"):
        fit_mixture_weights(comps, support, target[None, :])
    with pytest.raises(
        ValueError,
        match=r"^component_pmfs \(K, S\), target_pmf \(S,\) and support \(S,\) disagree in S: "
        r"got shapes \(2, 3\), \(3,\) and \(2,\)$",
    ):
        fit_mixture_weights(comps, support[:2], target)
    with pytest.raises(
        ValueError,
        match=r"^component_pmfs, target_pmf and support must have shapes \(K, D, S\), \(D, S\) and \(S,\); "
        r"got \(2, 3\), \(1, 3\) and \(3,\)$",
    ):
        fit_mixture_weights_multi(comps, support, target[None, :])
    with pytest.raises(ValueError, match=r"^support must be strictly increasing \(shape \(3,\)\)$"):
        fit_mixture_weights(comps, support[::-1], target)
    with pytest.raises(ValueError, match=r"^support must be strictly increasing \(shape \(3,\)\)$"):
        fit_mixture_weights_multi(comps[:, None, :], support[::-1], target[None, :])
    with pytest.raises(ValueError, match=r"^n_restarts must be a positive integer, got 0$"):
        fit_mixture_weights(comps, support, target, method="slsqp", n_restarts=0)
    with pytest.raises(ValueError, match=r"^method must be 'lp' or 'slsqp', got 'LP'$"):
        fit_mixture_weights(comps, support, target, method="LP")
