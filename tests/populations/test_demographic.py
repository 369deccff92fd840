"""The generic demographic construction: ``render_persona``, the scenario-file keys and fit-half-only personas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from populations.constructions import BuildContext, build_construction
from populations.demographic import DEFAULT_INTRO, ScenarioDemographicBuilder, humanise, render_persona
from scenarios.errors import ScenarioError, ScenarioFileError
from scenarios.registry import get_scenario
from scenarios.spec import DataSpec
from scenarios.split import split_indices

LABELS = {"region": {"1": "London", "2": "the North East"}}
COLUMNS = ["region", "age_band"]

SURVEY = """\
kind = "survey"
name = "uk"
[scale]
type = "range"
low = 1
high = 5
labels = {{ 1 = "disagree", 5 = "agree" }}
[[items]]
id = "trust"
text = "Most people can be trusted."
[data]
path = "uk.csv"
missing = [9]
demographics = ["pid", "region", "age_band"]
group = "region"
{extra}
[data.demographic_labels]
region = {{ "1" = "London", "2" = "the North East" }}
"""
N = 60


def _write(tmp_path, extra: str = 'persona_template = "You are {pid}, aged {age_band}, living in {region}."'):
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "pid": [f"p{i:03d}" for i in range(N)],
            "region": np.repeat([1, 2], N // 2),
            "age_band": rng.choice(["18-34", "35-54", "55+"], size=N),
            "trust": rng.integers(1, 6, size=N),
        }
    )
    df.to_csv(tmp_path / "uk.csv", index=False)
    (tmp_path / "uk.toml").write_text(SURVEY.format(extra=extra))
    return df


# ------------------------------------------------------------------------------------------ render_persona
def test_codes_are_mapped_through_labels_and_unmapped_values_kept():
    text = render_persona({"region": "2", "age_band": "35-54"}, labels=LABELS, template=None, columns=COLUMNS)
    assert text == "You are taking part in a survey. About you: region: the North East; age band: 35-54."
    # a number read from a numeric column is looked up as its code; an unknown code is used as written
    assert "region: London;" in render_persona({"region": 1.0, "age_band": "x"}, labels=LABELS, template=None,
                                               columns=COLUMNS)  # fmt: skip
    assert "region: 7;" in render_persona({"region": 7, "age_band": "x"}, labels=LABELS, template=None,
                                          columns=COLUMNS)  # fmt: skip


def test_missing_values_are_skipped_and_columns_keep_their_order():
    for gone in (None, math.nan, "", "  ", "9", pd.NA):
        text = render_persona({"region": "1", "age_band": gone}, labels=LABELS, template=None, columns=COLUMNS,
                              missing=("9",))  # fmt: skip
        assert text == "You are taking part in a survey. About you: region: London.", gone
    assert render_persona({}, labels={}, template=None, columns=COLUMNS) == DEFAULT_INTRO
    text = render_persona(
        {"age_band": "55+", "region": "1"}, labels=LABELS, template="", columns=["age_band", "region"]
    )
    assert text.endswith("About you: age band: 55+; region: London.")  # the order of the columns, not the values
    assert "other" not in render_persona({"region": "1", "other": "zz"}, labels={}, template=None, columns=COLUMNS)
    assert humanise("age_band") == "age band" and humanise("home-owner") == "home owner"


def test_template_placeholders_are_filled_and_sentences_with_a_missing_value_dropped():
    template = "You are a respondent aged {age_band} living in {region}."
    values = {"region": "2", "age_band": "18-34"}
    assert render_persona(values, labels=LABELS, template=template, columns=COLUMNS) == (
        "You are a respondent aged 18-34 living in the North East."
    )
    two = "You live in {region}. You are aged {age_band}! Thanks."
    assert render_persona({"region": "1", "age_band": None}, labels=LABELS, template=two, columns=COLUMNS) == (
        "You live in London. Thanks."
    )
    # a placeholder outside the given columns counts as missing; nothing left → the generic sentence
    assert render_persona(values, labels=LABELS, template=template, columns=["region"]) == (
        "You are taking part in a survey. About you: region: the North East."
    )
    assert render_persona(values, labels={}, template="Braces {{ok}} in {region}.", columns=COLUMNS) == (
        "Braces {ok} in 2."
    )


# ------------------------------------------------------------------------------------------ the file keys
def test_file_keys_are_read_and_round_trip(tmp_path):
    _write(tmp_path)
    sc = get_scenario(str(tmp_path / "uk.toml"))
    data = sc.spec.data
    assert data.demographic_labels == {"region": {"1": "London", "2": "the North East"}}
    assert data.persona_template == "You are {pid}, aged {age_band}, living in {region}."
    assert DataSpec.from_dict(data.to_dict()) == data


@pytest.mark.parametrize(
    ("extra", "labels", "match"),
    [
        ("", 'regoin = { "1" = "London" }', r"key 'data.demographic_labels.regoin': 'regoin' is not a declared "
         r"demographic column; add it to data.demographics or use one of \['pid', 'region', 'age_band'\]"),
        ('persona_template = "You live in {county}."', None,
         r"key 'data.persona_template': placeholder \{county\} is not a declared demographic column; use only "
         r"\{pid\}, \{region\}, \{age_band\}"),
        ('persona_template = "You live in {region"', None, r"key 'data.persona_template': the template is malformed"),
        ('persona_template = "You are {}."', None, r"placeholder \{\} is not a declared demographic column"),
        ("", 'region = { "1" = 1 }', r"key 'data.demographic_labels.region.1' must be a string"),
    ],
)  # fmt: skip
def test_unknown_columns_and_bad_templates_are_one_line(tmp_path, extra, labels, match):
    _write(tmp_path, extra)
    if labels is not None:
        text = (tmp_path / "uk.toml").read_text().replace('region = { "1" = "London", "2" = "the North East" }', labels)
        (tmp_path / "uk.toml").write_text(text)
    with pytest.raises(ScenarioFileError, match=match) as err:
        get_scenario(str(tmp_path / "uk.toml"))
    assert "\n" not in str(err.value) and "uk.toml" in str(err.value)


def test_the_spec_itself_refuses_undeclared_columns():
    with pytest.raises(ScenarioError, match=r"data.demographic_labels.x.*not a declared demographic column"):
        DataSpec(path="a.csv", demographics=("region",), demographic_labels={"x": {"1": "a"}})
    with pytest.raises(ScenarioError, match=r"data.persona_template.*\{age\}"):
        DataSpec(path="a.csv", demographics=("region",), persona_template="{age}")


# ------------------------------------------------------------------------------------------ the builder
def _build(scenario, n, *, seed=0, split_seed=3):
    ctx = BuildContext(scenario=scenario, seed=seed, split_seed=split_seed, fit_fraction=0.5)
    return build_construction("demographic", ctx, {"n_personas": n}).population


def test_personas_are_exactly_the_fit_half_rows_of_the_group(tmp_path):
    df = _write(tmp_path)
    group = df[df["region"] == 2].reset_index(drop=True)  # uk.toml@2: the group's rows, in file order
    fit, test = split_indices(len(group), seed=3, fit_fraction=0.5)
    sc = get_scenario(f"{tmp_path / 'uk.toml'}@2")
    pop = _build(sc, fit.size)  # every fit-half respondent: a draw from all rows would take test rows
    assert sorted(p.attributes["row"] for p in pop.personas) == fit.tolist()
    assert {p.attributes["pid"] for p in pop.personas} == set(group["pid"].iloc[fit])
    assert not {p.attributes["pid"] for p in pop.personas} & set(group["pid"].iloc[test])
    # the same split as the scores: the personas' rows hold the fit half's human values
    assert sorted(group["trust"].iloc[fit].astype(float)) == sorted(sc.human_values("fit", seed=3).tolist())
    for p in pop.personas:  # each persona is its own row's demographics, mapped through the labels
        row = group.iloc[p.attributes["row"]]
        assert p.text == f"You are {row['pid']}, aged {row['age_band']}, living in the North East."
        assert p.attributes["region"] == "2" and p.attributes["age_band"] == row["age_band"]
    np.testing.assert_allclose(pop.weights, np.full(fit.size, 1.0 / fit.size), rtol=1e-12)
    assert pop.construction == "demographic" and pop.metadata["fit_half_only"] is True
    with pytest.raises(ScenarioError, match=rf"n_personas = {fit.size + 1} must be between 1 and the {fit.size} "):
        _build(sc, fit.size + 1)


def test_the_draw_is_seeded_and_the_default_sentence_is_generic(tmp_path):
    _write(tmp_path, extra="")
    sc = get_scenario(str(tmp_path / "uk.toml"))
    a, b, c = _build(sc, 8, seed=1), _build(sc, 8, seed=1), _build(sc, 8, seed=2)
    assert [p.text for p in a.personas] == [p.text for p in b.personas]
    assert [p.id for p in a.personas] != [p.id for p in c.personas]
    fit, _ = split_indices(N, seed=3)
    assert {p.attributes["row"] for p in a.personas} <= set(fit.tolist())
    for p in a.personas:
        assert p.text.startswith("You are taking part in a survey. About you: pid: p")
        assert ("region: London; age band: " in p.text) or ("region: the North East; age band: " in p.text)
        assert "year-old" not in p.text and "Indonesia" not in p.text


def test_a_builder_without_demographics_or_a_model_free_scenario_is_one_line(tmp_path):
    with pytest.raises(ScenarioError, match=r"^scenario dictator declares no data.demographics.*scenario_files.md\)$"):
        _build(get_scenario("dictator"), 3)
    with pytest.raises(ScenarioError, match="declares no data.demographics"):
        ScenarioDemographicBuilder(3).fit(get_scenario("dictator"))
