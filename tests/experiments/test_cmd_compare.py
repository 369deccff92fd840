"""``populace compare STUDY.toml``: the command line with fakes (patched into experiments.common.model_from_args)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import experiments.common
from experiments.cli import main
from populace_lm.cache import CachedModel
from tests.experiments.test_study import GAME_KINDS, fake_model, write_pop, write_study_file


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if the command builds a model."""

    def refuse(args):
        raise AssertionError("the command loaded a model")

    monkeypatch.setattr(experiments.common, "model_from_args", refuse)


@pytest.mark.parametrize(
    ("head", "match"),
    [
        ('scenarios = ["dictator"]\nagents = "ten"\n', "agents: expected an integer, got a string 'ten'"),
        ('scenarios = "bigfive:E"\n', "scenarios: expected a non-empty list of strings, got a string 'bigfive:E'"),
        ('scenarios = ["dictator"]\ncolour = 1\n', "colour: unknown key(s) ['colour']"),
    ],
)
def test_bad_values_exit_2_with_one_line_and_no_model(tmp_path, no_model, capsys, head, match, personas_dir):
    p = write_study_file(tmp_path, '[[constructions]]\nname = "f"\nkind = "fixed"\n', head=head)
    assert main(["compare", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and match in err and str(p) in err


def test_unknown_kind_and_missing_file_exit_2(tmp_path, no_model, capsys, personas_dir):
    p = write_study_file(tmp_path, '[[constructions]]\nname = "x"\nkind = "magic"\n')
    assert main(["compare", str(p), "--out", str(tmp_path / "o")]) == 2
    assert "valid kinds: aligned, demographic, em, file, fixed, gb, mop, pool" in capsys.readouterr().err
    p = write_study_file(tmp_path, '[[constructions]]\nname = "x"\nkind = "file"\npath = "nope.json"\n')
    assert main(["compare", str(p), "--out", str(tmp_path / "o")]) == 2
    assert f"population file {tmp_path / 'nope.json'} does not exist" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.toml does not exist" in capsys.readouterr().err


def test_out_naming_a_file_is_refused_before_the_model(tmp_path, no_model, capsys, personas_dir):
    p = write_study_file(tmp_path, '[[constructions]]\nname = "f"\nkind = "fixed"\n')
    (tmp_path / "o").write_text("x")
    assert main(["compare", str(p), "--out", str(tmp_path / "o")]) == 2
    assert "is a file; pass a folder" in capsys.readouterr().err


def test_plan_prints_sizes_without_a_model(tmp_path, no_model, capsys, personas_dir, data_dir):
    write_pop(tmp_path / "pop.json")
    p = write_study_file(tmp_path, GAME_KINDS)
    assert main(["compare", str(p), "--plan"]) == 0
    out = capsys.readouterr().out
    assert "7 constructions × 1 scenarios" in out and "estimated distinct LLM requests:" in out
    assert not (tmp_path / "o").exists()


def test_end_to_end_writes_every_file_and_a_rerun_costs_nothing(tmp_path, monkeypatch, capsys, personas_dir, data_dir):
    write_pop(tmp_path / "pop.json")
    p = write_study_file(tmp_path, GAME_KINDS)
    fakes = []

    def model(args):
        fakes.append(fake_model())
        return CachedModel(fakes[-1], tmp_path / "cache.sqlite")

    monkeypatch.setattr(experiments.common, "model_from_args", model)
    for out in ("a", "b"):
        assert main(["compare", str(p), "--out", str(tmp_path / out), "--quiet"]) == 0
    assert fakes[0].calls > 0 and fakes[1].calls == 0
    for name in ("table.csv", "table.md", "scores.json", "report.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    table = pd.read_csv(tmp_path / "a" / "table.csv")
    assert len(table) == 7 and (table["status"] == "ok").all()
    assert {"w1_exact", "w1_sampled_mean", "w1_sampled_sd", "floor_mean", "parse_failure_rate"} <= set(table)
    cost = pd.read_csv(tmp_path / "b" / "cost.csv")
    assert (cost["backend_calls"] == 0).all() and (cost["requests"] > 0).all()
    assert (tmp_path / "a" / "grid.png").stat().st_size > 5000
    report = (tmp_path / "a" / "report.md").read_text()
    assert "exact" in report and "floor" in report and "fit half" in report
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    assert run["cache"]["misses"] == 0 and run["cache"]["hits"] > 0
    assert "w1_sampled_mean" in capsys.readouterr().out


def test_unknown_scenario_names_the_study_before_the_model(tmp_path, no_model, capsys, personas_dir):
    p = write_study_file(
        tmp_path, '[[constructions]]\nname = "f"\nkind = "fixed"\n', head='scenarios = ["bigfive:X"]\n'
    )
    assert main(["compare", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{p}: scenarios: unknown scenario 'bigfive:X'" in err
