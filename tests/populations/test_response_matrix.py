"""Response matrix: computed once per (pool, model, scenario), stored as Parquet, resumable."""

from __future__ import annotations

import numpy as np
import pytest

from populace_lm.cache import CachedModel
from populace_lm.fakes import KnownDistributionModel
from populations.persona import Persona
from populations.response_matrix import (
    ResponseMatrix,
    ScenarioNotScoredError,
    compute_response_matrix,
    load_response_matrix,
    pool_digest,
)
from scenarios import get_scenario

ITEMS = ("E1", "E2", "N1", "N2")


def _dist(messages, answers):
    """Persona 'level L' answers L with certainty; no system prompt → uniform."""
    system = messages[0].content if messages[0].role == "system" else ""
    w = np.full(answers.size, 1e-9)
    if "level" in system:
        w[int(system.split("level ")[1][0]) - 1] = 1.0
    else:
        w[:] = 1.0
    return w


def _pool(n=7):
    return tuple(Persona(id=f"p{i}", text=f"You are level {i % 5 + 1}. (#{i})") for i in range(n))


@pytest.fixture(scope="module")
def survey(data_dir):
    return get_scenario("bigfive", source=data_dir).survey


def test_expected_scores_and_keyed_sums(survey, tmp_path):
    model = KnownDistributionModel(_dist)
    m = compute_response_matrix(model, _pool(), survey, cache_dir=tmp_path, item_ids=ITEMS, progress=False)
    levels = np.array([i % 5 + 1 for i in range(7)], dtype=float)
    np.testing.assert_allclose(m.expected, np.repeat(levels[:, None], 4, axis=1), atol=1e-6)
    assert m.dimensions == ("E", "N")
    # E1 forward + E2 reverse (6 - x) = 6 whatever the level; N1 forward + N2 reverse = 6 too
    np.testing.assert_allclose(m.trait_sums, 6.0, atol=1e-6)
    assert m.metadata["backend_calls"] == 7 * 4
    assert model.calls == 7 * 4


def test_second_call_loads_parquet_without_backend_calls(survey, tmp_path):
    model = KnownDistributionModel(_dist)
    a = compute_response_matrix(model, _pool(), survey, cache_dir=tmp_path, item_ids=ITEMS, progress=False)
    calls = model.calls
    b = compute_response_matrix(model, _pool(), survey, cache_dir=tmp_path, item_ids=ITEMS, progress=False)
    assert model.calls == calls
    assert b.metadata["backend_calls"] == 0
    np.testing.assert_array_equal(a.expected, b.expected)
    assert b.persona_ids == a.persona_ids and b.pool_digest == pool_digest(_pool())


def test_resumes_from_partial_chunks(survey, tmp_path):
    class Boom(RuntimeError):
        pass

    inner = KnownDistributionModel(_dist)
    n_ok = 0

    def flaky(messages, answers):
        nonlocal n_ok
        n_ok += 1
        if n_ok > 3 * len(ITEMS):  # fail inside the 2nd chunk of 2 personas
            raise Boom("backend down")
        return _dist(messages, answers)

    broken = KnownDistributionModel(flaky, model_id=inner.model_id)
    cached = CachedModel(broken, tmp_path / "c.sqlite")
    with pytest.raises(Boom):
        compute_response_matrix(
            cached, _pool(), survey, cache_dir=tmp_path, item_ids=ITEMS, chunk_size=2, progress=False
        )
    partial = list(tmp_path.glob("*.partial.parquet"))
    assert len(partial) == 1
    assert len(ResponseMatrix.load(partial[0])) == 2  # the first chunk survived
    resumed = CachedModel(inner, tmp_path / "c.sqlite")
    m = compute_response_matrix(
        resumed, _pool(), survey, cache_dir=tmp_path, item_ids=ITEMS, chunk_size=2, progress=False
    )
    assert len(m) == 7
    # chunk 1 came from the partial file (no request at all); person 3 from the response cache
    assert inner.calls == (7 - 3) * len(ITEMS)
    assert not list(tmp_path.glob("*.partial.parquet"))


def test_not_scored_and_bad_input(survey, tmp_path):
    model = KnownDistributionModel(_dist)
    compute_response_matrix(model, _pool(), survey, cache_dir=tmp_path, item_ids=ITEMS, progress=False)
    with pytest.raises(
        ScenarioNotScoredError, match=r"scored on \[\('known', 'bigfive\[E1,E2,N1,N2\]#[0-9a-f]{8}'\)\]"
    ):
        load_response_matrix(tmp_path, _pool(), "known", survey, item_ids=("O1",))
    m = load_response_matrix(tmp_path, _pool(), "known", survey, item_ids=ITEMS)
    with pytest.raises(ScenarioNotScoredError, match="not on 'cfcs"):
        m.require("cfcs[Q1]")
    with pytest.raises(ScenarioNotScoredError, match="were not asked"):
        m.columns(["O1"])
    with pytest.raises(ValueError, match="pool is empty"):
        compute_response_matrix(model, (), survey, cache_dir=tmp_path)


def test_parquet_round_trip(survey, tmp_path):
    model = KnownDistributionModel(_dist)
    m = compute_response_matrix(model, _pool(3), survey, cache_dir=tmp_path, item_ids=ITEMS, progress=False)
    back = ResponseMatrix.load(m.save(tmp_path / "x.parquet"))
    np.testing.assert_array_equal(back.trait_sums, m.trait_sums)
    assert back.scenario == m.scenario and back.model_id == "known"
    bad = tmp_path / "bad.parquet"
    import pandas as pd

    pd.DataFrame({"a": [1]}).to_parquet(bad)
    with pytest.raises(ValueError, match="not a populace response matrix"):
        ResponseMatrix.load(bad)


@pytest.mark.model
def test_embedded_model_small(survey, tmp_path, embedded_model):
    pool = (
        Persona(id="a", text="You are a shy, quiet librarian."),
        Persona(id="b", text="You are the loud, outgoing host of every party."),
    )
    m = compute_response_matrix(embedded_model, pool, survey, cache_dir=tmp_path, item_ids=("E1", "E2"), progress=False)
    assert m.expected.shape == (2, 2)
    assert ((m.expected >= 1) & (m.expected <= 5)).all()
    assert (m.valid_mass > 0).all()


def test_integer_draws_come_from_the_exact_item_pmfs(survey, tmp_path):
    model = KnownDistributionModel(_dist)
    m = compute_response_matrix(model, _pool(), survey, cache_dir=tmp_path, item_ids=ITEMS, progress=False)
    assert m.probs.shape == (7, 4, 5) and m.support.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    draws = m.draw_answers(np.random.default_rng(0), 3)
    assert draws.shape == (3, 7, 4)
    levels = np.array([i % 5 + 1 for i in range(7)], dtype=float)
    # persona "level L" answers L with probability ~1: every draw is exactly L (an off-by-one gives L±1)
    np.testing.assert_array_equal(draws, np.broadcast_to(levels[None, :, None], (3, 7, 4)))
    loaded = ResponseMatrix.load(next(tmp_path.glob("responses-*.parquet")))
    np.testing.assert_allclose(loaded.probs, m.probs, atol=1e-12)
    np.testing.assert_array_equal(loaded.draw_answers(np.random.default_rng(0), 3), draws)


def test_integer_draws_keep_the_spread_that_expected_answers_lose(survey, tmp_path):
    uniform = KnownDistributionModel(lambda msgs, answers: np.ones(answers.size))
    m = compute_response_matrix(uniform, _pool(40), survey, cache_dir=tmp_path, item_ids=ITEMS, progress=False)
    np.testing.assert_allclose(m.expected, 3.0, atol=1e-9)  # no spread at all
    a = m.draw_answers(np.random.default_rng(1), 50)
    freq = np.bincount(a.astype(int).ravel(), minlength=6)[1:] / a.size
    np.testing.assert_allclose(freq, 0.2, atol=0.015)  # the uniform pmf, 8,000 draws
    assert not np.array_equal(a, m.draw_answers(np.random.default_rng(2), 50))
    with pytest.raises(ValueError, match="draws must be >= 1"):
        m.draw_answers(np.random.default_rng(0), 0)
