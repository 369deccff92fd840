"""Social-influence metrics: the human figures of SOURCE.md from the data, invariants, and the raw-vs-log mutant."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from alignment.influence import (
    InfluencePanel,
    bootstrap_median_ci,
    diversity,
    diversity_ratio,
    geometric_mean_error,
    influence_summary,
    revision_weights,
    truth_in_range,
)
from scenarios.influence import get_influence


def _rng(cond, metric):
    return np.random.default_rng(zlib.crc32(f"{cond}/{metric}".encode()))


@pytest.fixture(scope="module")
def humans(data_dir):
    h = get_influence("lorenz2011").human_rounds(data_dir)
    return InfluencePanel(estimates=h.estimates, conditions=h.conditions, truth=h.truth, groups=h.groups)


def test_the_human_figures_of_source_md_are_reproduced(humans):
    assert humans.estimates.shape == (72, 12, 5)
    rows = {s.condition: s for s in influence_summary(humans, _rng, n_boot=200)}
    assert [rows[c].groups for c in ("no", "aggregated", "full")] == [24, 24, 24]
    assert round(rows["no"].diversity_ratio[0], 2) == 1.00
    assert round(rows["aggregated"].diversity_ratio[0], 2) == 0.22
    assert round(rows["full"].diversity_ratio[0], 2) == 0.26
    errors = {c: (round(rows[c].error_first[0], 2), round(rows[c].error_last[0], 2)) for c in rows}
    assert errors == {"no": (0.63, 0.43), "aggregated": (0.85, 0.39), "full": (0.47, 0.52)}
    # range reduction: the truth falls outside the range more often in the last round under information
    for c in ("aggregated", "full"):
        assert rows[c].truth_in_range_last < rows[c].truth_in_range_first
    assert rows["no"].alpha[0] < 0.15 < rows["full"].alpha[0] < rows["aggregated"].alpha[0]
    for s in rows.values():
        med, lo, hi = s.diversity_ratio
        assert lo <= med <= hi and s.trajectory[0] == 1.0 and s.trajectory[-1] == pytest.approx(med, rel=0.5)


def test_diversity_is_on_log_estimates_clipped_at_one():
    x = np.array([[[10.0, 100.0], [1000.0, 1000.0], [0.2, 1.0]]])  # 0.2 counts as 1
    logs = np.log([[10.0, 100.0], [1000.0, 1000.0], [1.0, 1.0]])
    assert diversity(x)[0].tolist() == pytest.approx(logs.var(axis=0).tolist())


@settings(max_examples=40, deadline=None)
@given(arrays(float, (3, 5, 4), elements=st.floats(2.0, 1e6)), st.floats(1.5, 1e3))
def test_diversity_ratio_is_scale_free_and_error_shifts_with_truth(x, factor):
    # multiplying every estimate by one factor (a change of units) leaves log-variances unchanged: raw variances
    # would scale by factor² (the mutant that computes diversity on raw values fails here)
    assert diversity(x * factor) == pytest.approx(diversity(x), rel=1e-9, abs=1e-9)
    assert np.all(diversity(x) >= 0)
    truth = np.full(3, 50.0)
    np.testing.assert_allclose(geometric_mean_error(x * factor, truth * factor), geometric_mean_error(x, truth),
                               atol=1e-9)  # fmt: skip
    inside = truth_in_range(x, truth)
    assert inside.dtype == bool and inside.shape == (3, 4)


def test_diversity_ratio_of_a_known_group():
    x = np.array([[[10.0, 10.0], [1000.0, 100.0]]])
    assert diversity_ratio(x)[0] == pytest.approx(0.25)
    raw = np.var([10.0, 100.0]) / np.var([10.0, 1000.0])
    assert diversity_ratio(x)[0] != pytest.approx(raw)


def test_revision_weight_recovers_a_known_log_step():
    rng = np.random.default_rng(3)
    y1 = rng.normal(5, 1.5, size=(4, 12))
    g = y1.mean(axis=1, keepdims=True)
    y2 = y1 + 0.3 * (g - y1)
    x = np.exp(np.stack([y1, y2], axis=2))
    alpha = revision_weights(x)
    assert alpha.shape == (4, 12, 1)
    np.testing.assert_allclose(alpha, 0.3, atol=1e-9)


def test_bootstrap_ci_is_seeded_and_brackets_the_median():
    v = np.arange(30.0)
    a = bootstrap_median_ci(v, np.random.default_rng(1))
    assert a == bootstrap_median_ci(v, np.random.default_rng(1))
    assert a[1] <= a[0] <= a[2] and a[0] == 14.5
    assert all(np.isnan(bootstrap_median_ci(np.array([np.nan]), np.random.default_rng(0))))


def test_a_panel_with_mismatched_lengths_is_refused():
    with pytest.raises(ValueError, match="2 groups of estimates but 1 conditions"):
        InfluencePanel(estimates=np.ones((2, 3, 2)), conditions=("a",), truth=np.ones(2), groups=("g", "h"))
