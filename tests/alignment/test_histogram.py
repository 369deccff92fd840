import numpy as np
import pytest
from numpy.testing import assert_allclose

from alignment import mixture_pmf, pmf_from_samples, sample_from_pmf


def test_pmf_from_samples_counts_and_weights():
    assert_allclose(pmf_from_samples([1, 1, 3], [1, 2, 3]), [2 / 3, 0, 1 / 3])
    assert_allclose(pmf_from_samples([1, 3], [1, 2, 3], weights=[3.0, 1.0]), [0.75, 0, 0.25])


def test_pmf_from_samples_rejects_off_support():
    with pytest.raises(ValueError, match=r"not on support.*2\.5"):
        pmf_from_samples([1, 2.5], [1, 2, 3])


@pytest.mark.parametrize(
    ("values", "support", "weights", "match"),
    [
        ([], [1, 2], None, "values is empty"),
        ([1, np.nan], [1, 2], None, "values contains NaN"),
        ([1, 2], [2, 1], None, "strictly increasing"),
        ([1, 2], [1, 2], [1.0, -1.0], "negative"),
        ([1, 2], [1, 2], [1.0], r"weights must have shape \(2,\)"),
    ],
)
def test_pmf_from_samples_bad_input(values, support, weights, match):
    with pytest.raises(ValueError, match=match):
        pmf_from_samples(values, support, weights)


def test_mixture_pmf_is_a_pmf_and_validates():
    rng = np.random.default_rng(0)
    comps = rng.dirichlet(np.ones(7), size=4)
    w = rng.dirichlet(np.ones(4))
    mix = mixture_pmf(w, comps)
    assert_allclose(mix.sum(), 1.0)
    assert_allclose(mix, (w[:, None] * comps).sum(0))
    with pytest.raises(ValueError, match="weights is not normalised"):
        mixture_pmf(w * 2, comps)
    with pytest.raises(ValueError, match=r"weights must have shape \(4,\)"):
        mixture_pmf(w[:3] / w[:3].sum(), comps)
    with pytest.raises(ValueError, match="component_pmfs is not normalised"):
        mixture_pmf(w, comps * 1.1)


def test_sample_from_pmf_frequencies_and_determinism():
    pmf = np.array([0.2, 0.5, 0.3])
    draws = sample_from_pmf(pmf, [1, 2, 3], 20000, np.random.default_rng(1))
    assert_allclose(pmf_from_samples(draws, [1, 2, 3]), pmf, atol=0.02)
    again = sample_from_pmf(pmf, [1, 2, 3], 20000, np.random.default_rng(1))
    np.testing.assert_array_equal(draws, again)
    with pytest.raises(ValueError, match=r"pmf must have shape \(3,\)"):
        sample_from_pmf([0.5, 0.5], [1, 2, 3], 5, np.random.default_rng(0))


def test_sample_mixture_bad_input_names_the_argument():
    from alignment import sample_mixture

    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"component_pmfs must have shape \(K, S\) with S = 2, got shape \(1, 3\)"):
        sample_mixture([1.0], [[0.2, 0.3, 0.5]], [0, 1], 3, rng=rng)
    with pytest.raises(ValueError, match="component_pmfs is not normalised"):
        sample_mixture([1.0], [[0.2, 0.3]], [0, 1], 3, rng=rng)
    with pytest.raises(ValueError, match=r"weights must have shape \(1,\)"):
        sample_mixture([0.5, 0.5], [[0.5, 0.5]], [0, 1], 3, rng=rng)
    with pytest.raises(ValueError, match="support must be strictly increasing"):
        sample_mixture([1.0], [[0.5, 0.5]], [1, 0], 3, rng=rng)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        sample_mixture([1.0], [[0.5, 0.5]], [0, 1], 0, rng=rng)
    comp, ans = sample_mixture([1.0], [[0.5, 0.5]], [0, 1], 4, rng=rng)
    assert comp.dtype.kind == "i" and ans.dtype == np.float64 and comp.shape == ans.shape == (4,)
