"""Acceptance (issue 18 item 1): ``populace compare`` builds ``demographic`` personas from a user survey's own columns.

A UK survey (TOML + CSV written here) declares ``region`` (codes 1/2 labelled London / the North East) and
``age_band``; its two region groups are compared with a fake model that records every system prompt. The personas
must speak of London and the North East, never of a BIG5 country, and the two groups must get different prompts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import experiments.common
from experiments.cli import main
from populace_lm.fakes import KnownDistributionModel
from populations.pool_builders import COUNTRY_NAMES

SURVEY = """\
kind = "survey"
name = "uk_trust"
[survey]
instructions = "How much do you agree, from {low} to {high} ({scale})? Reply with the number only."
[scale]
type = "range"
low = 1
high = 5
labels = { 1 = "disagree", 5 = "agree" }
[[items]]
id = "trust"
text = "Most people can be trusted."
[data]
path = "uk.csv"
demographics = ["region", "age_band"]
group = "region"
persona_template = "You are a respondent aged {age_band} living in {region}."
[data.demographic_labels]
region = { "1" = "London", "2" = "the North East" }
"""
N = 60


@pytest.fixture
def survey(tmp_path):
    rng = np.random.default_rng(0)
    region = np.repeat([1, 2], N // 2)
    age = rng.choice(["18-34", "35-54", "55+"], size=N)
    trust = np.where(region == 1, rng.integers(3, 6, size=N), rng.integers(1, 4, size=N))
    pd.DataFrame({"region": region, "age_band": age, "trust": trust}).to_csv(tmp_path / "uk.csv", index=False)
    (tmp_path / "uk.toml").write_text(SURVEY)
    return tmp_path / "uk.toml"


def test_compare_writes_demographic_personas_from_the_survey_columns(tmp_path, survey, monkeypatch, capsys):
    systems: dict[str, set[str]] = {}  # group → the system prompts the fake was sent
    seen: list[str] = []

    def weights(messages, answers):
        seen.extend(m.content for m in messages if m.role == "system")
        return np.ones(answers.size)

    model = KnownDistributionModel(weights, model_id="demographic-compare-fake")
    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: model)
    study = tmp_path / "study.toml"
    groups = (f"{survey}@1", f"{survey}@2")
    for g in groups:
        study.write_text(
            f'seed = 0\nscenarios = ["{g}"]\nagents = 20\nrepeats = 2\n'
            '[[constructions]]\nname = "demo"\nkind = "demographic"\nn_personas = 10\n'
        )
        seen.clear()
        assert main(["compare", str(study), "--out", str(tmp_path / g.rsplit("@", 1)[1]), "--quiet"]) == 0, (
            capsys.readouterr().err
        )
        systems[g] = set(seen)
    london, north_east = systems[groups[0]], systems[groups[1]]
    assert london and north_east
    assert all(p.startswith("You are a respondent aged ") and p.endswith(" living in London.") for p in london)
    assert all(p.endswith(" living in the North East.") for p in north_east)
    assert not london & north_east  # the two groups get different prompts
    every = " ".join(london | north_east)
    assert "Indonesia" not in every and "year-old" not in every
    assert not any(name in every for name in COUNTRY_NAMES.values())
    table = pd.read_csv(tmp_path / "1" / "table.csv")
    assert (table["status"] == "ok").all()


def test_compare_without_declared_demographics_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "uk.csv").write_text("trust\n" + "3\n4\n" * 10)
    (tmp_path / "uk.toml").write_text(SURVEY.split("demographics")[0].replace("group", "#"))
    study = tmp_path / "study.toml"
    study.write_text(
        f'scenarios = ["{tmp_path / "uk.toml"}"]\nagents = 10\nrepeats = 2\n'
        '[[constructions]]\nname = "demo"\nkind = "demographic"\nn_personas = 3\n'
    )
    model = KnownDistributionModel(lambda m, a: np.ones(a.size))
    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: model)
    code = main(["compare", str(study), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0, err
    assert "declares no data.demographics" in err and "docs/scenario_files.md" in err
