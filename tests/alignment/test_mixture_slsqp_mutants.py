"""What ``method="slsqp"`` asks of ``scipy.optimize.minimize`` and how it reads the answer (release-independent).

The optimizer is replaced by a recording stand-in, so the tests check the options that reach it (the problem, the
bounds, the simplex constraint, the 1,000-iteration cap, the tolerance) and the handling of what it returns
(negative weights clipped, the first of equally good restarts kept, a failure of the best restart warned about),
not one scipy release's iteration counts.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from numpy.testing import assert_allclose

from alignment import fit_mixture_weights

COMPS = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
SUPPORT = [1.0, 2.0, 3.0]
TARGET = [0.2, 0.3, 0.5]


def recording(results):
    """A stand-in for ``scipy.optimize.minimize`` returning ``results`` in turn and recording each call."""
    calls = []
    it = iter(results)

    def minimize(fun, x0, **kwargs):
        calls.append({"fun": fun, "x0": np.array(x0), **kwargs})
        x, success = next(it)
        return scipy.optimize.OptimizeResult(x=np.asarray(x, dtype=float), success=success, nit=7)

    return minimize, calls


def test_slsqp_options_reach_the_optimizer(monkeypatch):
    minimize, calls = recording([([0.2, 0.3, 0.5], True)] * 2)
    monkeypatch.setattr(scipy.optimize, "minimize", minimize)
    fit = fit_mixture_weights(COMPS, SUPPORT, TARGET, method="slsqp", n_restarts=2, tol=1e-5, rng=4)
    assert len(calls) == 2
    gen = np.random.default_rng(4)
    for call in calls:
        start = gen.random(3)
        assert_allclose(call["x0"], start / start.sum())
        assert call["method"] == "SLSQP"
        assert call["bounds"] == [(0.0, 1.0)] * 3
        assert call["tol"] == 1e-5
        assert call["options"] == {"maxiter": 1000}
        (constraint,) = call["constraints"]
        assert constraint["type"] == "eq"
        assert constraint["fun"](np.array([0.25, 0.5, 0.5])) == pytest.approx(0.25)
        # the objective is the W1 loss of the mixture
        assert call["fun"](np.array([0.2, 0.3, 0.5]), *call["args"]) == pytest.approx(0.0, abs=1e-12)
        assert call["fun"](np.array([1.0, 0.0, 0.0]), *call["args"]) == pytest.approx(1.3)
    assert fit.n_iter == 14 and fit.converged is True and fit.method == "slsqp"
    assert_allclose(fit.weights, TARGET)


def test_negative_optimizer_weights_are_clipped_and_renormalised(monkeypatch):
    minimize, _ = recording([([-0.1, 0.3, 0.8], True)])
    monkeypatch.setattr(scipy.optimize, "minimize", minimize)
    fit = fit_mixture_weights(COMPS, SUPPORT, TARGET, method="slsqp", n_restarts=1)
    assert_allclose(fit.weights, [0.0, 0.3 / 1.1, 0.8 / 1.1])


def test_the_first_of_equally_good_restarts_is_kept(monkeypatch):
    # two different optima with the same loss (both components put their mass on 1): the first one is kept
    comps = [[1.0, 0.0], [1.0, 0.0]]
    minimize, _ = recording([([0.25, 0.75], True), ([0.75, 0.25], False)])
    monkeypatch.setattr(scipy.optimize, "minimize", minimize)
    fit = fit_mixture_weights(comps, [0.0, 1.0], [1.0, 0.0], method="slsqp", n_restarts=2)
    assert_allclose(fit.weights, [0.25, 0.75])
    assert fit.converged is True


def test_a_failed_best_restart_warns(monkeypatch):
    minimize, _ = recording([([1.0, 0.0, 0.0], True), ([0.2, 0.3, 0.5], False)])
    monkeypatch.setattr(scipy.optimize, "minimize", minimize)
    with pytest.warns(RuntimeWarning) as record:
        fit = fit_mixture_weights(COMPS, SUPPORT, TARGET, method="slsqp", n_restarts=2)
    assert [str(r.message) for r in record] == [
        "SLSQP did not report convergence for the best restart; increase n_restarts or tol, or use method='lp' (exact)"
    ]
    assert fit.converged is False
    assert_allclose(fit.weights, TARGET)
