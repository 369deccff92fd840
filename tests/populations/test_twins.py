"""Digital twins (``populations.twins``): profiles, one persona per profile, and population-frame files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from populations.twins import TwinError, build_twins, read_frame, twin_profiles
from scenarios.errors import ScenarioError
from scenarios.registry import get_scenario

SURVEY = """\
kind = "survey"
name = "uk"
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
persona_template = "You are a respondent aged {age_band} living in {region}."
[data.demographic_labels]
region = { "1" = "London", "2" = "the North East" }
"""


@pytest.fixture
def scenario(tmp_path):
    rows = ["region,age_band,trust", "1,18-34,4", "2,55+,2", "1,18-34,5", "2,18-34,1", "1,,3", "2,55+,2"]
    (tmp_path / "uk.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "uk.toml").write_text(SURVEY)
    return get_scenario(str(tmp_path / "uk.toml"))


def test_profiles_are_distinct_rows_in_first_appearance_order_with_a_round_trip_index():
    df = pd.DataFrame({"region": ["2", "1", "2", np.nan, "1", np.nan, ""], "age": ["a", "b", "a", "b", "b", "b", "b"]})
    profiles, index = twin_profiles(df)
    assert profiles["age"].tolist() == ["a", "b", "b", "b"]
    assert profiles["region"].tolist()[0:2] == ["2", "1"] and pd.isna(profiles["region"].iloc[2])
    assert profiles["region"].iloc[3] == "" and len(profiles) == 4  # NaN is one value; "" another
    assert index.tolist() == [0, 1, 0, 2, 1, 2, 3] and index.shape == (7,) and index.dtype.kind == "i"
    pd.testing.assert_frame_equal(profiles.iloc[index].reset_index(drop=True), df)
    assert list(profiles.index) == [0, 1, 2, 3] and list(profiles.columns) == ["region", "age"]


def test_profiles_of_random_frames_round_trip():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.choice(["x", "y", None], 200), "b": rng.integers(0, 3, 200)})
    profiles, index = twin_profiles(df)
    assert len(profiles) == len(df.drop_duplicates())
    pd.testing.assert_frame_equal(profiles.iloc[index].reset_index(drop=True), df)
    assert not profiles.duplicated().any()
    first = [int(np.flatnonzero(index == j)[0]) for j in range(len(profiles))]
    assert first == sorted(first)  # first-appearance order


def test_one_twin_per_profile_from_the_right_rows(scenario):
    demo = scenario.rows().demographics
    profiles, index = twin_profiles(demo)
    twins = build_twins(scenario, profiles)
    assert len(twins) == len(profiles) == 4 and twins.construction == "twins"
    np.testing.assert_allclose(twins.weights, np.full(4, 0.25), rtol=1e-12)
    texts = [twins.personas[j].text for j in index]  # each human row's twin
    assert texts == [
        "You are a respondent aged 18-34 living in London.",
        "You are a respondent aged 55+ living in the North East.",
        "You are a respondent aged 18-34 living in London.",
        "You are a respondent aged 18-34 living in the North East.",
        "You are taking part in a survey. About you: region: London.",  # no age: the sentence falls back
        "You are a respondent aged 55+ living in the North East.",
    ]
    assert twins.personas[1].attributes == {"region": "2", "age_band": "55+", "profile": 1}
    # a subset of the columns: the template's sentence lacks age_band, so the generic sentence is used
    sub, _ = twin_profiles(demo[["region"]])
    assert [p.text for p in build_twins(scenario, sub).personas] == [
        "You are taking part in a survey. About you: region: London.",
        "You are taking part in a survey. About you: region: the North East.",
    ]


def test_build_twins_refuses_unknown_columns_and_scenarios_without_demographics(scenario):
    with pytest.raises(TwinError, match=r"profile column 'county' is not a demographic column of uk"):
        build_twins(scenario, pd.DataFrame({"county": ["x"]}))
    with pytest.raises(TwinError, match="no profiles"):
        build_twins(scenario, pd.DataFrame({"region": []}))
    with pytest.raises(ScenarioError, match="declares no data.demographics"):
        build_twins(get_scenario("dictator"), pd.DataFrame({"a": [1]}))


def test_read_frame_keeps_extra_columns_and_reads_text(scenario, tmp_path):
    (tmp_path / "frame.csv").write_text("region,age_band,weight\n1,18-34,2.5\n2,,1\n")
    df = read_frame(tmp_path / "frame.csv", scenario)
    assert list(df.columns) == ["region", "age_band", "weight"]
    assert df["region"].tolist() == ["1", "2"] and df["age_band"].tolist() == ["18-34", ""]
    # the frame's rows and the humans' rows share profiles (both read as text)
    profiles, index = twin_profiles(pd.concat([scenario.rows().demographics, df[["region", "age_band"]]]))
    assert index[-2] == index[0]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("region,weight\n1,2\n", r"frame.csv: the population frame lacks demographic columns \['age_band'\] of uk"),
        ("place,weight\n1,2\n", r"lacks demographic columns \['region', 'age_band'\] of uk; add them \(it has"),
        ("", r"frame.csv: the population frame is empty; write a header with region, age_band"),
        ("region,age_band\n", r"frame.csv: the population frame has a header but no rows"),
        (b"region,age_band\n\xff\xfe,1\n", r"frame.csv: cannot read the population frame as CSV"),
    ],
)
def test_read_frame_errors_are_one_line(scenario, tmp_path, text, match):
    p = tmp_path / "frame.csv"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(TwinError, match=match) as err:
        read_frame(p, scenario)
    assert "\n" not in str(err.value) and isinstance(err.value, ValueError)


def test_read_frame_of_a_missing_file(scenario, tmp_path):
    with pytest.raises(TwinError, match=r"nope.csv: population frame not found"):
        read_frame(tmp_path / "nope.csv", scenario)
