"""A construction limited to some scenarios (``scenarios = [...]``), and entries of one name forming one row."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from experiments.study import StudyError, load_study, plan_study, run_study, with_scenarios
from populace_lm.fakes import KnownDistributionModel
from tests.experiments.test_study import write_study_file

HEAD = 'seed = 0\nscenarios = ["dictator", "public_goods", "bigfive:E"]\nagents = 50\nrepeats = 2\n'
ROWS = """
[[constructions]]
name = "fixed"
kind = "fixed"
scenarios = ["bigfive:*"]
system_prompt = "Imagine you are a human taking a personality test"

[[constructions]]
name = "fixed"
kind = "fixed"
scenarios = ["dictator", "public_goods"]
system_prompt = "You are a helpful assistant."

[[constructions]]
name = "games only"
kind = "fixed"
scenarios = ["dictator"]
"""


def test_each_entry_is_built_only_on_its_scenarios(tmp_path, data_dir):
    study = load_study(write_study_file(tmp_path, ROWS, head=HEAD))
    plan = [(r["construction"], r["scenario"]) for r in plan_study(study)]
    assert plan == [
        ("fixed", "dictator"),
        ("games only", "dictator"),
        ("fixed", "public_goods"),
        ("fixed", "bigfive:E"),
    ]
    study = replace(study, data=str(data_dir))
    seen = []

    def uniform(messages, answers):
        seen.append(messages[0].content)
        return np.ones(answers.size)

    result = run_study(study, KnownDistributionModel(uniform), progress=False)
    rows = [(r["construction"], r["scenario"]) for r in result.scores]
    assert rows == plan
    assert {"Imagine you are a human taking a personality test", "You are a helpful assistant."} <= set(seen)
    by = {(r["construction"], r["scenario"]) for r in result.scores}
    assert ("games only", "public_goods") not in by and ("games only", "bigfive:E") not in by


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            '[[constructions]]\nname = "x"\nkind = "fixed"\nscenarios = ["trust_*"]\n',
            r"constructions\.x\.scenarios: 'trust_\*' matches none of the study's scenarios",
        ),
        (
            '[[constructions]]\nname = "x"\nkind = "fixed"\nscenarios = ["dictator"]\n'
            '[[constructions]]\nname = "x"\nkind = "fixed"\nscenarios = ["dictator", "public_goods"]\n',
            r"'x' is used twice \(both apply to 'dictator'\)",
        ),
        (
            '[[constructions]]\nname = "x"\nkind = "fixed"\nscenarios = ["dictator"]\n'
            '[[constructions]]\nname = "x"\nkind = "fixed"\n',
            r"'x' is used twice \(both apply to 'dictator'\); give every construction its own name, or give entries",
        ),
        (
            '[[constructions]]\nname = "x"\nkind = "fixed"\nscenarios = ["dictator"]\n'
            '[[constructions]]\nname = "x"\nkind = "pool"\npool = "personachat"\nscenarios = ["public_goods"]\n',
            r"'x' is used twice \(another kind\)",
        ),
    ],
)
def test_bad_rows_are_one_line_errors(tmp_path, personas_dir, body, match):
    head = 'seed = 0\nscenarios = ["dictator", "public_goods"]\n'
    with pytest.raises(StudyError, match=match) as info:
        load_study(write_study_file(tmp_path, body, head=head))
    assert str(tmp_path / "study.toml") in str(info.value) and "\n" not in str(info.value)


def test_disjoint_entries_of_one_name_are_one_row(tmp_path):
    study = load_study(write_study_file(tmp_path, ROWS, head=HEAD))
    assert [c.name for c in study.constructions] == ["fixed", "fixed", "games only"]
    assert study.settings()["constructions"][0]["scenarios"] == ["bigfive:*"]


def test_other_scenarios_keep_each_entry_to_its_own(tmp_path):
    study = with_scenarios(load_study(write_study_file(tmp_path, ROWS, head=HEAD)), ["public_goods"])
    assert [(r["construction"], r["scenario"]) for r in plan_study(study)] == [("fixed", "public_goods")]
    with pytest.raises(StudyError, match="listed twice"):
        with_scenarios(study, ["dictator", "dictator"])
    with pytest.raises(StudyError, match="no scenarios given"):
        with_scenarios(study, [" "])


def test_default_prompt_reaches_the_mixture(tmp_path):
    from populations.constructions import get_construction

    body = '[[constructions]]\nname = "em"\nkind = "em"\ndefault_prompt = "You are a helpful assistant."\n'
    (c,) = load_study(write_study_file(tmp_path, body)).constructions
    assert c.params["default_prompt"] == "You are a helpful assistant."
    assert "default_prompt" in get_construction("gb").params
