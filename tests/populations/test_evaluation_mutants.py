"""Exact-value tests of :mod:`populations.evaluation` that a wrong implementation fails.

Every expected number is computed independently of the module: by hand, with ``scipy.stats.wasserstein_distance``,
with numpy on repeated rows, or by replaying the documented protocol with the same seeded generator (the module
promises "same seed, same numbers", so the draws it makes are part of its contract). A scripted generator
(:class:`ScriptedRng`) feeds chosen uniforms to the inverse-CDF draws, so the boundary cases (``u`` equal to a CDF
value, ``u`` just below 1) are pinned down exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from alignment import average_marginal_wasserstein, score_table
from populace_lm.fakes import KnownDistributionModel
from populace_lm.types import IntegerAnswers
from populations.evaluation import (
    VECTOR_METRICS,
    FloorResult,
    HumanHalves,
    builder_fit_info,
    floor_size,
    human_floor,
    human_halves,
    human_split,
    inverse_cdf_sample,
    population_pmfs,
    scenario_floor,
    score_distribution,
    score_population,
    score_records,
    score_vectors,
    simulate_score_vectors,
    split_humans,
    weighted_resample,
)
from populations.persona import Persona, Population
from scenarios import get_scenario
from scenarios.question import Question
from scenarios.split import split_indices


def w1(u, v, u_weights=None, v_weights=None) -> float:
    """Reference W1 (scipy directly, not the project's wrapper)."""
    return float(scipy.stats.wasserstein_distance(u, v, u_weights, v_weights))


class ScriptedRng:
    """A stand-in generator whose ``random(n)`` returns the next scripted block of uniforms."""

    def __init__(self, *blocks):
        self.blocks = [np.asarray(b, dtype=float) for b in blocks]
        self.sizes: list = []

    def random(self, n):
        self.sizes.append(n)
        block = self.blocks.pop(0)
        assert block.shape == (n,), f"scripted block of shape {block.shape} for random({n})"
        return block


# --------------------------------------------------------------------------------------------- split_humans
def test_split_humans_passes_the_fraction_and_returns_floats():
    x = np.arange(20)  # integers in, floats out
    fit, test = split_humans(x, seed=3, fit_fraction=0.75)
    fit_idx, test_idx = split_indices(20, seed=3, fit_fraction=0.75)
    assert fit.dtype == np.float64 and test.dtype == np.float64
    assert fit.tolist() == fit_idx.tolist() and test.tolist() == test_idx.tolist()
    assert (fit.size, test.size) == (15, 5)
    default_fit, _ = split_humans(x, seed=3)
    assert default_fit.size == 10  # fit_fraction defaults to one half
    with pytest.raises(ValueError, match=r"shape \(n,\) or \(n, D\), got \(2, 3, 4\)"):
        split_humans(np.zeros((2, 3, 4)), seed=0)
    with pytest.raises(ValueError, match=r"got \(\)"):
        split_humans(5.0, seed=0)


# ------------------------------------------------------------------------- human_split / human_halves (files)
SURVEY = """\
kind = "survey"
name = "mini"
[scale]
type = "range"
low = 1
high = 3
labels = { 1 = "no", 3 = "yes" }
[[items]]
id = "a"
text = "I like tea."
[[items]]
id = "b"
text = "I like coffee."
[data]
path = "mini.csv"
"""


def _mini(tmp_path, *, weighted: bool, n: int = 24):
    """A two-item survey file with ``n`` complete rows (and a weight column when ``weighted``)."""
    a = 1 + np.arange(n) % 3
    b = 1 + (np.arange(n) // 3) % 3
    w = 1 + np.arange(n) % 4
    head = "a,b,w" if weighted else "a,b"
    rows = [f"{x},{y},{z}" if weighted else f"{x},{y}" for x, y, z in zip(a, b, w, strict=True)]
    (tmp_path / "mini.csv").write_text(head + "\n" + "\n".join(rows) + "\n")
    text = SURVEY.replace('path = "mini.csv"', 'path = "mini.csv"\nweight = "w"') if weighted else SURVEY
    (tmp_path / "mini.toml").write_text(text)
    return get_scenario(f"{tmp_path}/mini.toml:a"), a.astype(float), b.astype(float), w.astype(float)


def test_human_split_splits_the_file_rows(tmp_path):
    sc, a, _, _ = _mini(tmp_path, weighted=False)
    for seed, frac in ((0, 0.5), (7, 0.25)):
        fit_idx, test_idx = split_indices(a.size, seed=seed, fit_fraction=frac)
        fit, test = human_split(sc, seed=seed, fit_fraction=frac)
        np.testing.assert_array_equal(fit, a[fit_idx])
        np.testing.assert_array_equal(test, a[test_idx])
    fit, test = human_split(sc, seed=7)
    assert (fit.size, test.size) == (12, 12)


def test_human_split_passes_seed_source_and_fraction_to_both_halves():
    calls = []

    class Recorder:
        def human_values(self, split, **kw):
            calls.append((split, kw))
            return np.array([1.0]) if split == "fit" else np.array([2.0, 3.0])

    fit, test = human_split(Recorder(), seed=11, source="here", fit_fraction=0.3)
    assert fit.tolist() == [1.0] and test.tolist() == [2.0, 3.0]
    kw = {"seed": 11, "source": "here", "fit_fraction": 0.3}
    assert calls == [("fit", kw), ("test", kw)]
    calls.clear()
    human_split(Recorder(), seed=2)
    assert calls == [("fit", {"seed": 2, "source": None, "fit_fraction": 0.5})] + [
        ("test", {"seed": 2, "source": None, "fit_fraction": 0.5})
    ]


def test_human_halves_carries_the_weights_of_each_half(tmp_path):
    sc, a, _, w = _mini(tmp_path, weighted=True)
    fit_idx, test_idx = split_indices(a.size, seed=5, fit_fraction=0.75)
    h = human_halves(sc, seed=5, fit_fraction=0.75)
    assert isinstance(h, HumanHalves)
    np.testing.assert_array_equal(h.fit, a[fit_idx])
    np.testing.assert_array_equal(h.test, a[test_idx])
    np.testing.assert_array_equal(h.fit_weights, w[fit_idx])
    np.testing.assert_array_equal(h.test_weights, w[test_idx])
    assert h.fit_weights.dtype == np.float64 and h.test_weights.dtype == np.float64
    default = human_halves(sc, seed=5)
    assert default.fit.size == default.fit_weights.size == 12
    sc2, a2, _, _ = _mini(tmp_path, weighted=False)
    plain = human_halves(sc2, seed=5)
    assert plain.fit_weights is None and plain.test_weights is None
    np.testing.assert_array_equal(plain.test, a2[split_indices(a2.size, seed=5)[1]])


def test_human_halves_asks_for_the_weights_of_the_same_rows():
    calls = []

    class Recorder:
        def human_values(self, split, **kw):
            return np.zeros(2 if split == "fit" else 3)

        def human_weights(self, split, **kw):
            calls.append((split, kw))
            return [1, 2] if split == "fit" else [3, 4, 5]  # ints in, floats out

    h = human_halves(Recorder(), seed=4, source="src", fit_fraction=0.4)
    kw = {"seed": 4, "source": "src", "fit_fraction": 0.4}
    assert calls == [("fit", kw), ("test", kw)]
    assert h.fit_weights.dtype == np.float64 and h.fit_weights.tolist() == [1.0, 2.0]
    assert h.test_weights.dtype == np.float64 and h.test_weights.tolist() == [3.0, 4.0, 5.0]


# ---------------------------------------------------------------------------------------- weighted_resample
def test_weighted_resample_is_the_seeded_weighted_bootstrap():
    x = np.arange(6.0) * 10
    w = np.array([0.0, 2.0, 0.0, 1.0, 0.0, 1.0])  # sums to 4: probabilities 0.5, 0.25, 0.25
    got = weighted_resample(x, w, 3)
    idx = np.random.default_rng(3).choice(6, size=6, replace=True, p=w / w.sum())
    np.testing.assert_array_equal(got, x[idx])
    assert set(got.tolist()) <= {10.0, 30.0, 50.0}  # zero-weight rows are never drawn
    gen = np.random.default_rng(3)  # a generator is used (and advanced) as given
    np.testing.assert_array_equal(weighted_resample(x, w, gen), x[idx])
    # one positive weight: every draw is that row, so drawing must be with replacement
    only = weighted_resample(x, [0, 0, 0, 0.1, 0, 0], 0)
    assert only.tolist() == [30.0] * 6
    rows = np.column_stack([x, -x])  # (m, D): whole rows are drawn
    r = weighted_resample(rows, w, 3)
    assert r.shape == (6, 2) and np.array_equal(r[:, 1], -r[:, 0])
    assert weighted_resample([1, 2], None, 0).dtype == np.float64


@pytest.mark.parametrize(
    ("weights", "shape"),
    [([1.0, 1.0], r"\(2,\)"), ([1.0, -1.0, 1.0], r"\(3,\)"), ([0.0, 0.0, 0.0], r"\(3,\)"),
     ([[1.0, 1.0, 1.0]], r"\(1, 3\)")],
    ids=["short", "negative", "zero-sum", "2-d"],
)  # fmt: skip
def test_weighted_resample_refuses_bad_weights(weights, shape):
    with pytest.raises(ValueError, match=rf"non-negative with shape \(3,\) and a positive sum, got {shape}"):
        weighted_resample([1.0, 2.0, 3.0], weights, 0)


def test_weighted_resample_accepts_small_weights_and_zeros():
    r = weighted_resample([1.0, 2.0, 3.0], [0.0, 0.2, 0.3], 1)  # a sum below 1 and a zero are fine
    assert set(r.tolist()) <= {2.0, 3.0}


# --------------------------------------------------------------------------------------------- floor_size
def test_floor_size_is_n_or_half_the_test_humans():
    assert floor_size(2) == 1 and floor_size(3) == 1
    assert floor_size(901) == 450 and isinstance(floor_size(901), int)
    assert floor_size(2000) == 1000 and floor_size(2002) == 1000 and floor_size(1998) == 999
    assert floor_size(100, n=10) == 10 and floor_size(100, 60) == 50
    with pytest.raises(ValueError, match="at least 2 test humans, got 1"):
        floor_size(1)


# --------------------------------------------------------------------------------------------- human_floor
X40 = np.arange(40.0) ** 1.5  # distinct values: a wrong partition changes every distance


def test_unweighted_floor_sd_and_repeats():
    got = human_floor(X40, n=10, repeats=4, rng=2)
    gen = np.random.default_rng(2)
    vals = []
    for _ in range(4):
        perm = gen.permutation(40)
        vals.append(w1(X40[perm[:10]], X40[perm[10:]]))
    assert got == FloorResult(float(np.mean(vals)), float(np.std(vals, ddof=1)), 10, 4, "w1")
    one = human_floor(X40, n=10, repeats=1, rng=2)
    assert one.sd == 0.0 and one.mean == pytest.approx(vals[0], abs=1e-12) and one.repeats == 1
    default = human_floor(X40, n=10, rng=2)
    assert default.repeats == 10
    with pytest.raises(ValueError, match="repeats must be >= 1, got 0"):
        human_floor(X40, n=10, repeats=0, rng=0)
    with pytest.raises(ValueError, match="repeats must be >= 1, got -2"):
        human_floor(X40, n=10, repeats=-2, rng=0, categories=[1.0])


def test_weighted_floor_draws_by_weight_and_weights_the_rest():
    w = 1.0 + np.arange(40) % 3
    got = human_floor(X40, n=8, repeats=3, rng=4, weights=w)
    gen = np.random.default_rng(4)
    vals = []
    for _ in range(3):
        drawn = gen.choice(40, size=8, replace=False, p=w / w.sum())
        rest = np.setdiff1d(np.arange(40), drawn)
        vals.append(w1(X40[drawn], X40[rest], None, w[rest]))
    assert got.mean == pytest.approx(np.mean(vals), abs=1e-12)
    assert got.sd == pytest.approx(np.std(vals, ddof=1), abs=1e-12)
    assert (got.n, got.repeats, got.metric) == (8, 3, "w1")
    one = human_floor(X40, n=8, repeats=1, rng=4, weights=w)
    assert one.sd == 0.0 and one.mean == pytest.approx(vals[0], abs=1e-12)


def test_integer_weighted_floor_rest_equals_repeated_rows():
    # the rest is weighted: with weights 0 except on the drawn-never rows, check against repeated rows
    h = np.array([0.0, 1.0, 2.0, 10.0, 20.0])
    w = np.array([1.0, 1.0, 1.0, 3.0, 2.0])
    got = human_floor(h, n=1, repeats=1, rng=0, weights=w)
    drawn = np.random.default_rng(0).choice(5, size=1, replace=False, p=w / w.sum())
    rest = np.setdiff1d(np.arange(5), drawn)
    assert got.mean == pytest.approx(w1(h[drawn], np.repeat(h[rest], w[rest].astype(int))), abs=1e-12)


def test_categorical_floor_is_tv_of_disjoint_halves():
    cats = np.array([1.0, 2.0, 3.0])
    h = np.repeat(cats, [20, 12, 8])
    got = human_floor(h, n=10, repeats=3, rng=5, categories=cats)
    gen = np.random.default_rng(5)
    vals = []
    for _ in range(3):
        perm = gen.permutation(40)
        a, b = h[perm[:10]], h[perm[10:]]
        vals.append(0.5 * sum(abs((a == c).mean() - (b == c).mean()) for c in cats))
    assert got.metric == "tv" and (got.n, got.repeats) == (10, 3)
    assert got.mean == pytest.approx(np.mean(vals), abs=1e-12)
    assert got.sd == pytest.approx(np.std(vals, ddof=1), abs=1e-12)
    one = human_floor(h, n=10, repeats=1, rng=5, categories=cats)
    assert one.sd == 0.0 and one.mean == pytest.approx(vals[0], abs=1e-12)
    # weighted categories: the drawn humans are equal-weight, the rest weighted
    w = 1.0 + (np.arange(40) % 2)
    gw = human_floor(h, n=10, repeats=2, rng=6, categories=cats, weights=w)
    gen = np.random.default_rng(6)
    vals = []
    for _ in range(2):
        drawn = gen.choice(40, size=10, replace=False, p=w / w.sum())
        rest = np.setdiff1d(np.arange(40), drawn)
        q = np.array([w[rest][h[rest] == c].sum() for c in cats]) / w[rest].sum()
        p = np.array([(h[drawn] == c).mean() for c in cats])
        vals.append(0.5 * np.abs(p - q).sum())
    assert gw.metric == "tv" and gw.mean == pytest.approx(np.mean(vals), abs=1e-12)
    assert gw.sd == pytest.approx(np.std(vals, ddof=1), abs=1e-12)


def test_categorical_floor_reaches_one_for_separated_halves():
    # two humans with different answers: whichever is drawn, the two halves share no category (TV = 1)
    cats = np.array([1.0, 2.0])
    h = np.array([2.0, 1.0])
    got = human_floor(h, n=1, repeats=2, rng=0, categories=cats)
    assert got.mean == 1.0 and got.sd == 0.0


@pytest.mark.parametrize("n", [0, 5])
def test_floor_n_out_of_range_is_named(n):
    with pytest.raises(ValueError, match=rf"n = {n} must be in \[1, 4\] for 5 test humans of shape \(5,\)"):
        human_floor(np.arange(5.0), n=n, rng=0, categories=np.arange(5.0))
    with pytest.raises(ValueError, match=rf"n = {n} must be in \[1, 4\] for 5 test humans"):
        human_floor(np.arange(5.0), n=n, rng=0, weights=np.ones(5))


def test_floor_accepts_the_extreme_n():
    h = np.arange(5.0)
    assert human_floor(h, n=4, repeats=1, rng=0, weights=np.ones(5)).n == 4
    assert human_floor(h, n=1, repeats=1, rng=0, categories=h).n == 1


def test_weighted_or_categorical_floor_needs_one_dimensional_values():
    with pytest.raises(ValueError, match=r"of shape \(6, 2\)"):
        human_floor(np.ones((6, 2)), n=2, rng=0, weights=np.ones(6))


@pytest.mark.parametrize(
    "weights",
    [np.ones(4), -np.ones(5), np.r_[np.ones(2), np.zeros(3)], np.ones((5, 1))],
    ids=["short", "negative", "too-few-positive", "2-d"],
)
def test_floor_refuses_bad_weights(weights):
    with pytest.raises(ValueError, match=r"weights must be non-negative, shape \(5,\), with at least n = 3 positive"):
        human_floor(np.arange(5.0), n=3, rng=0, weights=weights)


def test_floor_needs_a_positive_weight_left_for_the_rest():
    # n positive weights: the n drawn humans are exactly those, and the rest would carry no weight at all
    h = np.arange(5.0)
    for categories in (None, h):
        with pytest.raises(ValueError, match=r"at least n = 2 positive \(the drawn humans\) plus one for the rest"):
            human_floor(h, n=2, repeats=1, rng=0, weights=[0.0, 0.0, 0.0, 1.0, 1.0], categories=categories)
    # one more positive weight suffices: the zero-weight humans are never drawn and the rest is the third one
    got = human_floor(h, n=2, repeats=3, rng=0, weights=[0.0, 0.0, 1.0, 1.0, 1.0])
    gen = np.random.default_rng(0)
    vals = []
    for _ in range(3):
        drawn = gen.choice(5, size=2, replace=False, p=np.array([0, 0, 1, 1, 1]) / 3)
        assert set(drawn.tolist()) <= {2, 3, 4}
        (left,) = set(range(2, 5)) - set(drawn.tolist())
        vals.append(w1(h[drawn], [h[left]]))
    assert got.mean == pytest.approx(np.mean(vals), abs=1e-12)


# ------------------------------------------------------------------------------------------- scenario_floor
def test_scenario_floor_uses_the_scenario_metric():
    cats = np.array([1.0, 2.0, 3.0])
    h = np.repeat(cats, [20, 12, 8])
    w = 1.0 + np.arange(40) % 3
    ordered = SimpleNamespace(ordered=True, support=cats)
    unordered = SimpleNamespace(ordered=False, support=[1, 2, 3])
    got = scenario_floor(ordered, h, n=7, repeats=3, rng=1)
    assert got == human_floor(h, n=7, repeats=3, rng=1) and got.metric == "w1"
    got_w = scenario_floor(ordered, h, n=7, repeats=3, rng=1, weights=w)
    assert got_w == human_floor(h, n=7, repeats=3, rng=1, weights=w) and got_w != got
    tv = scenario_floor(unordered, h, n=7, repeats=3, rng=1)
    assert tv == human_floor(h, n=7, repeats=3, rng=1, categories=cats) and tv.metric == "tv"
    tv_w = scenario_floor(unordered, h, n=7, repeats=3, rng=1, weights=w)
    assert tv_w == human_floor(h, n=7, repeats=3, rng=1, categories=cats, weights=w) and tv_w != tv
    assert scenario_floor(unordered, h, n=7, rng=1).repeats == 10


# --------------------------------------------------------------------------------------- inverse_cdf_sample
def test_inverse_cdf_takes_the_first_index_whose_cdf_exceeds_u():
    # CDF 0.25, 0.5, 1.0: u equal to a CDF value goes to the next index ("CDF(s) > u")
    rng = ScriptedRng([0.0, 0.25, 0.4, 0.5, 0.99])
    got = inverse_cdf_sample([1.0, 1.0, 2.0], 5, rng)  # unnormalised: renormalised here
    assert got.tolist() == [0, 1, 1, 2, 2] and rng.sizes == [5]
    # a zero-probability first answer is never drawn, not even for u = 0
    assert inverse_cdf_sample([0.0, 0.5, 0.5], 2, ScriptedRng([0.0, 0.5])).tolist() == [1, 2]


def test_inverse_cdf_last_index_even_when_rounding_leaves_the_cdf_below_one():
    p = np.full(10, 0.1)
    assert np.cumsum(p / p.sum())[-1] < 1.0  # the rounding this guards against
    u = np.nextafter(1.0, 0.0)
    assert inverse_cdf_sample(p, 1, ScriptedRng([u])).tolist() == [9]


def test_inverse_cdf_is_the_seeded_generator_draw():
    p = np.array([0.2, 0.0, 0.5, 0.3])
    got = inverse_cdf_sample(p, 50, np.random.default_rng(9))
    u = np.random.default_rng(9).random(50)
    expected = (u[:, None] >= np.cumsum(p)[None, :]).sum(axis=1)
    assert got.shape == (50,) and got.tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("pmf", "shape"),
    [([[0.5, 0.5]], r"\(1, 2\)"), ([], r"\(0,\)"), ([0.5, -0.1, 0.6], r"\(3,\)"), ([np.inf, 1.0], r"\(2,\)"),
     ([np.nan, 1.0], r"\(2,\)"), ([0.0, 0.0], r"\(2,\)"), ([-1.0, 0.5], r"\(2,\)")],
)  # fmt: skip
def test_inverse_cdf_refuses_a_bad_pmf(pmf, shape):
    with pytest.raises(ValueError, match=rf"non-negative finite vector with positive mass, got shape {shape}"):
        inverse_cdf_sample(pmf, 3, np.random.default_rng(0))


# --------------------------------------------------------------------------------------- score_distribution
SUP5 = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
TEST5 = np.array([1.0, 1.0, 2.0, 3.0, 5.0, 5.0, 4.0, 2.0, 1.0, 3.0])
PMF5 = np.array([0.1, 0.2, 0.4, 0.3, 0.0])


def _draws(p, n, repeats, seed):
    """The sampled agents' answer indices: ``repeats`` inverse-CDF blocks of one seeded generator."""
    gen = np.random.default_rng(seed)
    cdf = np.cumsum(np.asarray(p) / np.sum(p))
    return [np.minimum((gen.random(n)[:, None] >= cdf[None, :]).sum(axis=1), len(p) - 1) for _ in range(repeats)]


def test_w1_scores_exact_and_sampled():
    got = score_distribution(PMF5, SUP5, TEST5, n=6, repeats=3, rng=8)
    sampled = [w1(SUP5[i], TEST5) for i in _draws(PMF5, 6, 3, 8)]
    assert got == pytest.approx(
        {
            "metric": "w1",
            "w1_exact": w1(SUP5, TEST5, PMF5),
            "w1_sampled_mean": float(np.mean(sampled)),
            "w1_sampled_sd": float(np.std(sampled, ddof=1)),
            "n_sampled": 6,
            "repeats": 3,
        },
        abs=1e-12,
    )
    assert got["w1_sampled_sd"] > 0
    one = score_distribution(PMF5, SUP5, TEST5, n=6, repeats=1, rng=8)
    assert one["w1_sampled_sd"] == 0.0 and one["w1_sampled_mean"] == pytest.approx(sampled[0], abs=1e-12)
    two = score_distribution(PMF5, SUP5, TEST5, n=6, repeats=2, rng=8)
    assert two["w1_sampled_sd"] == pytest.approx(np.std(sampled[:2], ddof=1), abs=1e-12) and sampled[0] != sampled[1]
    assert score_distribution(PMF5, SUP5, TEST5, n=6, rng=8)["repeats"] == 10  # default repeats
    gen = np.random.default_rng(8)  # a generator is used as given
    assert score_distribution(PMF5, SUP5, TEST5, n=6, repeats=3, rng=gen) == got
    # an unnormalised pmf is renormalised
    assert score_distribution(2 * PMF5, SUP5, TEST5, n=6, repeats=3, rng=8) == pytest.approx(got, abs=1e-12)


def test_weighted_w1_scores_equal_repeated_rows():
    w = np.array([1, 2, 1, 3, 1, 1, 2, 1, 1, 2], dtype=float)
    rep = np.repeat(TEST5, w.astype(int))
    got = score_distribution(PMF5, SUP5, TEST5, n=5, repeats=2, rng=1, test_weights=w)
    ref = score_distribution(PMF5, SUP5, rep, n=5, repeats=2, rng=1)
    assert got == pytest.approx(ref, abs=1e-12)
    assert got["w1_exact"] == pytest.approx(w1(SUP5, rep, PMF5), abs=1e-12)
    assert got["w1_exact"] != pytest.approx(w1(SUP5, TEST5, PMF5), abs=1e-3)


def test_tv_scores_exact_sampled_and_gaps():
    cats = np.array([1.0, 2.0, 3.0, 4.0])
    test = np.repeat(cats, [5, 3, 2, 0])  # the last category has no human and no probability
    pmf = np.array([2.0, 1.0, 1.0, 0.0])  # unnormalised: 0.5, 0.25, 0.25, 0
    q = np.array([0.5, 0.3, 0.2, 0.0])
    got = score_distribution(pmf, cats, test, n=4, repeats=3, rng=2, ordered=False)
    p = pmf / pmf.sum()
    sampled = [0.5 * np.abs(np.bincount(i, minlength=4) / 4 - q).sum() for i in _draws(pmf, 4, 3, 2)]
    gaps = got.pop("category_gaps_exact")
    assert isinstance(gaps, list) and gaps == pytest.approx((p - q).tolist(), abs=1e-12)
    assert got == pytest.approx(
        {
            "metric": "tv",
            "tv_exact": 0.05,
            "simbench_s_exact": 100 * (1 - 0.05 / 0.3),  # TV to uniform over 4 categories: 0.3
            "tv_sampled_mean": float(np.mean(sampled)),
            "tv_sampled_sd": float(np.std(sampled, ddof=1)),
            "n_sampled": 4,
            "repeats": 3,
        },
        abs=1e-12,
    )
    assert got["tv_sampled_sd"] > 0
    one = score_distribution(pmf, cats, test, n=4, repeats=1, rng=2, ordered=False)
    assert one["tv_sampled_sd"] == 0.0 and one["tv_sampled_mean"] == pytest.approx(sampled[0], abs=1e-12)
    two = score_distribution(pmf, cats, test, n=4, repeats=2, rng=2, ordered=False)
    assert two["tv_sampled_sd"] == pytest.approx(np.std(sampled[:2], ddof=1), abs=1e-12) and sampled[0] != sampled[1]
    # survey weights make the test frequencies weighted
    w = np.r_[np.ones(5), np.full(3, 2.0), np.full(2, 3.0)]  # weighted: 5/17, 6/17, 6/17
    tw = score_distribution(pmf, cats, test, n=4, repeats=1, rng=2, ordered=False, test_weights=w)
    qw = np.array([5, 6, 6, 0]) / 17
    assert tw["tv_exact"] == pytest.approx(0.5 * np.abs(p - qw).sum(), abs=1e-12)
    assert tw["category_gaps_exact"] == pytest.approx((p - qw).tolist(), abs=1e-12)


@given(
    counts=st.lists(st.integers(0, 5), min_size=3, max_size=3).filter(lambda c: sum(c) > 0),
    pmf=st.lists(st.integers(0, 4), min_size=3, max_size=3).filter(lambda c: sum(c) > 0),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=25, deadline=None)
def test_tv_is_in_unit_interval_and_weights_equal_repeated_rows(counts, pmf, seed):
    cats = np.array([1.0, 2.0, 3.0])
    base = cats.copy()  # one human per category, weighted by the counts (zero weights allowed)
    rep = np.repeat(cats, counts)
    a = score_distribution(pmf, cats, base, n=3, repeats=2, rng=seed, ordered=False, test_weights=counts)
    b = score_distribution(pmf, cats, rep, n=3, repeats=2, rng=seed, ordered=False)
    assert a.pop("category_gaps_exact") == pytest.approx(b.pop("category_gaps_exact"), abs=1e-12)
    assert a.pop("simbench_s_exact") == pytest.approx(b.pop("simbench_s_exact"), abs=1e-9, nan_ok=True)
    assert a == pytest.approx(b, abs=1e-12)
    for k in ("tv_exact", "tv_sampled_mean"):
        assert 0.0 <= a[k] <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test": np.ones((3, 2))}, r"non-empty vector, got shape \(3, 2\)"),
        ({"test": []}, r"non-empty vector, got shape \(0,\)"),
        ({"pmf": [0.5, 0.5]}, r"pmf has shape \(2,\) but support has shape \(5,\)"),
        ({"n": 0}, r"n and repeats must be >= 1, got n=0, repeats=2"),
        ({"repeats": 0}, r"n and repeats must be >= 1, got n=3, repeats=0"),
        ({"test_weights": np.ones(4)}, r"test_weights has shape \(4,\), expected \(10,\)"),
    ],
)
def test_score_distribution_refuses_bad_input(kwargs, message):
    args = {"pmf": PMF5, "support": SUP5, "test": TEST5, "n": 3, "repeats": 2, "rng": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        score_distribution(**args)


def test_score_distribution_accepts_one_human_one_agent_one_repeat():
    got = score_distribution([0.0, 1.0], [0.0, 1.0], [0.0], n=1, repeats=1, rng=0)
    assert got["w1_exact"] == 1.0 and got["w1_sampled_mean"] == 1.0 and got["w1_sampled_sd"] == 0.0


# ---------------------------------------------------------------------------------------------- score_vectors
H_VEC = np.random.default_rng(0).integers(1, 6, size=(30, 2)).astype(float)
S_VEC = np.random.default_rng(1).integers(1, 6, size=(8, 2)).astype(float)


def _replay_vectors(sim, human, n, repeats, seed, metrics, weights=None):
    """Replay the documented protocol: per repeat, the sim rows, one metric seed, then a human permutation."""
    gen = np.random.default_rng(seed)
    sims, floors = {m: [] for m in metrics}, {m: [] for m in metrics}
    for _ in range(repeats):
        if weights is None:
            rows = gen.choice(sim.shape[0], size=n, replace=n > sim.shape[0])
        else:
            cdf = np.cumsum(np.asarray(weights) / np.sum(weights))
            rows = np.minimum((gen.random(n)[:, None] >= cdf).sum(axis=1), sim.shape[0] - 1)
        s = int(gen.integers(2**31 - 1))
        for r in score_table(sim[rows], human, metrics=metrics, seed=s):
            if r["dimension"] is None:
                sims[r["metric"]].append(r["value"])
        perm = gen.permutation(human.shape[0])
        for r in score_table(human[perm[:n]], human[perm[n:]], metrics=metrics, seed=s):
            if r["dimension"] is None:
                floors[r["metric"]].append(r["value"])
    return sims, floors


def test_score_vectors_replays_the_protocol():
    metrics = ("amw", "sliced_w", "mmd")
    got = score_vectors(S_VEC, H_VEC, n=10, repeats=3, rng=4, metrics=metrics)  # n > K: with replacement
    sims, floors = _replay_vectors(S_VEC, H_VEC, 10, 3, 4, metrics)
    assert set(got) == {"n", "repeats", *metrics} and got["n"] == 10 and got["repeats"] == 3
    for m in metrics:
        assert got[m] == pytest.approx(
            {
                "sampled_mean": np.mean(sims[m]),
                "sampled_sd": np.std(sims[m], ddof=1),
                "floor_mean": np.mean(floors[m]),
                "floor_sd": np.std(floors[m], ddof=1),
            },
            abs=1e-12,
        )
        assert got[m]["sampled_sd"] > 0 and got[m]["floor_sd"] > 0
    # the floor really is n humans against the others (AMW computed directly)
    gen = np.random.default_rng(4)
    gen.choice(8, size=10, replace=True)
    gen.integers(2**31 - 1)
    perm = gen.permutation(30)
    one = score_vectors(S_VEC, H_VEC, n=10, repeats=1, rng=4, metrics=("amw",))
    assert one["amw"]["floor_mean"] == pytest.approx(
        average_marginal_wasserstein(H_VEC[perm[:10]], H_VEC[perm[10:]]), abs=1e-12
    )
    assert one["amw"]["floor_sd"] == 0.0 and one["amw"]["sampled_sd"] == 0.0
    two = score_vectors(S_VEC, H_VEC, n=10, repeats=2, rng=4, metrics=("amw",))
    assert two["amw"]["sampled_sd"] == pytest.approx(np.std(sims["amw"][:2], ddof=1), abs=1e-12)
    assert two["amw"]["floor_sd"] == pytest.approx(np.std(floors["amw"][:2], ddof=1), abs=1e-12)
    assert two["amw"]["sampled_sd"] > 0 and two["amw"]["floor_sd"] > 0


def test_score_vectors_without_weights_draws_distinct_rows_when_it_can():
    # n == K without replacement: every repeat scores all K rows, so the sampled score has no spread
    got = score_vectors(S_VEC, H_VEC, n=8, repeats=3, rng=0, metrics=("amw",))
    assert got["amw"]["sampled_mean"] == pytest.approx(average_marginal_wasserstein(S_VEC, H_VEC), abs=1e-12)
    assert got["amw"]["sampled_sd"] == pytest.approx(0.0, abs=1e-12)


def test_score_vectors_weights_draw_by_inverse_cdf():
    w = np.array([0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 1.0, 0.0])  # unnormalised
    got = score_vectors(S_VEC, H_VEC, n=6, repeats=2, rng=3, weights=w, metrics=("amw",))
    sims, floors = _replay_vectors(S_VEC, H_VEC, 6, 2, 3, ("amw",), weights=w)
    assert got["amw"]["sampled_mean"] == pytest.approx(np.mean(sims["amw"]), abs=1e-12)
    assert got["amw"]["floor_mean"] == pytest.approx(np.mean(floors["amw"]), abs=1e-12)


def test_score_vectors_defaults_to_every_metric():
    got = score_vectors(S_VEC, H_VEC, n=5, repeats=1, rng=0)
    assert set(got) == {"n", "repeats", *VECTOR_METRICS}
    assert VECTOR_METRICS == ("amw", "frechet", "sliced_w", "mmd", "corr_mae")


def test_score_vectors_accepts_the_extreme_n():
    assert score_vectors(S_VEC, H_VEC, n=29, repeats=1, rng=0, metrics=("amw",))["n"] == 29
    assert score_vectors(S_VEC, H_VEC, n=1, repeats=1, rng=0, metrics=("amw",))["n"] == 1
    ok = score_vectors(S_VEC, H_VEC, n=2, repeats=1, rng=0, weights=np.r_[0.5, np.zeros(7)], metrics=("amw",))
    assert ok["amw"]["sampled_mean"] == pytest.approx(average_marginal_wasserstein(S_VEC[[0, 0]], H_VEC))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sim": np.ones(8)}, r"sim \(8,\) and human_test \(30, 2\) must be \(K, D\) and \(m, D\) with the same D"),
        ({"human_test": np.ones(30)}, r"sim \(8, 2\) and human_test \(30,\)"),
        ({"sim": np.ones((8, 3))}, r"sim \(8, 3\) and human_test \(30, 2\)"),
        ({"n": 0}, r"n = 0 must be in \[1, 29\] \(fewer than the 30 test humans\)"),
        ({"n": 30}, r"n = 30 must be in \[1, 29\]"),
        ({"repeats": 0}, r"repeats must be >= 1, got 0"),
        ({"weights": np.ones(7)}, r"weights must be non-negative with shape \(8,\), got \(7,\)"),
        ({"weights": -np.ones(8)}, r"weights must be non-negative with shape \(8,\), got \(8,\)"),
        ({"weights": np.zeros(8)}, r"weights must be non-negative with shape \(8,\), got \(8,\)"),
    ],
)
def test_score_vectors_refuses_bad_input(kwargs, message):
    args = {"sim": S_VEC, "human_test": H_VEC, "n": 3, "repeats": 1, "rng": 0, "metrics": ("amw",)} | kwargs
    with pytest.raises(ValueError, match=message):
        score_vectors(**args)


# ------------------------------------------------------------------------------------- simulate_score_vectors
@dataclass(frozen=True)
class Part:
    """A one-dimensional part: questions with answers ``low..high``, scored as the sum (or a given function)."""

    name: str
    n_questions: int
    low: int = 1
    high: int = 3

    def questions(self):
        a = IntegerAnswers(low=self.low, high=self.high)
        return tuple(
            Question(id=f"{self.name}{j}", prompt=f"Question {j}?", answers=a) for j in range(self.n_questions)
        )

    def scores(self, answers):
        return np.asarray(answers).sum(axis=1)


def test_simulated_agents_answer_by_inverse_cdf_per_question():
    # components by u: 0 -> k0, 0.5 -> k1 (CDF 0.5 is not > 0.5), 0.25 -> k0, 0.75 -> k1
    comp_u = [0.0, 0.5, 0.25, 0.75]
    probs_a = np.zeros((2, 2, 4))  # C = 4 > 3 answers: the padding column is ignored
    probs_a[0, 0] = [2.0, 2.0, 0.0, 9.0]  # unnormalised: CDF 0.5, 1, 1
    probs_a[1, 0] = [0.0, 0.0, 1.0, 0.0]
    probs_a[0, 1] = [-0.5, 1.0, 0.5, 0.0]  # a negative entry is clipped: CDF 0, 2/3, 1
    probs_a[1, 1] = [1.0, 0.0, 0.0, 0.0]
    probs_b = np.zeros((2, 1, 3))
    probs_b[0, 0] = [0.0, 0.0, 1.0]
    probs_b[1, 0] = [0.0, 1.0, 0.0]
    rng = ScriptedRng(comp_u, [0.5, 0.0, 0.49, 0.9], [0.0, 0.7, 0.6, 0.0], [0.1, 0.2, 0.3, 0.4])
    got = simulate_score_vectors([1.0, 1.0], [Part("a", 2), Part("b", 1)], [probs_a, probs_b], 4, rng)
    # a, question 0: agent0 k0 u=.5 -> 2; agent1 k1 -> 3; agent2 k0 u=.49 -> 1; agent3 k1 -> 3
    # a, question 1: agent0 k0 u=0 -> 2; agent1 k1 -> 1; agent2 k0 u=.6 -> 2 (unclipped CDF .5 gives 3); agent3 k1 -> 1
    # b: k0 -> 3, k1 -> 2
    assert got.tolist() == [[4.0, 3.0], [4.0, 2.0], [3.0, 3.0], [4.0, 2.0]]
    assert got.dtype == np.float64 and rng.sizes == [4, 4, 4, 4]


def test_simulated_answers_reach_the_last_value_despite_rounding():
    probs = np.ones((1, 1, 10))  # CDF ends just below 1 in floating point
    part = Part("r", 1, low=1, high=10)
    got = simulate_score_vectors([1.0], [part], [probs], 1, ScriptedRng([0.3], [np.nextafter(1.0, 0.0)]))
    assert got.tolist() == [[10.0]]


def test_simulated_vectors_are_scored_by_each_part():
    @dataclass(frozen=True)
    class Doubled(Part):
        def scores(self, answers):
            return 2 * np.asarray(answers)[:, 0] - 1

    probs = np.zeros((2, 1, 3))
    probs[0, 0, 0] = probs[1, 0, 2] = 1.0
    v = simulate_score_vectors([0.25, 0.75], [Doubled("d", 1)], [probs], 2000, np.random.default_rng(0))
    assert v.shape == (2000, 1) and set(v[:, 0].tolist()) == {1.0, 5.0}
    assert abs((v[:, 0] == 1.0).mean() - 0.25) < 0.03  # 3 binomial SDs

    @dataclass(frozen=True)
    class Listed(Part):
        def scores(self, answers):
            return [int(a) for a in np.asarray(answers)[:, 0]]  # a plain list of ints

    got = simulate_score_vectors([0.25, 0.75], [Listed("l", 1)], [probs], 3, ScriptedRng([0.1, 0.5, 0.9], [0.0] * 3))
    assert got.dtype == np.float64 and got.tolist() == [[1.0], [3.0], [3.0]]


def test_simulate_score_vectors_refuses_mismatched_inputs():
    part = Part("p", 2)
    with pytest.raises(ValueError, match="need one item_probs array per part, got 1 parts and 2 arrays"):
        simulate_score_vectors([1.0], [part], [np.ones((1, 2, 3))] * 2, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="got 0 parts and 0 arrays"):
        simulate_score_vectors([1.0], [], [], 3, np.random.default_rng(0))
    for bad in (np.ones((2, 3)), np.ones((3, 2, 3)), np.ones((2, 1, 3))):
        shape = str(bad.shape).replace("(", r"\(").replace(")", r"\)")
        with pytest.raises(ValueError, match=rf"p: item_probs has shape {shape}, expected \(2, 2, C\)"):
            simulate_score_vectors([0.5, 0.5], [part], [bad], 3, np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------- score_records
def _w1_scores(n=5):
    return {"metric": "w1", "w1_exact": 0.12345678, "w1_sampled_mean": 1.23456789, "w1_sampled_sd": 0.3333333333,
            "n_sampled": n, "repeats": 4}  # fmt: skip


def test_score_record_has_every_column_exactly():
    floor = FloorResult(mean=0.98765432, sd=0.1111111111, n=5, repeats=4)
    rec = score_records(
        scenario="s",
        construction="em",
        scores=_w1_scores(),
        floor=floor,
        valid_mass=0.8,
        llm_calls=np.int64(12),
        n_crafted=np.int64(3),
        n_failed=2.0,
        fallback=1,
        failure_reasons={"z": 1, "a": 2},
        extra={"mean_exact": 2.123456789, "note": "kept", "count": 3},
    )
    assert rec == {
        "scenario": "s",
        "construction": "em",
        "metric": "w1",
        "w1_exact": 0.123457,
        "w1_sampled_mean": 1.234568,
        "w1_sampled_sd": 0.333333,
        "n_sampled": 5,
        "repeats": 4,
        "floor_mean": 0.987654,
        "floor_sd": 0.111111,
        "floor_n": 5,
        "valid_mass": 0.8,
        "parse_failure_rate": 0.2,
        "llm_calls": 12,
        "n_crafted": 3,
        "n_failed": 2,
        "fallback": True,
        "failure_reasons": {"a": 2, "z": 1},
        "mean_exact": 2.123457,
        "note": "kept",
        "count": 3,
    }
    assert list(rec["failure_reasons"]) == ["a", "z"]  # sorted, so reruns write identical files
    assert type(rec["llm_calls"]) is int and type(rec["n_crafted"]) is int and type(rec["n_failed"]) is int
    assert type(rec["fallback"]) is bool and type(rec["n_sampled"]) is int and type(rec["floor_n"]) is int


def test_score_record_defaults_and_digits():
    scores = _w1_scores()
    del scores["metric"]  # a score without a metric is W1
    floor = FloorResult(mean=0.5, sd=0.25, n=5, repeats=4)
    rec = score_records(scenario="s", construction="c", scores=scores, floor=floor, valid_mass=1, llm_calls=0,
                        digits=2)  # fmt: skip
    assert rec["metric"] == "w1" and rec["w1_exact"] == 0.12 and rec["w1_sampled_sd"] == 0.33
    assert rec["parse_failure_rate"] == 0.0 and rec["valid_mass"] == 1.0
    assert rec["n_crafted"] is None and rec["n_failed"] is None and rec["fallback"] is None
    assert rec["failure_reasons"] == {} and "category_gaps_exact" not in rec
    assert score_records(scenario="s", construction="c", scores=_w1_scores(), floor=floor, valid_mass=0.5,
                         llm_calls=0, fallback=False)["fallback"] is False  # fmt: skip
    assert score_records(scenario="s", construction="c", scores=_w1_scores(), floor=floor, valid_mass=0.5,
                         llm_calls=0, n_crafted=0, n_failed=0)["n_crafted"] == 0  # fmt: skip


def test_tv_record_rounds_the_gaps():
    scores = {"metric": "tv", "tv_exact": 0.1234567, "tv_sampled_mean": 0.2, "tv_sampled_sd": 0.05,
              "category_gaps_exact": [0.1234567, -0.1234567], "n_sampled": 3, "repeats": 2}  # fmt: skip
    floor = FloorResult(mean=0.3, sd=0.1, n=3, repeats=2, metric="tv")
    rec = score_records(scenario="u", construction="c", scores=scores, floor=floor, valid_mass=1.0, llm_calls=1)
    assert rec["category_gaps_exact"] == [0.123457, -0.123457] and rec["tv_exact"] == 0.123457
    assert rec["metric"] == "tv" and "w1_exact" not in rec


def test_score_record_errors_name_both_sides():
    floor = FloorResult(mean=0.5, sd=0.25, n=6, repeats=4)
    with pytest.raises(ValueError, match=r"^s/c: w1_sampled uses n=5 agents but the floor n=6; draw as many agents"):
        score_records(scenario="s", construction="c", scores=_w1_scores(5), floor=floor, valid_mass=1, llm_calls=0)
    tv_floor = FloorResult(mean=0.5, sd=0.25, n=5, repeats=4, metric="tv")
    with pytest.raises(
        ValueError, match=r"^s/c: the score is w1 but the floor is tv; compute the floor with scenario_floor"
    ):
        score_records(scenario="s", construction="c", scores=_w1_scores(5), floor=tv_floor, valid_mass=1, llm_calls=0)


# ------------------------------------------------------------------------------------------ score_population
class Toy:
    name = "toy"
    support = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    ordered = True


def test_score_population_record_is_the_mixture_scored():
    comps = np.array([[0.5, 0.5, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5, 0.5]])
    weights = np.array([0.25, 0.75])
    floor = FloorResult(mean=0.7, sd=0.1, n=6, repeats=3)
    rec, pmf = score_population(scenario=Toy, construction="mix", weights=weights, component_pmfs=comps,
                                valid_mass=[0.4, 0.8], test=TEST5, floor=floor, llm_calls=9, rng=5)  # fmt: skip
    mix = np.array([0.125, 0.125, 0.0, 0.375, 0.375])
    np.testing.assert_allclose(pmf, mix, atol=1e-15)
    mean = float(mix @ SUP5)  # 3.75
    sd = float(np.sqrt(mix @ (SUP5 - mean) ** 2))
    scores = score_distribution(mix, SUP5, TEST5, n=6, repeats=3, rng=5)
    assert rec == {
        "scenario": "toy",
        "construction": "mix",
        "metric": "w1",
        "w1_exact": round(w1(SUP5, TEST5, mix), 6),
        "w1_sampled_mean": round(scores["w1_sampled_mean"], 6),
        "w1_sampled_sd": round(scores["w1_sampled_sd"], 6),
        "n_sampled": 6,
        "repeats": 3,
        "floor_mean": 0.7,
        "floor_sd": 0.1,
        "floor_n": 6,
        "valid_mass": 0.7,
        "parse_failure_rate": 0.3,
        "llm_calls": 9,
        "n_crafted": None,
        "n_failed": None,
        "fallback": None,
        "failure_reasons": {},
        "mean_exact": 3.75,
        "sd_exact": round(sd, 6),
        "human_test_mean": round(float(np.mean(TEST5)), 6),
    }
    assert rec["sd_exact"] == round(np.sqrt(0.125 * (2.75**2 + 1.75**2) + 0.375 * (0.25**2 + 1.25**2)), 6)


def test_score_population_passes_repeats_weights_rng_and_fit_info():
    comps = np.eye(5)
    weights = np.full(5, 0.2)
    floor = FloorResult(mean=0.7, sd=0.1, n=4, repeats=3)
    tw = np.arange(1.0, 11.0)
    info = {"n_crafted": 4, "n_failed": 1, "fallback": False, "failure_reasons": {"refused": 1}}
    rec, _ = score_population(scenario=Toy, construction="c", weights=weights, component_pmfs=comps,
                              valid_mass=np.ones(5), test=TEST5, floor=floor, llm_calls=0, rng=2, repeats=2,
                              fit_info=info, test_weights=tw)  # fmt: skip
    ref = score_distribution(np.full(5, 0.2), SUP5, TEST5, n=4, repeats=2, rng=2, test_weights=tw)
    assert rec["repeats"] == 2 and rec["w1_sampled_mean"] == round(ref["w1_sampled_mean"], 6)
    assert rec["w1_exact"] == round(w1(SUP5, np.repeat(TEST5, tw.astype(int)), np.full(5, 0.2)), 6)
    assert {k: rec[k] for k in info} == info


def test_score_population_on_unordered_categories_is_tv():
    class Cat:
        name = "cat"
        support = np.array([1.0, 2.0, 3.0])
        ordered = False

    test = np.repeat([1.0, 2.0, 3.0], [6, 3, 1])
    floor = FloorResult(mean=0.2, sd=0.05, n=4, repeats=2, metric="tv")
    rec, pmf = score_population(scenario=Cat, construction="c", weights=[1.0], component_pmfs=[[0.2, 0.3, 0.5]],
                                valid_mass=[1.0], test=test, floor=floor, llm_calls=0, rng=0)  # fmt: skip
    assert rec["metric"] == "tv" and rec["tv_exact"] == pytest.approx(0.4)
    assert rec["category_gaps_exact"] == pytest.approx([-0.4, 0.0, 0.4])


# ------------------------------------------------------------------------------------------ population_pmfs
def test_population_pmfs_reports_the_exact_distributions_and_costs(tmp_path):
    sc, _, _, _ = _mini(tmp_path, weighted=False)

    def dist(messages, answers):
        v = np.asarray(answers.values, dtype=float)
        return np.exp(-np.abs(v - 3.0)) if "high" in messages[0].content else np.exp(-np.abs(v - 1.0))

    class PerPersonaValidity:
        """The known model, with a valid mass that depends on the persona (0.5 for "low", 0.75 otherwise)."""

        def __init__(self):
            self.inner = KnownDistributionModel(dist)
            self.model_id = "per-persona"

        def answer_distribution(self, request):
            d = self.inner.answer_distribution(request)
            return replace(d, valid_mass=0.5 if "low" in request.messages[0].content else 0.75)

    model = PerPersonaValidity()
    pop = Population(
        personas=(
            Persona(id="p0", text="You answer high."),
            Persona(id="p1", text="You answer low."),
            Persona(id="p2", text="You answer high."),
        ),
        weights=np.array([0.5, 0.25, 0.25]),
        construction="toy",
    )
    out = population_pmfs(model, pop, sc, progress=False)
    hi, lo = np.exp(-np.array([2.0, 1.0, 0.0])), np.exp(-np.array([0.0, 1.0, 2.0]))
    expected = np.array([hi / hi.sum(), lo / lo.sum(), hi / hi.sum()])
    np.testing.assert_allclose(out["pmfs"], expected, atol=1e-12)
    np.testing.assert_allclose(out["item_probs"], expected[:, None, :], atol=1e-12)
    assert out["item_probs"].shape == (3, 1, 3) and out["pmfs"].shape == (3, 3)
    assert out["valid_mass"].shape == (3,) and out["valid_mass"].tolist() == [0.75, 0.5, 0.75]
    # two distinct system prompts, one question: 2 requests (the third persona shares the first's)
    assert out["requests"] == 2 and out["cached"] == 0 and out["backend_calls"] == 2 and model.inner.calls == 2
    words = sum(len(m.content.split()) for t in ("You answer high.", "You answer low.")
                for m in sc.questions()[0].messages(t))  # fmt: skip
    assert out["prompt_tokens"] == words and out["completion_tokens"] == 2
    assert set(out) == {"pmfs", "item_probs", "valid_mass", "requests", "cached", "backend_calls",
                        "prompt_tokens", "completion_tokens"}  # fmt: skip


def test_population_pmfs_renormalises_the_scenario_pmfs():
    class Counts:
        """A scenario whose pmfs are unnormalised integer counts, one row per persona, with a negative entry."""

        name = "counts"

        def questions(self):
            return Part("h", 1).questions()

        def pmfs(self, probs):
            return [[-1, 1, 3], [2, 2, 0]]  # clipped to 0, 1, 3 and 2, 2, 0, then each row normalised

    model = KnownDistributionModel(lambda m, a: np.ones(3))
    personas = (Persona(id="p", text="A."), Persona(id="q", text="B."))
    pop = Population(personas=personas, weights=np.array([0.5, 0.5]), construction="x")
    out = population_pmfs(model, pop, Counts(), progress=False)
    assert out["pmfs"].tolist() == [[0.0, 0.25, 0.75], [0.5, 0.5, 0.0]]


def test_population_pmfs_labels_its_progress(monkeypatch):
    import populations.evaluation as evaluation

    seen = []
    real = evaluation.answer_distributions

    def spy(*args, **kwargs):
        seen.append({k: kwargs[k] for k in ("progress", "desc")})
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "answer_distributions", spy)
    model = KnownDistributionModel(lambda m, a: np.ones(3))
    pop = Population(personas=(Persona(id="p", text=""),), weights=np.array([1.0]), construction="em")
    sc = SimpleNamespace(name="toy", questions=lambda: Part("h", 1).questions(), pmfs=lambda p: np.asarray(p)[:, 0])
    population_pmfs(model, pop, sc)
    population_pmfs(model, pop, sc, progress=False)
    assert seen == [{"progress": True, "desc": "toy em"}, {"progress": False, "desc": "toy em"}]


# ------------------------------------------------------------------------------------------ builder_fit_info
def test_builder_fit_info_reads_a_crafting_builder():
    crafted = SimpleNamespace(n_crafted_=5, n_failed_=2, fallback_=None, failure_reasons_={"refusal": 2})
    assert builder_fit_info(crafted) == {"n_crafted": 5, "n_failed": 2, "fallback": False,
                                         "failure_reasons": {"refusal": 2}}  # fmt: skip
    fell_back = SimpleNamespace(n_crafted_=0, n_failed_=4, fallback_="fixed_prompt", failure_reasons_=None)
    assert builder_fit_info(fell_back) == {"n_crafted": 0, "n_failed": 4, "fallback": True, "failure_reasons": {}}
    partial = SimpleNamespace(n_crafted_=1)  # crafts, but set nothing else
    assert builder_fit_info(partial) == {"n_crafted": 1, "n_failed": None, "fallback": False, "failure_reasons": {}}


def test_builder_fit_info_of_a_builder_that_crafts_nothing():
    plain = SimpleNamespace(weights_=[1.0], fallback_="ignored", failure_reasons_={"x": 1})
    assert builder_fit_info(plain) == {"n_crafted": None, "n_failed": None, "fallback": None,
                                       "failure_reasons": {"x": 1}}  # fmt: skip
    assert builder_fit_info(object()) == {"n_crafted": None, "n_failed": None, "fallback": None,
                                          "failure_reasons": {}}  # fmt: skip
    reasons = {"a": 1}
    info = builder_fit_info(SimpleNamespace(failure_reasons_=reasons))
    assert info["failure_reasons"] == reasons and info["failure_reasons"] is not reasons  # a copy


def test_score_vectors_with_survey_weights_is_reproducible_from_its_seed():
    rng = np.random.default_rng(3)
    sim, human = rng.normal(size=(12, 2)), rng.normal(size=(10, 2))
    hw = np.linspace(1.0, 2.0, 10)
    a = score_vectors(sim, human, n=4, repeats=2, rng=5, metrics=("amw",), human_weights=hw)
    b = score_vectors(sim, human, n=4, repeats=2, rng=5, metrics=("amw",), human_weights=hw)
    assert a == b


def test_score_vectors_rejects_human_weights_of_the_wrong_length_even_when_positive():
    rng = np.random.default_rng(4)
    sim, human = rng.normal(size=(6, 2)), rng.normal(size=(10, 2))
    with pytest.raises(ValueError, match=r"^human_weights must be non-negative with shape \(10,\) and more than n = 3"):
        score_vectors(sim, human, n=3, repeats=1, rng=0, metrics=("amw",), human_weights=np.ones(12))
