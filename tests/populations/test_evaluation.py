"""The one evaluation module: split, disjoint floor, exact vs sampled W1, vector scores, records."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from alignment import average_marginal_wasserstein, wasserstein_1d
from populations.evaluation import (
    COLUMN_KINDS,
    FloorResult,
    floor_size,
    human_floor,
    inverse_cdf_sample,
    score_distribution,
    score_population,
    score_records,
    score_vectors,
    split_humans,
)
from scenarios.split import split_indices
from tests.populations.mixture_fakes import bimodal

SUPPORT = np.arange(101.0)


@cache
def _true_pmf(n: int = 400_000) -> np.ndarray:
    """The generating distribution of :func:`bimodal` (a huge sample's histogram)."""
    counts = np.bincount(bimodal(n, seed=99).astype(int), minlength=101)
    return counts / counts.sum()


@pytest.fixture(scope="module")
def halves():
    return split_humans(bimodal(20000), seed=0)


def test_split_is_the_one_row_split_for_values_and_vectors():
    x = np.arange(50.0)
    fit, test = split_humans(x, seed=4)
    fit_idx, test_idx = split_indices(50, seed=4)
    np.testing.assert_array_equal(fit, fit_idx)
    np.testing.assert_array_equal(test, test_idx)
    vf, vt = split_humans(np.column_stack([x, -x]), seed=4)  # response vectors: the same rows
    np.testing.assert_array_equal(vt[:, 0], test)
    assert not np.array_equal(split_humans(x, seed=5)[1], test)
    with pytest.raises(ValueError, match="leaves an empty half"):
        split_humans([1.0], seed=0)


def test_floor_compares_n_humans_with_the_remaining_humans():
    x = np.arange(40.0) ** 1.5  # distinct values: any overlap or wrong partition changes the distance
    got = human_floor(x, n=10, repeats=3, rng=7)
    rng = np.random.default_rng(7)
    expected = []
    for _ in range(3):
        perm = rng.permutation(40)
        expected.append(wasserstein_1d(x[perm[:10]], x[perm[10:]]))
    assert got == FloorResult(mean=float(np.mean(expected)), sd=float(np.std(expected, ddof=1)), n=10, repeats=3)
    with pytest.raises(ValueError, match="must be smaller than the number of humans"):
        human_floor(x, n=40, rng=0)
    assert floor_size(5000) == 1000 and floor_size(900) == 450
    with pytest.raises(ValueError, match="at least 2 test humans"):
        floor_size(1)


def test_vector_floor_is_amw_on_disjoint_rows():
    h = np.random.default_rng(0).normal(size=(60, 3))
    got = human_floor(h, n=20, repeats=1, rng=3)
    perm = np.random.default_rng(3).permutation(60)
    assert got.mean == pytest.approx(average_marginal_wasserstein(h[perm[:20]], h[perm[20:]]), abs=1e-12)


@pytest.mark.parametrize(("pmf", "only"), [([0, 1, 0], 1), ([1, 0, 0], 0), ([0, 0, 1], 2), ([0, 0.0, 5.0], 2)])
def test_inverse_cdf_never_draws_a_zero_probability_answer(pmf, only):
    idx = inverse_cdf_sample(pmf, 2000, np.random.default_rng(0))
    assert set(idx.tolist()) == {only}


def test_inverse_cdf_frequencies_match_the_pmf():
    p = np.array([0.1, 0.0, 0.6, 0.3])
    idx = inverse_cdf_sample(p, 100_000, np.random.default_rng(1))
    freq = np.bincount(idx, minlength=4) / idx.size
    assert np.abs(freq - p).max() < 0.006  # 4 binomial SDs at n = 1e5
    with pytest.raises(ValueError, match="positive mass"):
        inverse_cdf_sample([0.0, 0.0], 3, np.random.default_rng(0))


def test_a_perfect_model_sits_at_the_floor_only_when_sampled(halves):
    # The bimodal case: exact W1 of the true distribution is far below the sampled floor, so placing it
    # beside the floor makes any model look "better than humans". Sampled at the floor's n, it matches the floor.
    _, test = halves
    floor = human_floor(test, n=floor_size(test.size), repeats=30, rng=1)
    perfect = score_distribution(_true_pmf(), SUPPORT, test, n=floor.n, repeats=30, rng=2)
    # exact / floor ranges from 0.15 to 0.62 over split seeds 0-5 (the test half's mixture share varies): below it
    assert perfect["w1_exact"] < 0.75 * floor.mean
    assert 0.67 * floor.mean < perfect["w1_sampled_mean"] < 1.5 * floor.mean
    assert perfect["n_sampled"] == floor.n and perfect["repeats"] == 30
    shifted = np.roll(_true_pmf(), 3)  # a biased model: every answer 3 points higher
    biased = score_distribution(shifted, SUPPORT, test, n=floor.n, repeats=10, rng=2)
    assert biased["w1_sampled_mean"] > 2.0 * floor.mean


def test_sampled_score_is_seeded(halves):
    _, test = halves
    a = score_distribution(_true_pmf(), SUPPORT, test, n=300, repeats=4, rng=5)
    b = score_distribution(_true_pmf(), SUPPORT, test, n=300, repeats=4, rng=5)
    c = score_distribution(_true_pmf(), SUPPORT, test, n=300, repeats=4, rng=6)
    assert a == b and a != c
    with pytest.raises(ValueError, match="pmf has shape"):
        score_distribution([0.5, 0.5], SUPPORT, test, n=3, rng=0)


def test_score_vectors_sets_sampled_beside_a_disjoint_floor():
    rng = np.random.default_rng(0)
    human = rng.integers(1, 6, size=(1200, 3)).astype(float)
    same = rng.integers(1, 6, size=(400, 3)).astype(float)
    out = score_vectors(same, human, n=200, repeats=3, rng=1, metrics=("amw", "sliced_w"))
    assert out["n"] == 200 and out["repeats"] == 3
    for m in ("amw", "sliced_w"):
        assert 0.5 * out[m]["floor_mean"] < out[m]["sampled_mean"] < 2.0 * out[m]["floor_mean"]
    shifted = np.clip(same + 1, 1, 6)
    far = score_vectors(shifted, human, n=200, repeats=3, rng=1, metrics=("amw",))
    assert far["amw"]["sampled_mean"] > 5 * far["amw"]["floor_mean"]
    with pytest.raises(ValueError, match="fewer than the 1200 test humans"):
        score_vectors(same, human, n=1200, repeats=1, rng=0)


def test_score_vectors_honours_weights():
    human = np.random.default_rng(0).integers(1, 6, size=(300, 2)).astype(float)
    sim = np.array([[1.0, 1.0], [5.0, 5.0]])
    only_fives = score_vectors(sim, human, n=50, repeats=2, rng=0, weights=[0.0, 1.0], metrics=("amw",))
    direct = average_marginal_wasserstein(np.full((50, 2), 5.0), human)
    assert only_fives["amw"]["sampled_mean"] == pytest.approx(direct, abs=1e-9)


def test_records_refuse_a_sampled_score_of_another_n_and_name_every_column_kind(halves):
    _, test = halves
    floor = human_floor(test, n=500, repeats=2, rng=0)
    scores = score_distribution(_true_pmf(), SUPPORT, test, n=400, repeats=2, rng=0)
    with pytest.raises(ValueError, match="draw as many agents as the floor"):
        score_records(scenario="s", construction="c", scores=scores, floor=floor, valid_mass=1.0, llm_calls=0)
    scores = score_distribution(_true_pmf(), SUPPORT, test, n=500, repeats=2, rng=0)
    rec = score_records(
        scenario="s", construction="em", scores=scores, floor=floor, valid_mass=0.9, llm_calls=7, n_failed=2
    )
    assert set(rec) <= set(COLUMN_KINDS)
    assert rec["parse_failure_rate"] == pytest.approx(0.1) and rec["floor_n"] == rec["n_sampled"] == 500


def test_score_population_mixes_components_by_weight(halves):
    class Sc:
        name = "toy"
        support = SUPPORT
        ordered = True

    _, test = halves
    floor = human_floor(test, n=300, repeats=2, rng=0)
    a, b = np.zeros(101), np.zeros(101)
    a[20], b[80] = 1.0, 1.0
    rec, pmf = score_population(
        scenario=Sc,
        construction="mix",
        weights=[0.25, 0.75],
        component_pmfs=[a, b],
        valid_mass=[1.0, 0.6],
        test=test,
        floor=floor,
        llm_calls=2,
        rng=0,
    )
    assert pmf[20] == pytest.approx(0.25) and pmf[80] == pytest.approx(0.75)
    assert rec["mean_exact"] == pytest.approx(65.0) and rec["valid_mass"] == pytest.approx(0.7)


# --------------------------------------------------------------------------- unordered categories: TV, never W1
def test_unordered_scores_are_total_variation_with_category_gaps():
    cats = np.array([1.0, 2.0, 3.0])
    test = np.repeat(cats, [50, 30, 20])  # frequencies 0.5, 0.3, 0.2
    pmf = np.array([0.2, 0.3, 0.5])  # same mass moved from 1 to 3: W1 would be 0.6, TV is 0.3
    s = score_distribution(pmf, cats, test, n=40, repeats=5, rng=0, ordered=False)
    assert s["metric"] == "tv" and "w1_exact" not in s
    assert s["tv_exact"] == pytest.approx(0.3)
    assert s["category_gaps_exact"] == pytest.approx([-0.3, 0.0, 0.3])
    # relabelling the categories changes W1 but never TV
    s2 = score_distribution(pmf, np.array([1.0, 7.0, 9.0]), np.repeat([1.0, 7.0, 9.0], [50, 30, 20]), n=40,
                            repeats=5, rng=0, ordered=False)  # fmt: skip
    assert s2["tv_exact"] == s["tv_exact"] and s2["tv_sampled_mean"] == s["tv_sampled_mean"]
    exact = score_distribution(test_pmf := np.array([0.5, 0.3, 0.2]), cats, test, n=99, repeats=3, rng=1, ordered=False)
    assert exact["tv_exact"] == pytest.approx(0.0) and exact["tv_sampled_mean"] > 0  # 99 draws carry noise
    assert test_pmf.sum() == 1


def test_tv_floor_and_like_with_like_records():
    cats = np.array([1.0, 2.0, 3.0])
    test = np.repeat(cats, [500, 300, 200])
    floor = human_floor(test, n=100, repeats=4, rng=0, categories=cats)
    assert floor.metric == "tv" and 0 < floor.mean < 0.2
    w1_floor = human_floor(test, n=100, repeats=4, rng=0)
    assert w1_floor.metric == "w1"
    s = score_distribution(np.array([0.5, 0.3, 0.2]), cats, test, n=100, repeats=4, rng=0, ordered=False)
    rec = score_records(scenario="u", construction="c", scores=s, floor=floor, valid_mass=1.0, llm_calls=1)
    assert rec["metric"] == "tv" and "w1_exact" not in rec and rec["tv_sampled_mean"] > 0
    assert set(rec) <= set(COLUMN_KINDS)
    with pytest.raises(ValueError, match="the score is tv but the floor is w1"):
        score_records(scenario="u", construction="c", scores=s, floor=w1_floor, valid_mass=1.0, llm_calls=1)


# ------------------------------------------------------------------------------- the seeded entry points
def test_seeded_floor_is_the_floor_stream_of_the_scenario(data_dir):
    from populace_lm.seeds import seed_rng
    from populations.evaluation import scenario_floor, seeded_floor
    from scenarios.registry import get_scenario

    scenario = get_scenario("dictator", source=str(data_dir))
    test = scenario.human_values("test", seed=2, source=str(data_dir))
    got = seeded_floor(scenario, test, seed=2, n=50, repeats=4)
    want = scenario_floor(scenario, test, n=50, repeats=4, rng=seed_rng(2, "floor", "dictator"))
    assert got == want and got.n == 50 and got.repeats == 4
    assert seeded_floor(scenario, test, seed=3, n=50, repeats=4).mean != got.mean
    assert seeded_floor(scenario, test[:40], seed=2, n=1000, repeats=2).n == 20  # capped at half the test half


def test_population_fit_info_reads_the_metadata_and_the_builder_info_wins():
    from populations.evaluation import population_fit_info
    from populations.persona import Persona, Population

    one = (Persona(id="p", text="You are calm."),)
    crafted = Population(
        personas=one,
        weights=[1.0],
        construction="em",
        metadata={"n_crafted": 0, "n_failed": 3, "failure_reasons": {"no_prompt": 3}, "fallback": "no usable"},
    )
    assert population_fit_info(crafted) == {
        "n_crafted": 0,
        "n_failed": 3,
        "fallback": True,
        "failure_reasons": {"no_prompt": 3},
    }
    assert population_fit_info(crafted, {"n_failed": 5, "fallback": None})["n_failed"] == 5
    plain = Population(personas=one, weights=[1.0], construction="fixed")
    assert population_fit_info(plain) == {"n_crafted": None, "n_failed": None, "fallback": None, "failure_reasons": {}}
    joint = population_fit_info(plain, {"n_failed": 2, "fallback": "E: no usable"})  # a joint fit's summed info
    assert joint["n_failed"] == 2 and joint["fallback"] is True


def test_score_dimension_scores_on_the_score_stream_of_the_construction(data_dir):
    from populace_lm.fakes import KnownDistributionModel
    from populace_lm.seeds import seed_rng
    from populations.baselines import FixedPromptBuilder
    from populations.evaluation import population_pmfs, score_dimension, seeded_floor
    from scenarios.registry import get_scenario

    model = KnownDistributionModel(lambda msgs, answers: np.full(answers.size, 1 / answers.size))
    scenario = get_scenario("dictator", source=str(data_dir))
    test = scenario.human_values("test", seed=1, source=str(data_dir))
    floor = seeded_floor(scenario, test, seed=1, n=100, repeats=3)
    pop = FixedPromptBuilder().fit().population_
    rec, probs, pmf = score_dimension(
        model, pop, scenario, test, floor=floor, seed=1, construction="fixed", progress=False
    )
    res = population_pmfs(model, pop, scenario, progress=False)
    want, _ = score_population(
        scenario=scenario, construction="fixed", weights=pop.weights, component_pmfs=res["pmfs"],
        valid_mass=res["valid_mass"], test=test, floor=floor, llm_calls=1, rng=seed_rng(1, "score", "dictator", "fixed"),
    )  # fmt: skip
    assert rec == {**want, "components": 1} and rec["human_test_mean"] == pytest.approx(test.mean(), abs=1e-6)
    assert probs.shape == (1, 1, 101) and pmf == pytest.approx(np.full(101, 1 / 101))
    other, _, _ = score_dimension(model, pop, scenario, test, floor=floor, seed=1, construction="x", progress=False)
    assert other["w1_sampled_mean"] != rec["w1_sampled_mean"] and other["floor_mean"] == rec["floor_mean"]


def test_score_vector_record_shares_the_floor_across_constructions():
    from populations.evaluation import VECTOR_METRICS, score_vector_record
    from populations.persona import Persona, Population
    from scenarios import get_scenario

    part = get_scenario("osp_cfcs")
    q = len(part.questions())
    probs = np.zeros((2, q, 5))
    probs[0, :, 0], probs[1, :, 4] = 1.0, 1.0
    pop = Population(
        personas=(Persona(id="a", text="A"), Persona(id="b", text="B")), weights=[0.5, 0.5], construction="t"
    )
    test = np.random.default_rng(0).choice(part.support, size=(40, 2))  # two dimensions (correlations need D >= 2)
    kw = {"n": 10, "repeats": 3, "seed": 5, "scenario_name": "cfcs"}
    a = score_vector_record(pop, [part, part], [probs, probs], test, construction="a", **kw)
    b = score_vector_record(pop, [part, part], [probs, probs], test, construction="b", **kw)
    assert (a["n"], a["repeats"]) == (10, 3)
    assert all(a[f"{m}_floor_mean"] == b[f"{m}_floor_mean"] for m in VECTOR_METRICS)
    assert a["amw_sampled_mean"] != b["amw_sampled_mean"]  # each construction its own stream
