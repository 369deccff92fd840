"""Scenarios from a user's TOML file and CSV, written here (not from ../shared): load, questions, exact scoring,
the row split, counted data cleaning and one-line errors for bad files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from scenarios import Scenario, ScenarioFileError, get_scenario, load_scenario
from scenarios.errors import MultiDimensionError, ScenarioError
from scenarios.file_scenarios import DecisionScenario, SurveyScenario
from scenarios.loader import load_spec
from scenarios.scales import Category, Scale
from scenarios.spec import DataSpec, DecisionSpec, DimensionSpec, ItemSpec, SurveySpec, spec_from_dict

SURVEY = """\
kind = "survey"
name = "civic"
topic = "survey on public life"

[survey]
instructions = "How much do you agree, from {low} to {high} ({scale})? Reply with the number only."
item_label = "Statement"
answer_stem = "Answer: "

[scales.agree]
type = "range"
low = 1
high = 3
labels = { 1 = "disagree", 2 = "unsure", 3 = "agree" }

[scales.freq]
type = "ordinal"
categories = [
    { label = "never", code = "N", value = 0 },
    { label = "sometimes", code = "S", value = 1 },
    { label = "often", code = "O", value = 3 },
]

[scales.party]
type = "categorical"
categories = [{ label = "Red", code = "r" }, { label = "Blue", code = "b" }, { label = "Green", code = "g" }]

[[items]]
id = "t1"
text = "I trust my neighbours."
dimension = "trust"
scale = "agree"

[[items]]
id = "t2"
text = "People mostly look out for themselves."
dimension = "trust"
scale = "agree"
reverse = true

[[items]]
id = "vol"
text = "How often do you volunteer?"
scale = "freq"

[[items]]
id = "party"
text = "Which party is closest to you?"
scale = "party"
column = "party_code"

[dimensions.trust]
label = "Social trust"
scoring = "sum"

[data]
path = "answers.csv"
missing = [9]
filters = { country = "GB" }
weight = "w"
demographics = ["age"]
group = "region"
"""

# rows: country, region, age (unique row id), weight, t1, t2, vol, party_code
ROWS = [
    ("GB", "north", 21, 1.0, "1", "3", "N", "r"),
    ("GB", "north", 22, 2.0, "2", "2", "S", "b"),
    ("GB", "south", 23, 1.0, "3", "1", "O", "g"),
    ("GB", "south", 24, 1.0, "3", "3", "S", "r"),
    ("GB", "north", 25, 0.5, "9", "2", "O", "b"),  # t1 missing code
    ("GB", "south", 26, 1.0, "7", "1", "N", "r"),  # t1 out of scale: counted, dropped, never clipped
    ("GB", "north", 27, 1.0, "2", "", "", "g"),  # t2 and vol empty
    ("GB", "south", 28, 1.0, "1", "1", "S", "b"),
    ("FR", "south", 29, 1.0, "3", "3", "O", "r"),  # filtered out
    ("FR", "north", 30, 1.0, "1", "1", "N", "g"),  # filtered out
]


def _csv(rows) -> str:
    lines = ["country,region,age,w,t1,t2,vol,party_code"]
    lines += [",".join(str(x) for x in r) for r in rows]
    return "\n".join(lines) + "\n"


@pytest.fixture
def survey_file(tmp_path: Path) -> Path:
    (tmp_path / "answers.csv").write_text(_csv(ROWS))
    path = tmp_path / "civic.toml"
    path.write_text(SURVEY)
    return path


def _write(tmp_path: Path, toml: str, rows=ROWS, name: str = "bad.toml") -> Path:
    (tmp_path / "answers.csv").write_text(_csv(rows))
    path = tmp_path / name
    path.write_text(toml)
    return path


# ------------------------------------------------------------------------------------------- survey: structure
def test_survey_file_loads_with_questions_like_the_builtins(survey_file):
    trust = get_scenario(f"{survey_file}:trust")
    assert isinstance(trust, Scenario) and isinstance(trust, SurveyScenario)
    assert trust.name == "civic:trust" and trust.label == "Social trust" and trust.ordered
    assert trust.support.tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
    q1, q2 = trust.questions()
    assert q1.prompt == (
        "How much do you agree, from 1 to 3 (1 = disagree, 2 = unsure, 3 = agree)? Reply with the number only.\n"
        'Statement: "I trust my neighbours."'
    )
    assert q2.id == "t2" and q1.answer_prefix == "Answer: " and (q1.answers.low, q1.answers.high) == (1, 3)
    vol = get_scenario(f"{survey_file}:vol")
    assert vol.support.tolist() == [0.0, 1.0, 3.0]
    (qv,) = vol.questions()
    assert "(1 = never, 2 = sometimes, 3 = often)" in qv.prompt and (qv.answers.low, qv.answers.high) == (1, 3)


def test_sum_pmf_by_hand(survey_file):
    trust = get_scenario(f"{survey_file}:trust")
    probs = np.array([[[0.2, 0.3, 0.5], [0.6, 0.4, 0.0]]])  # t2 is reverse-keyed: answer a scores 4 - a
    # keyed t2: 3 w.p. .6, 2 w.p. .4; sums: 3: .2*.4, 4: .2*.6+.3*.4, 5: .3*.6+.5*.4, 6: .5*.6
    assert trust.pmfs(probs)[0] == pytest.approx([0.0, 0.08, 0.24, 0.38, 0.30], abs=1e-12)
    assert trust.scores(np.array([[1.0, 1.0], [3.0, np.nan]])).tolist()[0] == 4.0
    assert np.isnan(trust.scores(np.array([[3.0, np.nan]]))[0])
    with pytest.raises(ValueError, match=r"expected \(K, 2, 3\)"):
        trust.pmfs(np.ones((1, 3, 3)) / 3)


def test_mean_scoring_divides_the_sum_support(tmp_path):
    path = _write(tmp_path, SURVEY.replace('scoring = "sum"', 'scoring = "mean"'), name="mean.toml")
    trust = load_scenario(path, dimension="trust")
    assert trust.support.tolist() == [1.0, 1.5, 2.0, 2.5, 3.0]
    probs = np.array([[[0.2, 0.3, 0.5], [0.6, 0.4, 0.0]]])
    assert trust.pmfs(probs)[0] == pytest.approx([0.0, 0.08, 0.24, 0.38, 0.30], abs=1e-12)
    assert trust.human_values().tolist() == [1.0, 2.0, 3.0, 2.0, 2.0]  # the sums 2, 4, 6, 4, 4 halved


def test_ordinal_values_sum_on_their_own_support():
    cats = tuple(Category(label=x, value=v) for x, v in [("a", 0), ("b", 0.5), ("c", 2)])
    spec = SurveySpec(
        name="o",
        scales={"f": Scale(kind="ordinal", categories=cats)},
        items=tuple(ItemSpec(id=i, text=f"item {i}", dimension="d", scale="f") for i in ("x", "y")),
        dimensions=(DimensionSpec(id="d", label="D", scoring="sum", items=("x", "y")),),
    )
    sc = SurveyScenario(name="o:d", spec=spec, dimensions=("d",))
    assert sc.support.tolist() == [0.0, 0.5, 1.0, 2.0, 2.5, 4.0]
    p = np.array([[[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]]])
    # x in {0, .5} each .5; y: 0 .25, .5 .25, 2 .5 → 0:.125, .5:.25, 1:.125, 2:.25, 2.5:.25, 4:0
    assert sc.pmfs(p)[0] == pytest.approx([0.125, 0.25, 0.125, 0.25, 0.25, 0.0], abs=1e-12)


def test_unordered_item_is_flagged_and_described_by_label(survey_file):
    party = get_scenario(f"{survey_file}:party")
    assert party.ordered is False and party.support.tolist() == [1.0, 2.0, 3.0]
    assert 'answer "Blue"' in party.describe_target(2)
    with pytest.raises(ValueError, match="not an option"):
        party.describe_target(2.5)
    p = np.array([[[0.1, 0.2, 0.7]]])
    assert party.pmfs(p)[0].tolist() == [0.1, 0.2, 0.7]


def test_words_use_the_instruments_labels(survey_file):
    trust = get_scenario(f"{survey_file}:trust")
    text = trust.describe()
    assert "survey on public life on Social trust" in text and "rated from 1 (disagree) to 3 (agree)" in text
    assert "1 (disagree) to 5 (agree)" not in text and "economic game" not in text
    assert trust.describe_target(5) == "a person whose Social trust score would be about 5 out of 6 (high Social trust)"
    assert "scored 4 on Social trust" in trust.describe_exemplar(4)
    with pytest.raises(ValueError, match=r"outside the answer range \[2, 6\]"):
        trust.describe_target(7)


def test_several_dimensions_give_vectors_not_a_support(survey_file):
    both = get_scenario(str(survey_file))
    assert both.dimensions == ("trust", "vol", "party") and not isinstance(both, Scenario)
    with pytest.raises(MultiDimensionError, match="pick one"):
        _ = both.support
    values = both.human_values()
    # complete GB rows 21, 22, 23, 24, 28: (trust sum, vol value, party option)
    assert values.tolist() == [[2, 0, 1], [4, 1, 2], [6, 3, 3], [4, 1, 1], [4, 1, 2]]
    assert [s.name for s in both.by_dimension()] == ["civic:trust", "civic:vol", "civic:party"]


# ------------------------------------------------------------------------------------------- survey: human data
def test_human_values_counted_cleaning_and_weights(survey_file):
    trust = get_scenario(f"{survey_file}:trust")
    # GB rows: t1 + (4 - t2): 21: 1+1, 22: 2+2, 23: 3+3, 24: 3+1, 25: missing, 26: out of scale, 27: t2 empty, 28: 1+3
    assert trust.human_values().tolist() == [2.0, 4.0, 6.0, 4.0, 4.0]
    sample = trust.human_data()
    assert sample.weights.tolist() == [1.0, 2.0, 1.0, 1.0, 1.0]
    assert sample.demographics["age"].tolist() == ["21", "22", "23", "24", "28"]
    report = trust.data_report()
    assert report["rows_read"] == 10 and report["rows_filtered_out"] == 2 and report["rows_kept"] == 8
    assert report["columns"]["t1"] == {"missing": 1, "out_of_scale": 1, "rounded": 0}
    assert report["columns"]["t2"]["missing"] == 1 and report["columns"]["vol"]["missing"] == 1
    assert get_scenario(f"{survey_file}:vol").human_values().tolist() == [0.0, 1.0, 3.0, 1.0, 3.0, 0.0, 1.0]
    assert get_scenario(f"{survey_file}:trust@south").human_values().tolist() == [6.0, 4.0, 4.0]


def test_split_partitions_rows_and_is_shared_across_dimensions(survey_file):
    ages = {}
    for dim in ("trust", "vol", "party"):
        sc = get_scenario(f"{survey_file}:{dim}")
        every = set(sc.human_data().demographics["age"])
        fit = set(sc.human_data("fit", seed=3).demographics["age"])
        test = set(sc.human_data("test", seed=3).demographics["age"])
        assert fit | test == every and not fit & test
        ages[dim] = (fit, test)
    # one row split for the file: a respondent is in the same half for every dimension
    fits = set().union(*(f for f, _ in ages.values()))
    tests = set().union(*(t for _, t in ages.values()))
    assert not fits & tests
    party = get_scenario(f"{survey_file}:party")
    assert party.human_values("fit", seed=3).tolist() == party.human_values("fit", seed=3).tolist()
    with pytest.raises(ScenarioError, match="split must be one of"):
        party.human_values("/data/dir")


def test_undeclared_category_names_file_row_and_fix(tmp_path):
    rows = [*ROWS[:3], ("GB", "north", 31, 1.0, "1", "1", "X", "r")]
    path = _write(tmp_path, SURVEY, rows=rows, name="civic.toml")
    with pytest.raises(
        ScenarioFileError, match=r"civic\.toml: .*answers\.csv row 5, column 'vol'.*'X' is not declared.*data\.missing"
    ):
        get_scenario(f"{path}:vol").human_values()


# ------------------------------------------------------------------------------------------- bad files
BAD = [
    (SURVEY.replace("labels = {", "lables = {"), r"unknown key 'scales\.agree\.lables'; did you mean 'labels'\?"),
    (SURVEY.replace('kind = "survey"\n', ""), r"missing required key 'kind'; add it"),
    (SURVEY.replace("low = 1\n", 'low = "1"\n'), r"key 'scales\.agree\.low' must be an integer, got str '1'"),
    (
        SURVEY.replace("reverse = true", "reverse = 5"),
        r"key 'items\[1\]\.reverse': reverse = 5 maps .* outside the scale; use reverse = true",
    ),
    (
        SURVEY.replace('column = "party_code"', 'column = "partei"'),
        r"key 'items\[3\]\.column': column 'partei' is not in .*answers\.csv",
    ),
    (
        SURVEY.replace('scale = "party"\n', 'scale = "party"\nreverse = true\n'),
        r"key 'items\[3\]\.reverse': .*unordered scale 'party'; remove reverse",
    ),
    (
        SURVEY.replace('scale = "agree"\nreverse = true', 'scale = "agreee"\nreverse = true'),
        r"key 'items\[1\]\.scale': unknown scale 'agreee'",
    ),
    (SURVEY.replace('weight = "w"', 'weight = "wt"'), r"key 'data\.weight': column 'wt' is not in"),
    (
        SURVEY.replace('filters = { country = "GB" }', 'filters = { land = "GB" }'),
        r"key 'data\.filters\.land': column 'land'",
    ),
    (SURVEY + '\n[dimensions.ghost]\nlabel = "x"\n', r"key 'dimensions\.ghost': no item has dimension = 'ghost'"),
    (SURVEY.replace("({scale})?", "({scales})?"), r"key 'survey\.instructions': .*unknown placeholders \['scales'\]"),
    (
        SURVEY.replace('labels = { 1 = "disagree", 2 = "unsure", 3 = "agree" }', 'labels = { 1 = "disagree" }'),
        r"key 'scales\.agree\.labels': label both ends",
    ),
    (
        SURVEY.replace('{ label = "sometimes", code = "S", value = 1 }', '{ label = "sometimes", code = "S" }'),
        r"key 'scales\.freq\.categories\[1\]\.value': every ordinal category needs",
    ),
    (
        SURVEY.replace(
            'scale = "party"\ncolumn = "party_code"', 'scale = "party"\ncolumn = "party_code"\ndimension = "trust"'
        ),
        r"key 'dimensions\.trust': its items use scales \[.*\] with a range and a categorical scale",
    ),
    (
        SURVEY.replace("[dimensions.trust]", '[decision]\ninstruction = "x"\nlow = 0\nhigh = 1\n\n[dimensions.trust]'),
        r"key 'decision': belongs to a decision task",
    ),
    ('kind = "survey"\n[scale\n', r"not valid TOML"),
]


@pytest.mark.parametrize(("toml", "message"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_files_fail_in_one_line_naming_file_and_key(tmp_path, toml, message):
    path = _write(tmp_path, toml)
    with pytest.raises(ScenarioFileError, match=re.escape(str(path)) + ".*" + message) as info:
        get_scenario(f"{path}:trust").human_values()
    assert "\n" not in str(info.value)


def test_missing_file_and_unknown_dimension(tmp_path, survey_file):
    with pytest.raises(ScenarioFileError, match=r"nope\.toml: no such scenario file"):
        get_scenario(str(tmp_path / "nope.toml"))
    with pytest.raises(ScenarioError, match=r"no dimension 'honesty'; dimensions: \['trust', 'vol', 'party'\]"):
        get_scenario(f"{survey_file}:honesty")
    with pytest.raises(ScenarioError, match="no respondent has region = 'east'"):
        get_scenario(f"{survey_file}:trust@east").human_values()


def test_parquet_data_reads_like_csv(tmp_path, survey_file):
    import pandas as pd

    df = pd.read_csv(tmp_path / "answers.csv", dtype=str, keep_default_na=False)
    df.to_parquet(tmp_path / "answers.parquet")
    path = _write(tmp_path, SURVEY.replace('path = "answers.csv"', 'path = "answers.parquet"'), name="pq.toml")
    assert get_scenario(f"{path}:trust").human_values().tolist() == [2.0, 4.0, 6.0, 4.0, 4.0]


# ------------------------------------------------------------------------------------------- decision task
DECISION = """\
kind = "decision"
name = "donation"
topic = "a charity study"

[decision]
instruction = "You received $10. How many dollars, from 0 to 10, do you donate to a local food bank?"
answer_stem = "I donate $"
low = 0
high = 10
label = "amount donated"

[data]
path = "donations.csv"
column = "gave"
missing = ["NA"]
"""


@pytest.fixture
def decision_file(tmp_path: Path) -> Path:
    rows = ["id,gave", "1,0", "2,5", "3,10", "4,2.5", "5,NA", "6,11", "7,3", "8,4"]
    (tmp_path / "donations.csv").write_text("\n".join(rows) + "\n")
    path = tmp_path / "donation.toml"
    path.write_text(DECISION)
    return path


def test_decision_task_end_to_end(decision_file):
    task = get_scenario(str(decision_file))
    assert isinstance(task, DecisionScenario) and isinstance(task, Scenario)
    assert task.name == "donation" and task.support.tolist() == list(range(11)) and task.dimensions == ("donation",)
    (q,) = task.questions()
    assert q.prompt.startswith("You received $10.") and q.answer_prefix == "I donate $" and q.answers.high == 10
    probs = np.full((2, 1, 11), 1 / 11)
    assert task.pmfs(probs).shape == (2, 11)
    # 2.5 is rounded (to 2, counted), 11 is outside 0..10 (counted, dropped), NA is missing
    assert task.human_values().tolist() == [0.0, 5.0, 10.0, 2.0, 3.0, 4.0]
    assert task.data_report()["columns"]["gave"] == {"missing": 1, "out_of_scale": 1, "rounded": 1}
    fit, test = task.human_values("fit", seed=1), task.human_values("test", seed=1)
    assert sorted([*fit, *test]) == sorted(task.human_values().tolist()) and fit.size == 3
    assert task.describe() == f'The person will be asked this in a charity study:\n"{q.prompt}"'
    assert task.describe_target(4) == "a person whose answer would be about 4 (on the scale from 0 to 10)"


def test_decision_task_bad_inputs(tmp_path, decision_file):
    path = tmp_path / "d2.toml"
    path.write_text(DECISION.replace('column = "gave"', 'column = "given"'))
    with pytest.raises(ScenarioFileError, match=r"d2\.toml: key 'data\.column': column 'given' is not in"):
        get_scenario(str(path)).human_values()
    path.write_text(DECISION.replace("high = 10", "high = 0"))
    with pytest.raises(ScenarioFileError, match=r"d2\.toml: key 'decision\.high': need 0 <= low < high"):
        get_scenario(str(path))
    path.write_text(DECISION + '\n[scale]\ntype = "range"\n')
    with pytest.raises(ScenarioFileError, match=r"d2\.toml: key 'scale': belongs to a survey"):
        get_scenario(str(path))
    with pytest.raises(ScenarioError, match="a decision task has no dimensions"):
        get_scenario(f"{decision_file}:x")


# ------------------------------------------------------------------------------------------- round trips
def test_specs_round_trip(survey_file, decision_file):
    spec = load_spec(survey_file)
    assert SurveySpec.from_dict(spec.to_dict()) == spec and spec_from_dict(spec.to_dict()) == spec
    dspec = load_spec(decision_file)
    assert isinstance(dspec, DecisionSpec) and DecisionSpec.from_dict(dspec.to_dict()) == dspec
    for scale in spec.scales.values():
        assert Scale.from_dict(scale.to_dict()) == scale
    assert DataSpec.from_dict(spec.data.to_dict()) == spec.data
    sc = get_scenario(f"{survey_file}:trust")
    again = SurveyScenario.from_dict(sc.to_dict())
    assert again == sc and again.human_values().tolist() == sc.human_values().tolist()
    dsc = get_scenario(str(decision_file))
    assert DecisionScenario.from_dict(dsc.to_dict()) == dsc


def test_register_a_scenario_made_in_code(decision_file):
    from scenarios import catalog, registry

    made = get_scenario(str(decision_file))
    registry.register_scenario("donation_in_code", lambda source=None, wording="own": made)
    try:
        assert get_scenario("donation_in_code") is made and "donation_in_code" in registry.scenario_names()
        for taken in ("dictator", "trust", "bigfive", "donation_in_code"):  # a role, a game, a file, itself
            with pytest.raises(ScenarioError, match="already registered"):
                registry.register_scenario(taken, lambda **_: made)
    finally:
        catalog.FACTORIES.pop("donation_in_code")


def test_data_from_a_url(tmp_path, monkeypatch):
    import http.server
    import threading

    site = tmp_path / "site"
    site.mkdir()
    (site / "answers.csv").write_text(_csv(ROWS))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(site), **kw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("POPULACE_DATA_CACHE", str(tmp_path / "cache"))
    url = f"http://127.0.0.1:{server.server_port}/answers.csv"
    path = tmp_path / "remote.toml"
    path.write_text(SURVEY.replace('path = "answers.csv"', f'url = "{url}"'))
    try:
        values = get_scenario(f"{path}:trust").human_values()
    finally:
        server.shutdown()
    assert values.tolist() == [2.0, 4.0, 6.0, 4.0, 4.0]
