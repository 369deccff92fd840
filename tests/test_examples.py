"""``examples/own_survey.py`` runs end to end with the real embedded model on tiny settings (a user's own survey)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.model
def test_own_survey_example_fits_simulates_and_scores(tmp_path):
    env = {**os.environ, "POPULACE_CACHE": str(tmp_path / "cache.sqlite"), "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "own_survey.py"), "--out", str(tmp_path / "own"), "--agents", "10"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("survey trust:trust: 150 fit / 150 test respondents")
    assert any(line.startswith("Mesa run: 10 agents") for line in lines)
    sampled = next(line for line in lines if line.startswith("W1 of 10 sampled agents"))
    assert "human floor (10 humans)" in sampled  # the sampled score sits beside a floor of the same n
    assert (tmp_path / "own" / "trust.toml").is_file() and (tmp_path / "own" / "answers.csv").is_file()
