"""Coverage of the four intervals on a known-distribution fake (issue 20, item 8).

The fake world: a human answer y ~ N(0, 1) (true mean 0, known exactly), and a twin prediction
ŷ = b + ρ·y + √(1 − ρ²)·η with η ~ N(0, 1) independent, so corr(y, ŷ) = ρ and the twins are biased by b. Each
repetition draws n = 100 labelled humans and N = 2,000 unlabelled rows; 2,000 repetitions put the coverage's own
standard error at about 0.7 points. The seed is fixed (20261205) and was not chosen: the table printed by
``pytest -s`` is what it gives, quoted in the issue note.
"""

from __future__ import annotations

import numpy as np
import pytest

from alignment.inference import estimate_mean, estimate_median, estimate_share, power_plan

SEED = 20261205
REPS = 2000
N_LAB, N_UNL = 100, 2000
ALPHA = 0.1
METHODS = ("classical", "naive", "ppi", "ppipp")


def _world(rng, bias: float, rho: float, n: int, m: int):
    y = rng.normal(size=n)
    yhat = bias + rho * y + np.sqrt(1 - rho**2) * rng.normal(size=n)
    u = rng.normal(size=m)
    yhat_u = bias + rho * u + np.sqrt(1 - rho**2) * rng.normal(size=m)
    return y, yhat, yhat_u


@pytest.fixture(scope="module")
def table():
    """(bias, rho) → method → (coverage, mean width), over REPS seeded repetitions."""
    rng = np.random.default_rng(SEED)
    out = {}
    for bias in (0.0, 0.5):
        for rho in (0.0, 0.5, 0.8):
            cover = {m: 0 for m in METHODS}
            width = {m: 0.0 for m in METHODS}
            for _ in range(REPS):
                est = estimate_mean(*_world(rng, bias, rho, N_LAB, N_UNL), alpha=ALPHA)
                for m in METHODS:
                    iv = getattr(est, m)
                    cover[m] += iv.lo <= 0.0 <= iv.hi
                    width[m] += iv.hi - iv.lo
            out[bias, rho] = {m: (cover[m] / REPS, width[m] / REPS) for m in METHODS}
    lines = ["bias  rho   " + "  ".join(f"{m:>16}" for m in METHODS)]
    for (bias, rho), row in out.items():
        cells = "  ".join(f"{c:6.1%} w={w:6.3f}" for c, w in (row[m] for m in METHODS))
        lines.append(f"{bias:4.1f}  {rho:3.1f}   {cells}")
    print("\n90% intervals for a human mean, n=100 humans, N=2,000 twins, 2,000 reps, seed 20261205")
    print("\n".join(lines))
    return out


@pytest.mark.parametrize("bias", [0.0, 0.5])
@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8])
def test_ppi_and_classical_cover_at_nominal_under_any_bias(table, bias, rho):
    row = table[bias, rho]
    assert 0.88 <= row["ppi"][0] <= 0.92, row
    assert 0.88 <= row["classical"][0] <= 0.92, row
    assert 0.87 <= row["ppipp"][0] <= 0.92, row  # λ̂ is estimated on the same humans: a hair under nominal


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8])
def test_naive_simulation_intervals_miss_under_the_planted_bias(table, rho):
    assert table[0.5, rho]["naive"][0] < 0.50


@pytest.mark.parametrize("bias", [0.0, 0.5])
@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_ppi_is_narrower_than_human_only_when_twins_correlate(table, bias, rho):
    """PPI++ is narrower from ρ = 0.5; plain PPI (λ = 1) only once var(y − ŷ) < var(y), i.e. ρ > 0.5 here."""
    assert table[bias, rho]["ppipp"][1] < 0.95 * table[bias, rho]["classical"][1]
    if rho > 0.5:
        assert table[bias, rho]["ppi"][1] < 0.75 * table[bias, rho]["classical"][1]


@pytest.mark.parametrize("bias", [0.0, 0.5])
def test_ppipp_is_no_wider_than_human_only_when_twins_are_noise(table, bias):
    row = table[bias, 0.0]
    assert row["ppi"][1] > row["classical"][1]  # plain PPI pays for the noise it adds …
    assert row["ppipp"][1] <= row["classical"][1] * 1.01  # … PPI++ tunes it away


def test_the_rectifier_adds_the_humans_minus_their_twins():
    """θ̂_PPI = mean(ŷ_unlabelled) + mean(y − ŷ): a flipped rectifier sign gives 12 − 1 = 11 here, not 13."""
    y = np.array([3.0, 5.0, 7.0, 9.0])
    yhat = np.array([2.0, 4.0, 6.0, 8.0])
    yhat_u = np.array([11.0, 12.0, 13.0])
    est = estimate_mean(y, yhat, yhat_u)
    assert est.ppi.estimate == pytest.approx(13.0)
    assert est.naive.estimate == pytest.approx(12.0)
    assert est.classical.estimate == pytest.approx(6.0)
    assert est.rho == pytest.approx(1 - 1 / 4)  # ppi_py caps the PPI correlation at 1 − 1/n


def test_effective_sample_size_and_power_plan_track_the_correlation():
    rng = np.random.default_rng(SEED)
    y, yhat, yhat_u = _world(rng, 0.3, 0.8, 400, 20000)
    est = estimate_mean(y, yhat, yhat_u)
    assert est.rho == pytest.approx(0.8, abs=0.05)
    assert est.ess == pytest.approx(400 / (1 - 0.8**2), rel=0.2)  # Broska et al.: n / (1 − ρ²) with N ≫ n
    plan = power_plan(y, yhat, half_width=0.05)
    assert plan["n_ppi"] == pytest.approx(plan["n_classical"] * (1 - plan["rho"] ** 2), rel=0.1)
    noise = power_plan(y, np.full_like(y, 2.0), half_width=0.05)
    assert noise["n_ppi"] == noise["n_classical"] and noise["rho"] == 0.0


def test_constant_twins_give_the_human_only_interval_through_ppipp():
    rng = np.random.default_rng(1)
    y = rng.normal(size=50)
    est = estimate_mean(y, np.full(50, 3.0), np.full(500, 3.0))
    assert (est.ppipp.lo, est.ppipp.hi) == pytest.approx((est.classical.lo, est.classical.hi))
    assert est.rho == 0.0 and est.ess == pytest.approx(50)
    assert est.naive.lo == est.naive.hi == 3.0


def test_a_share_is_the_mean_of_a_zero_one_answer_and_checks_its_inputs():
    rng = np.random.default_rng(2)
    y = (rng.random(200) < 0.3).astype(float)
    p = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.05, 200), 0, 1)
    pu = np.clip(0.3 + rng.normal(0, 0.2, 2000), 0, 1)
    share = estimate_share(y, p, pu)
    mean = estimate_mean(y, p, pu)
    assert share.ppi == mean.ppi and share.classical == mean.classical
    with pytest.raises(ValueError, match=r"y in \{0, 1\}"):
        estimate_share(y * 2, p, pu)
    with pytest.raises(ValueError, match="probabilities"):
        estimate_share(y, p + 1, pu)


def test_median_intervals_cover_the_true_median():
    rng = np.random.default_rng(SEED)
    covered = {"classical": 0, "ppi": 0, "naive": 0}
    reps = 300
    for _ in range(reps):
        y, yhat, yhat_u = _world(rng, 0.5, 0.8, 100, 1000)
        est = estimate_median(np.rint(y * 2), np.rint(yhat * 2), np.rint(yhat_u * 2))
        for m in covered:
            iv = getattr(est, m)
            covered[m] += iv.lo <= 0.0 <= iv.hi
    assert covered["classical"] / reps >= 0.85
    assert covered["ppi"] / reps >= 0.85
    assert covered["naive"] / reps < 0.5
    assert est.ppipp == est.ppi and "PPI++ is PPI" in est.note


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([1.0, 2.0], [1.0], [1.0, 2.0]), "one per human"),
        (([1.0], [1.0], [1.0, 2.0]), "at least 2"),
        (([1.0, np.nan], [1.0, 2.0], [1.0, 2.0]), "NaN"),
    ],
)
def test_bad_input_names_the_problem(args, match):
    with pytest.raises(ValueError, match=match):
        estimate_mean(*args)
    with pytest.raises(ValueError, match="half_width"):
        power_plan([1.0, 2.0], [1.0, 2.0], half_width=0)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_the_sorted_cdf_equals_ppi_pys_indicator_cdf(seed, weighted):
    """The O(n log n) CDF behind the classical and naive medians is ``ppi_py.utils.compute_cdf``'s, value for value."""
    from ppi_py.utils import compute_cdf

    from alignment.inference import _plain_median, _quantile_on_support

    rng = np.random.default_rng(seed)
    a = np.rint(rng.normal(size=30) * 3)
    w = rng.random(30) + 0.1 if weighted else None
    grid = np.unique(a)
    cdf, sd = compute_cdf(a, grid, w=w)
    want = _quantile_on_support(grid, cdf, sd / np.sqrt(a.size), 0.5, 0.1)
    got = _plain_median(a, w, 0.1)
    assert (got.estimate, got.lo, got.hi) == pytest.approx(want)
    assert got.lo < got.hi  # a small sample: the check is not about a degenerate interval


def test_ppi_pys_quantile_interval_can_be_empty_on_discrete_answers_and_ours_is_not():
    """Why medians invert the rectified CDF on the answer support (docs/inference.md): on a 9-point answer
    ``ppi_py.ppi_quantile_ci`` finds no grid point with a CDF near 1/2 in some draws; :func:`estimate_median` always
    returns an interval holding its estimate."""
    from ppi_py import ppi_quantile_ci

    rng = np.random.default_rng(SEED)
    empty = 0
    for _ in range(60):
        y, yhat, yhat_u = (np.rint(a * 2) for a in _world(rng, 0.5, 0.8, 100, 1000))
        try:
            ppi_quantile_ci(y, yhat, yhat_u, 0.5, alpha=ALPHA, exact_grid=True)
        except IndexError:
            empty += 1
        iv = estimate_median(y, yhat, yhat_u).ppi
        assert iv.lo <= iv.estimate <= iv.hi
    assert empty > 0
