"""Survey weights (a scenario file's ``data.weight``): used by fitting, scoring and the floor, never ignored.

The reference everywhere is the same sample with each row repeated ``weight`` times: integer weights must give the
numbers the repeated rows give (exactly for exact quantities; in distribution for sampled ones).
"""

from __future__ import annotations

import numpy as np
import pytest

from populace_lm.fakes import KnownDistributionModel
from populations.aligned import AlignedPersonaBuilder
from populations.evaluation import human_floor, score_distribution, weighted_resample
from populations.mixture import PromptMixtureBuilder, default_temperature
from populations.mop import MixtureOfPersonasBuilder
from tests.populations.mixture_fakes import FakeScenario, noisy_crafter, peaked

SUPPORT = np.arange(101.0)


def _two_groups(n_low=400, n_high=400, seed=0):
    """Answers near 20 (weight 3 each) and near 80 (weight 1): weighted, 75% are low; unweighted, 50%."""
    rng = np.random.default_rng(seed)
    x = np.concatenate(
        [np.clip(np.rint(rng.normal(20, 3, n_low)), 0, 100), np.clip(np.rint(rng.normal(80, 3, n_high)), 0, 100)]
    )
    w = np.concatenate([np.full(n_low, 3.0), np.full(n_high, 1.0)])
    return x, w


def test_weighted_scores_equal_the_repeated_rows():
    x, w = _two_groups()
    repeated = np.repeat(x, w.astype(int))
    pmf = np.zeros(101)
    pmf[20] = 1.0
    a = score_distribution(pmf, SUPPORT, x, n=200, repeats=3, rng=0, test_weights=w)
    b = score_distribution(pmf, SUPPORT, repeated, n=200, repeats=3, rng=0)
    assert a["w1_exact"] == pytest.approx(b["w1_exact"], abs=1e-9)
    assert a["w1_sampled_mean"] == pytest.approx(b["w1_sampled_mean"], abs=1e-9)  # same agents, same reference
    unweighted = score_distribution(pmf, SUPPORT, x, n=200, repeats=3, rng=0)
    assert unweighted["w1_exact"] > a["w1_exact"] + 10  # half the mass is far away instead of a quarter
    cats = np.array([1.0, 2.0])
    tv = score_distribution(np.array([0.5, 0.5]), cats, np.array([1.0, 2.0]), n=1, repeats=1, rng=0, ordered=False,
                            test_weights=np.array([3.0, 1.0]))  # fmt: skip
    assert tv["tv_exact"] == pytest.approx(0.25)


def test_weighted_floor_draws_humans_by_weight():
    x, w = _two_groups(2000, 2000)
    # a human with weight 0 is never drawn and never in the reference
    w0 = w.copy()
    w0[x > 50] = 0.0
    f0 = human_floor(x, n=300, repeats=5, rng=0, weights=w0)
    low = x[x <= 50]
    assert f0.mean == pytest.approx(human_floor(low, n=300, repeats=20, rng=1).mean, rel=0.35)
    assert f0.mean < 1.0  # an unweighted floor on x would be about 0.8 * ... of the 60-point gap
    # weighted 3:1, a sample of n drawn by weight matches the weighted rest far better than an unweighted draw
    fw = human_floor(x, n=300, repeats=10, rng=0, weights=w)
    assert fw.mean < 3.0
    with pytest.raises(ValueError, match="at least n = 300 positive"):
        human_floor(x[:400], n=300, repeats=1, rng=0, weights=np.r_[np.ones(100), np.zeros(300)])


def test_weighted_resample_follows_the_weights():
    x, w = _two_groups(500, 500)
    r = weighted_resample(x, w, 0)
    assert r.shape == x.shape and abs((r < 50).mean() - 0.75) < 0.05
    assert weighted_resample(x, None, 0) is not None and np.array_equal(weighted_resample(x, None, 0), x)


def test_weighted_temperature_equals_repeated_rows():
    x, w = _two_groups(7, 5, seed=3)
    assert default_temperature(x, SUPPORT, 2, weights=w) == pytest.approx(
        default_temperature(np.repeat(x, w.astype(int)), SUPPORT, 2)
    )


def _em(values, sample_weight=None):
    return PromptMixtureBuilder(
        "em",
        n_components=4,
        max_iter=3,
        crafter=noisy_crafter(p_fail=0.0, p_wild=0.0, noise=1.0),
        respondent=KnownDistributionModel(peaked(3.0)),
        improve_rounds=0,
        progress=False,
        random_state=0,
    ).fit(FakeScenario(), values, sample_weight=sample_weight)


def test_prompt_mixture_fits_the_weighted_target():
    x, w = _two_groups()
    weighted, plain = _em(x, w), _em(x)
    low = lambda b: float(b.weights_ @ (np.asarray(b.component_pmfs_)[:, :50].sum(axis=1)))  # noqa: E731
    assert low(weighted) == pytest.approx(0.75, abs=0.08)
    assert low(plain) == pytest.approx(0.5, abs=0.08)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        _em(x, w[:-1])
    with pytest.raises(ValueError, match="negative"):
        _em(x, -w)


def test_mop_fits_the_weighted_target(tmp_path):
    import json

    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"id": f"p{i}", "text": f"Person {i}."}) + "\n" for i in range(4)))

    def dist(messages, answers):  # the exemplar's number sets the answer
        import re

        m = re.search(r"about (\d+)", messages[0].content)
        c = float(m.group(1)) if m else 50.0
        v = np.asarray(answers.values, dtype=float)
        return np.exp(-0.5 * ((v - c) / 3.0) ** 2) + 1e-12

    x, w = _two_groups()
    b = MixtureOfPersonasBuilder(
        respondent=KnownDistributionModel(dist), pool=str(pool), n_personas=4, n_exemplars=3, random_state=0,
        progress=False,
    ).fit(FakeScenario(), x, sample_weight=w)  # fmt: skip
    pmf = b.weights_ @ np.asarray(b.component_pmfs_)
    assert pmf[:50].sum() == pytest.approx(0.75, abs=0.08)


def test_aligned_resamples_the_humans_by_weight():
    x, w = _two_groups(300, 300)
    pool = np.r_[np.full(50, 20.0), np.full(50, 80.0)][:, None]
    b = AlignedPersonaBuilder("ot_only", n_select=40, random_state=0).fit_vectors(pool, x[:, None], sample_weight=w)
    assert b.weights_[:50].sum() == pytest.approx(0.75, abs=0.08)
    plain = AlignedPersonaBuilder("ot_only", n_select=40, random_state=0).fit_vectors(pool, x[:, None])
    assert plain.weights_[:50].sum() == pytest.approx(0.5, abs=0.08)


def test_weighted_vector_scores_see_only_the_weighted_humans():
    from populations.evaluation import score_vectors

    rng = np.random.default_rng(0)
    a = rng.normal([20.0, 30.0], 3.0, size=(600, 2))
    a[:, 1] = a[:, 0] + rng.normal(0, 1.0, 600)  # correlated dimensions
    b = rng.normal([80.0, 10.0], 3.0, size=(600, 2))  # far away, weight 0
    humans, w = np.vstack([a, b]), np.r_[np.ones(600), np.zeros(600)]
    sim = a[rng.permutation(600)]  # simulated agents exactly like the weighted humans
    kw = {"n": 200, "repeats": 3, "rng": 1, "metrics": ("amw", "corr_mae")}
    weighted = score_vectors(sim, humans, human_weights=w, **kw)
    plain = score_vectors(sim, humans, **kw)
    only_a = score_vectors(sim, a, **kw)
    assert weighted["amw"]["sampled_mean"] < 2.0 < plain["amw"]["sampled_mean"]
    # the floor draws only positive-weight humans and compares them with the rest of them: like the floor on a alone
    assert weighted["amw"]["floor_mean"] == pytest.approx(only_a["amw"]["floor_mean"], rel=0.6)
    assert plain["amw"]["floor_mean"] > 2 * weighted["amw"]["floor_mean"]  # a 50/50 mix of far groups is noisier
    with pytest.raises(ValueError, match=r"human_weights must be non-negative with shape \(1200,\)"):
        score_vectors(sim, humans, human_weights=w[:10], **kw)


def test_weighted_vector_floor_is_disjoint_seeded_and_validated():
    from populations.evaluation import score_vectors

    n = 40
    positive = np.column_stack([np.arange(n + 1.0), np.arange(n + 1.0)])  # n + 1 distinct weighted humans
    humans = np.vstack([positive, np.full((60, 2), 500.0)])  # and 60 with weight 0
    w = np.r_[np.ones(n + 1), np.zeros(60)]
    kw = {"n": n, "repeats": 4, "metrics": ("amw",)}
    a = score_vectors(positive, humans, rng=3, human_weights=w, **kw)
    # the floor's reference is the one positive human not drawn (copies of it): far from the n drawn ones. Had the
    # drawn humans stayed in the reference, the two samples would overlap and the distance would be small.
    assert a["amw"]["floor_mean"] > n / 8
    assert a == score_vectors(positive, humans, rng=3, human_weights=w, **kw)  # every draw flows from rng
    for bad, match in (
        (np.r_[np.ones(n), np.zeros(61)], r"more than n = 40 positive"),  # exactly n positive: nothing left
        (np.r_[-np.ones(1), np.ones(n + 1), np.zeros(59)], "non-negative"),
        (np.ones(5), r"shape \(101,\)"),
    ):
        with pytest.raises(ValueError, match=match):
            score_vectors(positive, humans, rng=3, human_weights=bad, **kw)
