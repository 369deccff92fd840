import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignment.categorical import category_gaps, category_pmf, total_variation


def _simplex(c: int):
    return (
        st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=c, max_size=c)
        .filter(lambda x: sum(x) > 1e-3)
        .map(lambda x: np.asarray(x) / np.sum(x))
    )


@st.composite
def _three(draw):
    c = draw(st.integers(2, 6))
    return draw(_simplex(c)), draw(_simplex(c)), draw(_simplex(c))


@settings(max_examples=200, deadline=None)
@given(_three())
def test_tv_is_a_metric(pqr):
    p, q, r = pqr
    assert total_variation(p, p) == 0.0
    assert total_variation(p, q) == pytest.approx(total_variation(q, p), abs=1e-12)
    assert 0.0 <= total_variation(p, q) <= 1.0 + 1e-12
    assert total_variation(p, r) <= total_variation(p, q) + total_variation(q, r) + 1e-12


@settings(max_examples=40, deadline=None)
@given(_three())
def test_tv_is_the_largest_set_difference(pqr):
    p, q, _ = pqr
    c = p.size
    best = max(
        abs(p[list(s)].sum() - q[list(s)].sum()) for m in range(1 << c) for s in [[i for i in range(c) if m >> i & 1]]
    )
    assert total_variation(p, q) == pytest.approx(best, abs=1e-12)


def test_tv_by_hand_and_batched():
    assert total_variation([1.0, 0.0, 0.0], [0.0, 0.0, 1.0]) == 1.0
    assert total_variation([0.5, 0.3, 0.2], [0.2, 0.3, 0.5]) == pytest.approx(0.3, abs=1e-12)
    batch = total_variation([[0.5, 0.5], [1.0, 0.0]], [[0.5, 0.5], [0.0, 1.0]])
    assert batch.tolist() == [0.0, 1.0]


def test_gaps_sum_to_zero_and_halve_to_tv():
    p, q = np.array([0.6, 0.1, 0.3]), np.array([0.2, 0.5, 0.3])
    g = category_gaps(p, q)
    assert g.tolist() == pytest.approx([0.4, -0.4, 0.0], abs=1e-12)
    assert 0.5 * np.abs(g).sum() == pytest.approx(total_variation(p, q), abs=1e-12)


def test_category_pmf_weighted():
    assert category_pmf([1, 2, 2], 3, weights=[2.0, 1.0, 1.0]).tolist() == [0.5, 0.5, 0.0]


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="same shape"):
        total_variation([0.5, 0.5], [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="not normalised"):
        total_variation([0.5, 0.6], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"not categories 1..3: \[4.0\]"):
        category_pmf([1, 4], 3)


def test_simbench_score_rescales_tv_against_a_uniform_guess():
    """S = 100 (1 − TV(p, q) / TV(u, q)) (SimBench, arXiv 2510.17516): 100 exact, 0 uniform, < 0 worse than uniform."""
    from alignment.categorical import simbench_score

    q = np.array([0.7, 0.2, 0.1])
    assert simbench_score(q, q) == pytest.approx(100.0)
    assert simbench_score(np.full(3, 1 / 3), q) == pytest.approx(0.0)
    tv_u = 0.5 * np.abs(np.full(3, 1 / 3) - q).sum()
    p = np.array([0.5, 0.3, 0.2])
    assert simbench_score(p, q) == pytest.approx(100 * (1 - 0.5 * np.abs(p - q).sum() / tv_u))
    assert simbench_score(np.array([0.0, 0.1, 0.9]), q) < 0  # the human's reference is q, not p: order matters
    assert np.isnan(simbench_score(q, np.full(3, 1 / 3)))
    with pytest.raises(ValueError, match="one question"):
        simbench_score(np.tile(q, (2, 1)), np.tile(q, (2, 1)))
