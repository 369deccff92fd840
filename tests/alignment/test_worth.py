"""k̂, the number of humans a simulation is worth (Huang, Wu & Wang 2025), on known-distribution fakes (issue 20)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from alignment.worth import k_grid, worth_k, worth_theory

SUPPORT = np.arange(0, 41, dtype=float)
SIGMA = 4.0
SEED = 20261205


def _pmf(mu: float) -> np.ndarray:
    p = stats.norm.pdf(SUPPORT, mu, SIGMA)
    return p / p.sum()


def _tasks(delta: float, n_tasks: int = 300, m: int = 50_000, seed: int = SEED):
    """Tasks whose humans answer N(μ_j, 4²) on 0..40 and whose simulation is shifted by ``delta``."""
    rng = np.random.default_rng(seed)
    sims, humans = [], []
    for _ in range(n_tasks):
        mu = rng.uniform(18, 22)
        humans.append(rng.choice(SUPPORT, size=m, p=_pmf(mu)))
        sims.append(_pmf(mu + delta))
    return sims, humans


def test_a_simulation_equal_to_the_humans_is_worth_the_whole_budget():
    sims, humans = _tasks(0.0, n_tasks=200)
    got = [worth_k(sims, humans, supports=[SUPPORT] * 200, budget=b, rng=1).k_hat for b in (50, 500, 5000)]
    assert got == [50, 500, 5000]


@pytest.mark.parametrize("delta", [0.3, 0.5, 0.8])
def test_a_planted_shift_gives_the_theoretical_worth_within_1_5x(delta):
    sims, humans = _tasks(delta)
    w = worth_k(sims, humans, supports=[SUPPORT] * len(sims), budget=5000, rng=2)
    theory = worth_theory(delta, SIGMA, sigma_h=SIGMA, m=50_000)
    assert 10 <= theory <= 200  # the regime the check is about: neither the grid's floor nor its cap
    assert theory / 1.5 <= w.k_hat <= theory * 1.5, (w.k_hat, theory)
    assert w.k_lo <= w.k_hat <= w.k_hi


def test_worth_falls_as_the_shift_grows():
    ks = []
    for delta in (0.2, 0.5, 1.0, 3.0):
        sims, humans = _tasks(delta, n_tasks=150, m=20_000)
        ks.append(worth_k(sims, humans, supports=[SUPPORT] * 150, budget=5000, rng=3).k_hat)
    assert ks == sorted(ks, reverse=True) and ks[0] > 3 * ks[2] and ks[-1] <= 3


def test_theory_matches_a_hand_computed_case():
    """δ/σ = 0.01 at α = 0.1: the set's level is 1 − α/2 (z = 1.96 for large k) and |Z + d| > 1.96 has
    probability 0.1 at d ≈ 0.652, so k ≈ (0.652 / 0.01)² ≈ 4,256 (human noise negligible)."""
    d = 0.6524
    assert stats.norm.sf(1.96 - d) + stats.norm.cdf(-1.96 - d) == pytest.approx(0.1, abs=1e-3)
    assert worth_theory(0.01, 1.0, sigma_h=1.0, m=10**9) == pytest.approx((d / 0.01) ** 2, rel=0.01)
    assert worth_theory(0.0, 1.0) == np.inf


def test_the_human_estimates_own_noise_is_in_the_set():
    """With few humans per task a perfect simulation still covers (the set includes σ_h²/m); a mutant that drops
    the human term misses far more often than α once k ≫ m."""
    sims, humans = _tasks(0.0, n_tasks=200, m=30)
    w = worth_k(sims, humans, supports=[SUPPORT] * 200, budget=2000, rng=4)
    assert w.k_hat == 2000
    assert w.miscoverage[w.grid >= 10].max() <= 0.1


def test_grid_and_bad_input():
    g = k_grid(1000)
    assert g[0] == 2 and g[-1] == 1000 and np.all(np.diff(g) > 0)
    with pytest.raises(ValueError, match="one simulated pmf"):
        worth_k([_pmf(20)], [], supports=[SUPPORT])
    with pytest.raises(ValueError, match="at least 2 human answers"):
        worth_k([_pmf(20)], [np.array([3.0])], supports=[SUPPORT])
    with pytest.raises(ValueError, match="alpha"):
        worth_k([_pmf(20)], [np.array([3.0, 4.0])], supports=[SUPPORT], alpha=1.5)
    with pytest.raises(ValueError, match="budget"):
        k_grid(1)


def test_same_seed_same_worth():
    sims, humans = _tasks(0.8, n_tasks=40, m=2000)
    a = worth_k(sims, humans, supports=[SUPPORT] * 40, rng=9)
    b = worth_k(sims, humans, supports=[SUPPORT] * 40, rng=9)
    assert a.k_hat == b.k_hat and np.array_equal(a.miscoverage, b.miscoverage)
