"""Exact-value tests of :mod:`populations.aligned` that a wrong implementation fails (mutation-testing targets).

The builder's public behaviour: the error messages naming the argument, the default sizes, the variants' weights
and selections (replayed with the same seeded generator and the :mod:`alignment` functions it documents), the
population's metadata and weights, and the weighted-persona JSONL format round trip and its errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from populations.aligned import AlignedPersonaBuilder, load_weighted_jsonl, save_weighted_jsonl
from populations.persona import Persona, Population


def _population(weights=(0.25, 0.75), construction="aligned"):
    personas = tuple(
        Persona(id=f"p{i}", text=f"persona {i}", attributes={"age": 30 + i}) for i in range(len(weights))
    )
    return Population(personas=personas, weights=np.asarray(weights), construction=construction, metadata={"k": 1})


# --------------------------------------------------------------------------------------------- the JSONL format
def test_weighted_jsonl_round_trip_keeps_ids_texts_weights_attributes_and_metadata(tmp_path):
    pop = _population()
    path = save_weighted_jsonl(pop, tmp_path / "sub" / "pop.jsonl")
    assert path == tmp_path / "sub" / "pop.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": "p0", "text": "persona 0", "weight": 0.25, "age": 30},
        {"id": "p1", "text": "persona 1", "weight": 0.75, "age": 31},
    ]
    meta = json.loads((tmp_path / "sub" / "pop.jsonl.meta.json").read_text())
    assert meta == {"kind": "populace.weighted_personas", "construction": "aligned", "metadata": {"k": 1}}
    back = load_weighted_jsonl(path)
    assert [p.id for p in back.personas] == ["p0", "p1"]
    assert [p.text for p in back.personas] == ["persona 0", "persona 1"]
    assert [p.attributes for p in back.personas] == [{"age": 30}, {"age": 31}]
    assert back.weights.tolist() == [0.25, 0.75]
    assert back.construction == "aligned" and back.metadata == {"k": 1}
    assert not (tmp_path / "sub" / "pop.jsonl.tmp").exists()
