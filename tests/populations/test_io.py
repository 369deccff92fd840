"""Every population file format is readable by one loader."""

from __future__ import annotations

import numpy as np
import pytest

from populations.aligned import save_weighted_jsonl
from populations.io import load_population_file
from populations.persona import Persona, Population


def _pop():
    return Population(
        personas=(Persona(id="a", text="A", attributes={"pool": "x"}), Persona(id="b", text="B")),
        weights=np.array([0.4, 0.6]),
        construction="aligned",
    )


def test_reads_population_json_and_weighted_jsonl(tmp_path):
    pop = _pop()
    from_json = load_population_file(pop.save(tmp_path / "p.json"))
    save_weighted_jsonl(pop, tmp_path / "p.jsonl")
    from_jsonl = load_population_file(tmp_path / "p.jsonl")
    for back in (from_json, from_jsonl):
        assert [p.id for p in back.personas] == ["a", "b"]
        np.testing.assert_allclose(back.weights, [0.4, 0.6])


def test_a_plain_pool_or_missing_file_is_a_clear_error(tmp_path):
    (tmp_path / "pool.jsonl").write_text('{"id": "a", "text": "A"}\n')
    with pytest.raises(ValueError, match="has no 'weight'"):
        load_population_file(tmp_path / "pool.jsonl")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_population_file(tmp_path / "none.json")
