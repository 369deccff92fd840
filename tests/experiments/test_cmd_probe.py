"""Issue 18 item 4: ``probe`` sends the ``fixed`` construction's baseline prompt by default and says so; its
"expected" column is in the item's value units (as the scores are), not option numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

import experiments.common
from experiments.cli import main
from populace_lm.fakes import KnownDistributionModel
from populations.baselines import DEFAULT_SYSTEM_PROMPT, FixedPromptBuilder
from populations.evaluation import population_pmfs
from scenarios import get_scenario

SURVEY = """\
kind = "survey"
name = "often"
[scale]
type = "ordinal"
categories = [
    { label = "never", code = "N", value = -1 },
    { label = "sometimes", code = "S", value = 0 },
    { label = "often", code = "O", value = 3 },
]
[[items]]
id = "vol"
text = "How often do you volunteer?"
"""

SYSTEMS: list[str | None] = []


def _weights(messages, answers):
    system = next((m.content for m in messages if m.role == "system"), None)
    SYSTEMS.append(system)
    # the baseline prompt leans to option 3, no prompt to option 1: the two must differ
    return np.array([1.0, 1.0, 6.0]) if system == DEFAULT_SYSTEM_PROMPT else np.array([6.0, 1.0, 1.0])


@pytest.fixture
def fake(monkeypatch):
    model = KnownDistributionModel(_weights, model_id="probe-fake")
    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: model)
    return model


def test_probe_sends_the_fixed_baseline_prompt_and_reports_value_units(tmp_path, fake, capsys):
    (tmp_path / "often.toml").write_text(SURVEY)
    SYSTEMS.clear()
    assert main(["probe", "--scenario", str(tmp_path / "often.toml"), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("system prompt: the fixed construction's baseline")
    assert DEFAULT_SYSTEM_PROMPT in out.splitlines()[0]
    assert set(SYSTEMS) == {DEFAULT_SYSTEM_PROMPT}
    doc = json.loads((tmp_path / "o" / "probe.json").read_text())
    expected = doc["questions"][0]["expected"]
    assert expected == pytest.approx((-1 * 1 + 0 * 1 + 3 * 6) / 8)  # value units: -1, 0, 3
    assert doc["scores"][0]["mean"] == pytest.approx(expected)  # the score is in the same units

    scenario = get_scenario(str(tmp_path / "often.toml"))
    fixed = FixedPromptBuilder().fit().population_
    pmf = population_pmfs(fake, fixed, scenario)["pmfs"][0]
    assert float(pmf @ scenario.support) == pytest.approx(doc["scores"][0]["mean"])  # probe = fixed


def test_probe_without_a_system_prompt_says_so(tmp_path, fake, capsys):
    (tmp_path / "often.toml").write_text(SURVEY)
    SYSTEMS.clear()
    assert main(["probe", "--scenario", str(tmp_path / "often.toml"), "--system", ""]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "system prompt: none (--system '')"
    assert set(SYSTEMS) == {None}
    SYSTEMS.clear()
    assert main(["probe", "--question", "Q?", "--scale", "int:1-3"]) == 0
    assert set(SYSTEMS) == {DEFAULT_SYSTEM_PROMPT}
