"""Every population file format is readable by one loader."""

from __future__ import annotations

import json

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


def test_a_fit_file_or_any_document_with_a_population_inside_is_read(tmp_path):
    pop = _pop()
    fit = {"kind": "populace.prompt_mixture", "version": 1, "prompts": ["A", "B"], "population": pop.to_dict()}
    (tmp_path / "em.json").write_text(json.dumps(fit))
    (tmp_path / "mop.json").write_text(json.dumps({**fit, "kind": "populace.mop"}))
    (tmp_path / "other.json").write_text(json.dumps({"population": pop.to_dict(), "note": "mine"}))
    for name in ("em.json", "mop.json", "other.json"):
        back = load_population_file(tmp_path / name)
        assert [p.id for p in back.personas] == ["a", "b"]
        np.testing.assert_allclose(back.weights, [0.4, 0.6])
    broken = {**fit, "population": {**pop.to_dict(), "weights": [0.4]}}
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"broken\.json \(key 'population'\): 1 weights for 2 personas"):
        load_population_file(tmp_path / "broken.json")


def test_structural_errors_are_one_line_naming_the_file_and_key(tmp_path):
    doc = _pop().to_dict()
    cases = {
        "strings.json": (
            {**doc, "personas": ["You are kind.", "You are shy."]},
            r"personas\[0\]: a persona is a string",
        ),
        "dict.json": ({**doc, "personas": {"a": "A"}}, r"'personas' is an object; it must be a list"),
        "noweights.json": ({k: v for k, v in doc.items() if k != "weights"}, r"^missing key 'weights' in .*noweights"),
        "run.json": (
            {"kind": "populace.run", "seed": 1},
            r"run\.json is not a population file \(kind='populace.run'\)",
        ),
        "list.json": ([doc], r"list\.json holds a JSON list"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_text(json.dumps(content, indent=2))
        with pytest.raises(ValueError, match=message) as info:
            load_population_file(tmp_path / name)
        assert "\n" not in str(info.value)


def test_truncated_json_is_reported_as_truncated_not_as_a_bad_jsonl_line(tmp_path):
    text = json.dumps(_pop().to_dict(), indent=2)
    for name, cut in (("pretty.json", text[:-40]), ("oneline.json", json.dumps(_pop().to_dict())[:-25])):
        (tmp_path / name).write_text(cut)
        with pytest.raises(ValueError, match=rf"{name} is truncated JSON") as info:
            load_population_file(tmp_path / name)
        assert "JSON line" not in str(info.value)
    (tmp_path / "empty.json").write_text("\n")
    with pytest.raises(ValueError, match=r"empty\.json is empty"):
        load_population_file(tmp_path / "empty.json")


def test_jsonl_duplicate_ids_and_null_text_name_the_file_and_line(tmp_path):
    lines = [{"id": "a", "text": "A", "weight": 0.5}, {"id": "b", "text": "B", "weight": 0.25}]
    dup = tmp_path / "dup.jsonl"
    dup.write_text("\n".join(json.dumps(x) for x in [*lines, {"id": "a", "text": "C", "weight": 0.25}]) + "\n")
    with pytest.raises(ValueError, match=r"dup\.jsonl:3: duplicate persona id 'a' \(first on line 1\)"):
        load_population_file(dup)
    null = tmp_path / "null.jsonl"
    null.write_text("\n".join(json.dumps(x) for x in [lines[0], {"id": "n", "text": None, "weight": 0.5}]) + "\n")
    with pytest.raises(ValueError, match=r"null\.jsonl:2: persona 'n' has text null; give a string"):
        load_population_file(null)
    cut = tmp_path / "cut.jsonl"
    cut.write_text(json.dumps(lines[0]) + "\n" + json.dumps(lines[1])[:-9] + "\n")
    with pytest.raises(ValueError, match=r"cut\.jsonl:2: not a JSON line"):
        load_population_file(cut)


def test_a_folder_is_named_as_a_folder(tmp_path):
    _pop().save(tmp_path / "p.json")
    with pytest.raises(ValueError, match=r"is a folder; pass a population \.json or \.jsonl file \(it holds p\.json\)"):
        load_population_file(tmp_path)
