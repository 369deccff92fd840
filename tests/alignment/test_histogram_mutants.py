"""Edge cases of alignment.histogram that a wrong implementation would get wrong (mutation-testing targets).

Covered: values outside the support on either side, the capped list of offending values in the error, error
messages naming the argument, pmfs normalised only within the validator's tolerance (1e-6) that must be
renormalised before ``Generator.choice`` (which demands a sum of 1 within ~1.5e-8), and the documented inverse-CDF
rule of ``sample_mixture`` (:math:`j^* = \\min\\{j : u < F(s_j)\\}`) driven by chosen uniforms.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from alignment import mixture_pmf, pmf_from_samples, sample_from_pmf, sample_mixture

# Off by 9e-7 from 1: accepted by the pmf check (atol 1e-6), rejected by Generator.choice unless renormalised.
NEARLY = 1.0 - 9e-7


class FixedUniforms:
    """Duck-typed generator: ``choice`` from a real seeded generator, ``random`` returns the given uniforms."""

    def __init__(self, u, seed: int = 0):
        self._u = np.asarray(u, dtype=np.float64)
        self._gen = np.random.default_rng(seed)

    def choice(self, *args, **kwargs):
        return self._gen.choice(*args, **kwargs)

    def random(self, n):
        assert n == self._u.shape[0]
        return self._u.copy()


# ------------------------------------------------------------------------------------------------- pmf_from_samples
@pytest.mark.parametrize("values", [[1.0, 9.0], [9.0], [3.0, 3.5], [0.0, 1.0]])
def test_pmf_from_samples_off_support_on_either_side_is_a_value_error(values):
    # Above the largest support value searchsorted returns S (out of range): it must still be a clear ValueError.
    with pytest.raises(ValueError, match=r"values \(shape \(\d,\)\) contain entries not on support \(shape \(3,\)\)"):
        pmf_from_samples(values, [1.0, 2.0, 3.0])


def test_pmf_from_samples_lists_at_most_ten_offending_values():
    values = np.arange(100.0, 112.0)  # 12 distinct values, none on the support
    with pytest.raises(ValueError, match="not on support") as info:
        pmf_from_samples(values, [1.0, 2.0])
    listed = info.value.args[0].split(": ", 1)[1]
    assert listed == str([float(x) for x in range(100, 110)])


def test_pmf_from_samples_last_support_value_counts():
    assert_array_equal(pmf_from_samples([3, 3, 1, 3], [1, 2, 3]), [0.25, 0.0, 0.75])


def test_pmf_from_samples_names_the_support_in_errors():
    with pytest.raises(ValueError, match=r"^support must be strictly increasing \(shape \(2,\)\)$"):
        pmf_from_samples([1.0], [2.0, 1.0])


# ------------------------------------------------------------------------------------------------- mixture_pmf
def test_mixture_pmf_rejects_a_one_dimensional_component_array_with_its_shape():
    with pytest.raises(ValueError, match=r"^component_pmfs must have shape \(K, S\), got shape \(2,\)$"):
        mixture_pmf([1.0], [0.5, 0.5])


def test_mixture_pmf_integer_inputs():
    assert_allclose(mixture_pmf([0.25, 0.75], [[1, 0], [0, 1]]), [0.25, 0.75], rtol=0, atol=1e-15)


# ------------------------------------------------------------------------------------------------- sample_from_pmf
def test_sample_from_pmf_names_support_and_n_in_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^support must be strictly increasing \(shape \(2,\)\)$"):
        sample_from_pmf([0.5, 0.5], [2, 1], 3, rng)
    with pytest.raises(ValueError, match=r"^n must be a positive integer, got 0$"):
        sample_from_pmf([0.5, 0.5], [1, 2], 0, rng)
    with pytest.raises(ValueError, match=r"^n must be a positive integer, got 2\.0$"):
        sample_from_pmf([0.5, 0.5], [1, 2], 2.0, rng)


def test_sample_from_pmf_renormalises_a_pmf_within_tolerance():
    pmf = np.array([0.3, 0.7 * NEARLY])  # sum 1 - 6.3e-7: valid for the checker, not for Generator.choice as is
    draws = sample_from_pmf(pmf, [1, 2], 4000, np.random.default_rng(3))
    expected = np.random.default_rng(3).choice([1.0, 2.0], size=4000, p=pmf / pmf.sum())
    assert_array_equal(draws, expected)
    assert abs(np.mean(draws == 1.0) - 0.3) < 0.03


# ------------------------------------------------------------------------------------------------- sample_mixture
def test_sample_mixture_renormalises_weights_within_tolerance():
    weights = np.array([0.4, 0.6 * NEARLY])
    comps = np.eye(2)
    comp, ans = sample_mixture(weights, comps, [10, 20], 4000, rng=np.random.default_rng(5))
    assert abs(np.mean(comp == 0) - 0.4) < 0.03
    assert_array_equal(ans, np.where(comp == 0, 10.0, 20.0))


def test_sample_mixture_inverse_cdf_rule_at_and_near_cdf_values():
    # F = [0.2, 0.2, 0.7, 1.0] for pmf [0.2, 0, 0.5, 0.3]: j* = min{j : u < F_j}.
    pmf = [[0.2, 0.0, 0.5, 0.3]]
    u = [0.0, 0.1999, 0.2, 0.45, 0.6999, 0.7, 0.9999999]
    comp, ans = sample_mixture([1.0], pmf, [1, 2, 3, 4], len(u), rng=FixedUniforms(u))
    assert_array_equal(comp, 0)
    # u = 0.2 = F_1 = F_2 lands on answer 3 (answer 2 has zero mass and is never drawn); u = 0.7 = F_3 on answer 4.
    assert_array_equal(ans, [1.0, 1.0, 3.0, 3.0, 3.0, 4.0, 4.0])


def test_sample_mixture_never_draws_a_zero_mass_answer_at_u_zero():
    # rng.random() can return exactly 0.0; F_1 = 0 then, and the first answer (mass 0) must not be drawn.
    comp, ans = sample_mixture([1.0], [[0.0, 1.0]], [5, 6], 3, rng=FixedUniforms([0.0, 0.0, 0.5]))
    assert_array_equal(ans, [6.0, 6.0, 6.0])


def test_sample_mixture_uses_the_renormalised_cdf():
    # pmf [0.5 - 9e-7, 0.5] sums to 1 - 9e-7; the normalised F_1 = (0.5 - 9e-7) / (1 - 9e-7) ~ 0.49999955.
    pmf = np.array([[0.5 - 9e-7, 0.5]])
    f1 = pmf[0, 0] / pmf.sum()
    u = [f1 - 2e-7, f1 - 5e-8, f1 + 5e-8]
    _, ans = sample_mixture([1.0], pmf, [0, 1], 3, rng=FixedUniforms(u))
    assert_array_equal(ans, [0.0, 0.0, 1.0])


def test_sample_mixture_component_cdfs_are_per_row():
    comps = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    comp, ans = sample_mixture([0.2, 0.3, 0.5], comps, [7, 8, 9], 3000, rng=np.random.default_rng(11))
    assert_array_equal(ans, np.array([7.0, 9.0, 8.0])[comp])
    assert_allclose(np.bincount(comp, minlength=3) / 3000, [0.2, 0.3, 0.5], atol=0.03)
