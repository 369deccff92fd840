"""populace select --generate / --encoder and populace train-encoder on the command line (fake LLM, fake encoder)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import populations.subgroups as subgroups
from experiments import cli
from populace_lm.fakes import ScriptedModel
from populations.aligned import save_weighted_jsonl
from populations.persona import Persona, Population
from tests.populations.encoders import HashEncoder


@pytest.fixture()
def population(tmp_path, monkeypatch):
    monkeypatch.setattr(subgroups, "MiniLMEncoder", HashEncoder)
    f = tmp_path / "aligned.jsonl"
    texts = ["A nurse living in Sweden.", "A farmer living in Sweden.", "A pilot living in Texas."]
    save_weighted_jsonl(
        Population(
            personas=tuple(Persona(id=f"p{i}", text=t) for i, t in enumerate(texts)),
            weights=np.full(3, 1 / 3),
            construction="aligned",
        ),
        f,
    )
    return f


def test_select_generate_writes_checked_personas_and_records_failures(population, tmp_path, monkeypatch, capsys):
    model = ScriptedModel(["A baker in Malmo who runs marathons.", "", "A nurse living in Sweden."])
    monkeypatch.setattr("experiments.common.model_from_args", lambda args: model)
    out = tmp_path / "gen.jsonl"
    argv = ["select", "--population", str(population), "--query", "adults in Sweden", "--k", "2", "--generate", "3"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    assert "1 of 3 generated personas passed the checks" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["A baker in Malmo who runs marathons."] and rows[0]["generated"] is True
    meta = json.loads((tmp_path / "gen.jsonl.meta.json").read_text())["metadata"]["generation"]
    assert [f["reason"] for f in meta["failures"]] == ["empty", "copy of a seed"]


def test_select_and_train_encoder_bad_input_is_one_line(population, tmp_path, monkeypatch, capsys):
    argv = ["select", "--population", str(population), "--query", "x", "--k", "2", "--out", str(tmp_path / "s.jsonl")]
    assert cli.main([*argv, "--encoder", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not a sentence-transformers model folder" in err and err.count("\n") == 1
    assert cli.main([*argv, "--generate", "0"]) == 2
    assert "--generate must be >= 1" in capsys.readouterr().err
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "personas.jsonl").write_text(
        "".join(json.dumps({"id": f"p{i}", "text": f"t {i}"}) + "\n" for i in range(4))
    )
    monkeypatch.setattr("experiments.common.model_from_args", lambda args: ScriptedModel(["x"]))
    assert cli.main(["train-encoder", "--pool", str(tiny), "--out", str(tmp_path / "enc")]) == 2
    err = capsys.readouterr().err
    assert "has 4 personas: too few to split" in err and err.count("\n") == 1
