"""AlignedPersonaBuilder on synthetic pools with known response vectors (no LLM)."""

from __future__ import annotations

import numpy as np
import pytest

from alignment import average_marginal_wasserstein, frechet_distance, mmd_rbf, sliced_wasserstein
from populations.aligned import METHODS, AlignedPersonaBuilder, NotFittedError
from populations.persona import Persona, Population


def _synthetic(seed: int = 0, n: int = 1500, m: int = 800, d: int = 5):
    rng = np.random.default_rng(seed)
    cov = 0.5 * np.eye(d) + 0.3
    human = rng.multivariate_normal(np.full(d, 3.0), 0.4 * cov, size=m)
    # the pool: shifted and uncorrelated, plus a minority drawn like the humans
    near = rng.multivariate_normal(np.full(d, 3.0), 0.4 * cov, size=n // 3)  # human-like minority
    far = rng.normal(3.8, 0.9, size=(n - n // 3, d))
    pool = np.concatenate([near, far])
    personas = tuple(Persona(id=f"p{i}", text=f"persona {i}") for i in range(n))
    return pool, human, personas


def _metrics(x, y):
    return {
        "amw": average_marginal_wasserstein(x, y),
        "fd": frechet_distance(x, y),
        "sw": sliced_wasserstein(x, y, seed=0),
        "mmd": mmd_rbf(x, y),
    }


def test_resample_beats_raw_and_random_by_a_large_margin():
    pool, human, personas = _synthetic()
    scores = {}
    for method in ("raw", "random", "resample"):
        b = AlignedPersonaBuilder(method, n_select=300, random_state=0).fit_vectors(pool, human, personas=personas)
        scores[method] = _metrics(pool[b.selected_], human)
    for metric in ("amw", "fd", "sw", "mmd"):
        best_baseline = min(scores["raw"][metric], scores["random"][metric])
        assert scores["resample"][metric] < 0.5 * best_baseline, (metric, scores)


def test_ablations_lie_between():
    pool, human, personas = _synthetic(1)
    amw = {}
    for method in ("random", "is_only", "ot_only", "resample"):
        b = AlignedPersonaBuilder(method, n_select=300, random_state=0).fit_vectors(pool, human, personas=personas)
        amw[method] = average_marginal_wasserstein(pool[b.selected_], human)
    assert amw["is_only"] < amw["random"]
    assert amw["ot_only"] < amw["random"]


def test_ot_plan_marginals_hold_and_weights_on_simplex():
    pool, human, personas = _synthetic(2, n=400, m=300)
    b = AlignedPersonaBuilder("resample", n_select=50, random_state=0).fit_vectors(pool, human, personas=personas)
    plan = b.transport_.plan
    assert plan is not None
    assert plan.shape == (b.candidates_.size, 300)
    np.testing.assert_allclose(plan.sum(axis=0), np.full(300, 1 / 300), rtol=1e-6)  # human marginal is tight
    np.testing.assert_allclose(b.weights_[b.candidates_], plan.sum(axis=1) / plan.sum(), rtol=1e-9)
    assert b.weights_.sum() == pytest.approx(1.0)
    assert (b.weights_ >= 0).all()
    outside = np.setdiff1d(np.arange(400), b.candidates_)
    assert (b.weights_[outside] == 0).all()
    assert b.candidates_.size == 280  # top 70 % of 400


def test_balanced_formulation_marginals_and_uniform_mass():
    pool, human, personas = _synthetic(3, n=200, m=150)
    b = AlignedPersonaBuilder("ot_only", n_select=20, formulation="balanced", reg=0.1).fit_vectors(
        pool, human, personas=personas
    )
    plan = b.transport_.plan
    np.testing.assert_allclose(plan.sum(axis=1), np.full(200, 1 / 200), rtol=1e-5)
    np.testing.assert_allclose(plan.sum(axis=0), np.full(150, 1 / 150), rtol=1e-5)


def test_population_and_sample_are_deterministic():
    pool, human, personas = _synthetic(4, n=300, m=200)
    b = AlignedPersonaBuilder("resample", n_select=40, random_state=7).fit_vectors(pool, human, personas=personas)
    pop = b.population_
    assert isinstance(pop, Population)
    assert pop.construction == "aligned"
    assert len(pop) == 40
    assert pop.metadata["method"] == "resample"
    a, c = b.sample(30, rng=5), b.sample(30, rng=5)
    assert [p.id for p in a.personas] == [p.id for p in c.personas]
    b2 = AlignedPersonaBuilder("resample", n_select=40, random_state=7).fit_vectors(pool, human, personas=personas)
    np.testing.assert_array_equal(b.selected_, b2.selected_)
    np.testing.assert_array_equal(b.weights_, b2.weights_)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_fits_and_samples(method):
    pool, human, personas = _synthetic(5, n=200, m=100)
    b = AlignedPersonaBuilder(method, n_select=30).fit_vectors(pool, human, personas=personas)
    assert len(set(b.selected_.tolist())) == b.selected_.size or method in ("ot_only", "resample")
    assert b.weights_.shape == (200,)
    assert len(b.sample(20)) <= 20


def test_bad_input_errors():
    pool, human, personas = _synthetic(6, n=100, m=50)
    with pytest.raises(ValueError, match="pool is empty"):
        AlignedPersonaBuilder().fit_vectors(np.empty((0, 5)), human)
    with pytest.raises(ValueError, match="fewer than the requested set"):
        AlignedPersonaBuilder(n_select=101).fit_vectors(pool, human)
    with pytest.raises(ValueError, match="same items"):
        AlignedPersonaBuilder().fit_vectors(pool, human[:, :3])
    with pytest.raises(ValueError, match="method must be one of"):
        AlignedPersonaBuilder("magic").fit_vectors(pool, human)
    bad = human.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="row 3"):
        AlignedPersonaBuilder().fit_vectors(pool, bad)
    with pytest.raises(NotFittedError, match="AlignedPersonaBuilder is not fitted"):
        AlignedPersonaBuilder().sample(3)
    b = AlignedPersonaBuilder(n_select=10).fit_vectors(pool, human)
    with pytest.raises(ValueError, match="without personas"):
        b.sample(3)
    b = AlignedPersonaBuilder(n_select=10).fit_vectors(pool, human, personas=personas)
    with pytest.raises(ValueError, match="fewer than the requested set"):
        b.sample(101)


@pytest.mark.parametrize("dim", [10, 50])
def test_default_alignment_closes_the_mean_gap(dim):
    """Half the pool is human-like, half shifted by +1: the default mass closes >= 90% of the mean gap."""
    rng = np.random.default_rng(1)
    n = 1000
    pool = np.concatenate([rng.standard_normal((n // 2, dim)), rng.standard_normal((n - n // 2, dim)) + 1.0])
    human = rng.standard_normal((n, dim))
    b = AlignedPersonaBuilder().fit_vectors(pool, human)
    closed = np.mean((pool.mean(0) - b.weights_ @ pool) / (pool.mean(0) - human.mean(0)))
    assert closed >= 0.9, closed
    assert b.weights_[: n // 2].sum() >= 0.85
