"""The ``retrieve`` construction kind (arXiv:2509.10127 Table 4, EM w/o and w train) with a fake encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from populations.constructions import BuildContext, build_construction, get_construction
from populations.constructions.registry import ConstructionError
from tests.populations.encoders import HashEncoder


@pytest.fixture()
def pool(tmp_path):
    folder = tmp_path / "places"
    folder.mkdir()
    places = ["Sweden", "Texas", "India", "Peru"]
    rows = [{"id": f"p{i}", "text": f"A teacher living in {places[i % 4]} number {i}."} for i in range(40)]
    (folder / "personas.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(folder / "personas.jsonl")


def test_retrieve_returns_the_k_closest_personas_equally_weighted(pool, monkeypatch):
    monkeypatch.setattr("populations.subgroups.MiniLMEncoder", HashEncoder)
    kind = get_construction("retrieve")
    assert kind.target_free and kind.needs_pool
    params = kind.defaults(pool=pool, query="people living in Sweden", k=5, n_pool=40)
    pop = build_construction(kind, BuildContext(seed=3, name="em"), params).population
    assert len(pop) == 5 and np.allclose(pop.weights, 0.2)
    assert all("Sweden" in p.text for p in pop.personas)
    assert pop.metadata["encoder"] == "hash-bow" and pop.metadata["trained"] is False
    again = build_construction(kind, BuildContext(seed=3, name="em"), {**params, "n_pool": 20}).population
    twice = build_construction(kind, BuildContext(seed=3, name="em"), {**params, "n_pool": 20}).population
    assert [p.id for p in again.personas] == [p.id for p in twice.personas]  # the candidate draw is seeded


def test_retrieve_bad_input(pool, tmp_path):
    kind = get_construction("retrieve")
    with pytest.raises(ConstructionError, match="k = 30 exceeds n_pool = 20"):
        build_construction(kind, BuildContext(name="em"), kind.defaults(pool=pool, query="x", k=30, n_pool=20))
    with pytest.raises(ValueError, match="is not a sentence-transformers model folder"):
        kind.params["encoder"].resolve(str(tmp_path), tmp_path)
    assert kind.params["encoder"].resolve("train", tmp_path) == "train"
