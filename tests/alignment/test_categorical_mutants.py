"""Exact values, types and messages of :mod:`alignment.categorical` (mutation-testing targets)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignment.categorical import category_gaps, category_pmf, total_variation


def test_tv_of_vectors_is_a_python_float_and_of_stacks_an_array():
    d = total_variation([0.25, 0.75], [0.75, 0.25])
    assert type(d) is float and d == 0.5
    batch = total_variation([[0.25, 0.75], [1.0, 0.0]], [[0.75, 0.25], [1.0, 0.0]])
    assert isinstance(batch, np.ndarray) and batch.shape == (2,) and batch.tolist() == [0.5, 0.0]


def test_shape_mismatch_message_names_both_shapes():
    msg = "p and q must have the same shape (..., C), got shapes (2,) and (1, 2)"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        total_variation([0.5, 0.5], [[0.5, 0.5]])
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        category_gaps([0.5, 0.5], [[0.5, 0.5]])


def test_inputs_are_named_p_and_q():
    with pytest.raises(ValueError, match=r"^q contains negative probabilities \(shape \(2,\)\)$"):
        category_gaps([0.5, 0.5], [1.5, -0.5])
    with pytest.raises(ValueError, match=r"^p contains negative probabilities \(shape \(2,\)\)$"):
        category_gaps([1.5, -0.5], [0.5, 0.5])


def test_gaps_are_p_minus_q():
    assert category_gaps([0.75, 0.25], [0.5, 0.5]).tolist() == [0.25, -0.25]


def test_category_pmf_counts_the_last_category_and_pads_empty_ones():
    assert category_pmf([1], 3).tolist() == [1.0, 0.0, 0.0]
    assert category_pmf([3, 3], 3).tolist() == [0.0, 0.0, 1.0]
    assert category_pmf([2.0, 1.0, 2.0, 2.0], 2).tolist() == [0.25, 0.75]


def test_category_pmf_weights_are_normalised():
    assert category_pmf([1, 2], 2, weights=[3.0, 1.0]).tolist() == [0.75, 0.25]


@pytest.mark.parametrize(("values", "bad"), [([1, 0], [0.0]), ([1, 4], [4.0]), ([1.5, 2], [1.5]), ([-1, 2], [-1.0])])
def test_category_pmf_rejects_non_categories(values, bad):
    msg = f"values (shape (2,)) hold entries that are not categories 1..3: {bad}"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        category_pmf(values, 3)


def test_category_pmf_lists_at_most_ten_bad_values():
    values = np.arange(10.0, 22.0)
    with pytest.raises(ValueError) as info:
        category_pmf(values, 3)
    assert str(info.value).endswith(f": {[float(v) for v in range(10, 20)]}")


def test_category_pmf_checks_its_arguments_by_name():
    with pytest.raises(ValueError, match=r"^n_categories must be a positive integer, got 0$"):
        category_pmf([1], 0)
    with pytest.raises(ValueError, match=r"^weights must have shape \(1,\) to match the samples, got shape \(2,\)$"):
        category_pmf([1], 2, weights=[1.0, 1.0])
    with pytest.raises(ValueError, match=r"^values is empty"):
        category_pmf([], 2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=30), st.integers(5, 8))
def test_category_pmf_is_the_frequency_of_each_category(values, c):
    p = category_pmf(values, c)
    assert p.shape == (c,)
    assert p.tolist() == [values.count(k) / len(values) for k in range(1, c + 1)]
    assert total_variation(p, p) == 0.0
