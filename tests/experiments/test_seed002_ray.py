"""``experiment seed002 --workers 2`` (two Ray actors) writes the same results as ``--executor local``.

The embedded model answers on both sides (the actors build it from the serialised config); the Ray instance is
started by the executor inside the test process and shut down when the command ends.
"""

from __future__ import annotations

import json

import pytest

import populations.subgroups as subgroups
from tests.populations.encoders import HashEncoder

pytestmark = [pytest.mark.model, pytest.mark.slow]


def _argv(tmp_path, data_dir, name):
    return [
        "--pools", "personagym:12,agent_trust:8", "--n-select", "6", "--ood-n", "3", "--subgroup-k", "3",
        "--items", "E1,N1", "--cfcs-items", "Q1,Q3", "--grit-items", "GS1,GS2", "--eval-humans", "100", "--repeats", "2",
        "--no-wvs", "--threads", "1", "--matrix-dir", str(tmp_path / name / "m"), "--data", str(data_dir),
        "--cache", str(tmp_path / name / "cache.sqlite"), "--out", str(tmp_path / name / "out"),
    ]  # fmt: skip


def test_seed002_on_two_ray_actors_gives_the_same_results_as_local(tmp_path, data_dir, monkeypatch):
    from experiments.exp_seed002 import main

    monkeypatch.setattr(subgroups, "MiniLMEncoder", HashEncoder)
    monkeypatch.delenv("POPULACE_EXECUTOR", raising=False)
    assert main([*_argv(tmp_path, data_dir, "local"), "--executor", "local"]) == 0
    assert main([*_argv(tmp_path, data_dir, "ray"), "--workers", "2"]) == 0  # --workers 2 picks two Ray actors
    local, ray = tmp_path / "local" / "out", tmp_path / "ray" / "out"
    a, b = json.loads((local / "results.json").read_text()), json.loads((ray / "results.json").read_text())
    assert a["backend_calls_this_run"] == b["backend_calls_this_run"] > 0
    assert (local / "results.json").read_bytes() == (ray / "results.json").read_bytes()
    for name in ("table_in_domain.csv", "table_out_of_domain.csv", "subgroups.csv", "report.md"):
        assert (local / name).read_bytes() == (ray / name).read_bytes(), name
