"""Issue 18 item 6: what scenario files can now say (each test fails on the format before it).

* each item's own end labels within one dimension;
* reverse-keyed items read from a keys file (or a column of it);
* "mean of the answered items" scoring with a minimum count;
* human values that are bins, simulated answers binned the same way;
* human rows from several files, one group each.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scenarios import get_scenario
from scenarios.errors import ScenarioFileError

LABELS = """\
kind = "survey"
name = "mixed"
[scales.agree]
type = "range"
low = 1
high = 5
labels = { 1 = "strongly disagree", 5 = "strongly agree" }
[scales.like]
type = "range"
low = 1
high = 5
labels = { 1 = "dislike a lot", 5 = "like a lot" }
[[items]]
id = "q1"
text = "Parks are well kept."
dimension = "town"
scale = "agree"
[[items]]
id = "q2"
text = "The bus service."
dimension = "town"
scale = "like"
[dimensions.town]
scoring = "sum"
[data]
path = "mixed.csv"
"""


def _file(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


def test_items_of_one_dimension_keep_their_own_end_labels(tmp_path):
    (tmp_path / "mixed.csv").write_text("q1,q2\n1,5\n2,2\n5,\n")
    town = get_scenario(_file(tmp_path, "mixed.toml", LABELS) + ":town")
    q1, q2 = town.questions()
    assert "1 = strongly disagree, 5 = strongly agree" in q1.prompt and "like a lot" not in q1.prompt
    assert "1 = dislike a lot, 5 = like a lot" in q2.prompt
    assert town.support.tolist() == list(range(2, 11))
    assert town.human_values().tolist() == [6.0, 4.0]  # row 3 missed q2


def test_items_of_one_dimension_must_still_be_scored_alike(tmp_path):
    bad = LABELS.replace(
        '[scales.like]\ntype = "range"\nlow = 1\nhigh = 5', '[scales.like]\ntype = "range"\nlow = 1\nhigh = 7'
    )
    bad = bad.replace('5 = "like a lot"', '7 = "like a lot"')
    with pytest.raises(ScenarioFileError, match=r"key 'dimensions\.town': .*answers 1\.\.5 and 1\.\.7; items of one"):
        get_scenario(_file(tmp_path, "bad.toml", bad))


KEYED = """\
kind = "survey"
name = "keyed"
[scale]
type = "range"
low = 0
high = 4
labels = { 0 = "no", 4 = "yes" }
[[items]]
id = "k1"
text = "I like crowds."
dimension = "x"
[[items]]
id = "k2"
text = "I avoid parties."
dimension = "x"
[[items]]
id = "k3"
text = "I enjoy talking."
dimension = "x"
[dimensions.x]
scoring = "sum"
[keys]
path = "keys.csv"
[data]
path = "keyed.csv"
"""


def test_reverse_keys_come_from_a_keys_file(tmp_path):
    (tmp_path / "keys.csv").write_text("item,key\nk1,1\nk2,-1\nk3,+\n")
    (tmp_path / "keyed.csv").write_text("k1,k2,k3\n4,0,3\n1,3,0\n")
    x = get_scenario(_file(tmp_path, "keyed.toml", KEYED) + ":x")
    assert [x.spec.item(i).reverse for i in ("k1", "k2", "k3")] == [False, True, False]
    # by hand: k2 on 0..4 reversed is 4 − answer: row 1 = 4 + 4 + 3, row 2 = 1 + 1 + 0
    assert x.human_values().tolist() == [11.0, 2.0]


def test_reverse_keys_from_another_column_and_marks(tmp_path):
    (tmp_path / "keys.csv").write_text("variable;sign\nk1;R\nk2;F\nk3;R\n")
    text = KEYED.replace('path = "keys.csv"', 'path = "keys.csv"\nseparator = ";"\nitem = "variable"\nkey = "sign"')
    text = text.replace("[keys]", '[keys]\nreverse_values = ["R"]\nforward_values = ["F"]')
    (tmp_path / "keyed.csv").write_text("k1,k2,k3\n4,0,3\n")
    x = get_scenario(_file(tmp_path, "keyed.toml", text) + ":x")
    assert x.human_values().tolist() == [0.0 + 0.0 + 1.0]


@pytest.mark.parametrize(
    ("keys", "match"),
    [
        ("item,key\nk9,-1\n", r"keys.csv row 2: item 'k9' is not an item of the file"),
        ("item,key\nk1,maybe\n", r"key 'keys\.reverse_values': .*row 2: key 'maybe' of item 'k1' is neither"),
        ("id,key\nk1,-1\n", r"key 'keys\.item': column 'item' is not in"),
    ],
)
def test_bad_keys_files_are_one_line_errors(tmp_path, keys, match):
    (tmp_path / "keys.csv").write_text(keys)
    (tmp_path / "keyed.csv").write_text("k1,k2,k3\n1,1,1\n")
    with pytest.raises(ScenarioFileError, match=match):
        get_scenario(_file(tmp_path, "keyed.toml", KEYED))


def test_an_items_own_reverse_must_agree_with_the_keys_file(tmp_path):
    (tmp_path / "keys.csv").write_text("item,key\nk1,-1\n")
    text = KEYED.replace('id = "k1"\n', 'id = "k1"\nreverse = false\n')
    with pytest.raises(ScenarioFileError, match=r"key 'items\[0\]\.reverse': item 'k1' has reverse = False but"):
        get_scenario(_file(tmp_path, "keyed.toml", text))


ANSWERED = KEYED.replace(
    '[dimensions.x]\nscoring = "sum"', '[dimensions.x]\nscoring = "mean_answered"\nmin_answered = 2'
)
ANSWERED = ANSWERED.replace('[keys]\npath = "keys.csv"\n', "")


def test_mean_of_the_answered_items_with_a_minimum_count(tmp_path):
    (tmp_path / "keyed.csv").write_text("k1,k2,k3\n4,0,3\n1,,2\n,,3\n")
    x = get_scenario(_file(tmp_path, "answered.toml", ANSWERED) + ":x")
    # psych::scoreItems(impute = "none"): (4 + 0 + 3) / 3, (1 + 2) / 2; one answer < min_answered = 2: no score
    assert x.human_values().tolist() == pytest.approx([7 / 3, 1.5])
    assert set(np.round(x.human_values(), 9)) <= set(np.round(x.support, 9))
    assert 1.5 in x.support and pytest.approx(x.support[np.argmin(abs(x.support - 7 / 3))]) == 7 / 3
    uniform = np.full((1, 3, 5), 0.2)
    pmf = x.pmfs(uniform)[0]
    assert pmf.sum() == pytest.approx(1.0) and pmf[x.support == 1.5].item() == 0.0  # 4.5/3 is no sum of 3 answers
    mean = get_scenario(_file(tmp_path, "mean.toml", ANSWERED.replace("_answered\nmin_answered = 2", "")) + ":x")
    assert float(pmf @ x.support) == pytest.approx(float(mean.pmfs(uniform)[0] @ mean.support))
    assert x.scores(np.array([[4.0, np.nan, 2.0]])).tolist() == [3.0]  # a simulated unparsed answer: same rule


def test_min_answered_is_checked(tmp_path):
    with pytest.raises(ScenarioFileError, match=r"dimensions\.x\.min_answered': must be between 1 and"):
        get_scenario(_file(tmp_path, "a.toml", ANSWERED.replace("min_answered = 2", "min_answered = 4")))
    text = ANSWERED.replace('"mean_answered"', '"mean"')
    with pytest.raises(ScenarioFileError, match=r'min_answered\': goes with scoring = "mean_answered"'):
        get_scenario(_file(tmp_path, "b.toml", text))


GIVING = """\
kind = "decision"
name = "giving"
[decision]
instruction = "You have 100 points. How many, from 0 to 100, do you give to the other person?"
low = 0
high = 100
bins = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
[data]
column = "gave"
files = [{ path = "students.csv", group = "students" }, { path = "non_students.csv", group = "others" }]
"""


def test_binned_human_values_and_simulated_answers_binned_alike(tmp_path):
    (tmp_path / "students.csv").write_text("gave\n0\n10\n10\n50\n")
    (tmp_path / "non_students.csv").write_text("gave\n20\n30\n100\n")
    g = get_scenario(_file(tmp_path, "giving.toml", GIVING))
    assert g.support.tolist() == [float(v) for v in range(0, 101, 10)]
    assert g.scores(np.array([[37.0], [35.0], [4.0], [96.0]])).tolist() == [40.0, 30.0, 0.0, 100.0]  # ties go down
    probs = np.zeros((1, 1, 101))
    probs[0, 0, [3, 4, 6, 37]] = 0.25
    assert g.pmfs(probs)[0].tolist() == [0.5, 0.25, 0.0, 0.0, 0.25, 0, 0, 0, 0, 0, 0]
    floor = get_scenario(_file(tmp_path, "floor.toml", GIVING.replace("100]\n", '100]\nbin_rule = "floor"\n')))
    assert floor.scores(np.array([[37.0], [9.0]])).tolist() == [30.0, 0.0]
    assert g.answer_values("giving")[[4, 6]].tolist() == [0.0, 10.0]


def test_human_rows_from_several_files_one_group_each(tmp_path):
    (tmp_path / "students.csv").write_text("gave\n0\n10\n10\n50\n")
    (tmp_path / "non_students.csv").write_text("gave\n20\n33\n100\n")
    path = _file(tmp_path, "giving.toml", GIVING)
    both = get_scenario(path)
    assert both.human_values().tolist() == [0, 10, 10, 50, 20, 30, 100]  # 33 goes to its bin, counted
    assert both.data_report()["columns"]["gave"]["binned"] == 1
    assert get_scenario(path + "@students").human_values().tolist() == [0, 10, 10, 50]
    assert get_scenario(path + "@others").human_values().tolist() == [20, 30, 100]
    (tmp_path / "non_students.csv").write_text("gave\n20\nlots\n")
    with pytest.raises(ScenarioFileError, match=r"non_students\.csv row 3, column 'gave'"):
        get_scenario(path + "@others").human_values()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (("bins = [0, 10", "bins = [10, 0"), r"bins must be at least 2 increasing values"),
        (("bins = [0, 10", "bins = [-10, 10"), r"must lie inside 0\.\.100"),
        (('group = "others"', 'group = "students"'), r"key 'data\.files': groups \['students'\] are empty or repeated"),
        (("[data]\n", '[data]\npath = "x.csv"\n'), r"key 'data\.path': give the files in data\.files"),
    ],
)
def test_bins_and_files_are_checked(tmp_path, change, match):
    with pytest.raises(ScenarioFileError, match=match):
        get_scenario(_file(tmp_path, "giving.toml", GIVING.replace(*change)))


# ------------------------------------------------------------------ item 8: reverse keying off a 1-based scale
REVERSED = """\
kind = "survey"
name = "rev"
[scales.zero4]
type = "range"
low = 0
high = 4
labels = {{ 0 = "never", 4 = "always" }}
[scales.zero10]
type = "range"
low = 0
high = 10
labels = {{ 0 = "not at all", 10 = "completely" }}
[scales.custom]
type = "ordinal"
categories = [
    {{ label = "against", code = "a", value = -1 }},
    {{ label = "neutral", code = "n", value = 0 }},
    {{ label = "for", code = "f", value = 3 }},
]
[[items]]
id = "a1"
text = "A one."
dimension = "a"
scale = "zero4"
[[items]]
id = "a2"
text = "A two."
dimension = "a"
scale = "zero4"
reverse = {a2}
[[items]]
id = "b1"
text = "B one."
dimension = "b"
scale = "zero10"
[[items]]
id = "b2"
text = "B two."
dimension = "b"
scale = "zero10"
reverse = true
[[items]]
id = "c1"
text = "C one."
dimension = "c"
scale = "custom"
[[items]]
id = "c2"
text = "C two."
dimension = "c"
scale = "custom"
reverse = true
[dimensions.a]
scoring = "sum"
[dimensions.b]
scoring = "mean"
[dimensions.c]
scoring = "sum"
[data]
path = "rev.csv"
"""

REV_CSV = "a1,a2,b1,b2,c1,c2\n0,0,0,0,a,a\n4,1,10,3,f,n\n2,4,7,10,n,f\n"


@pytest.mark.parametrize(
    ("a2", "expected_a"),
    [
        # reverse = true on 0..4: 4 − answer. Rows: 0 + 4, 4 + 3, 2 + 0
        ("true", [4.0, 7.0, 2.0]),
        # reverse = 4 (R − answer, the same mirror written as an integer)
        ("4", [4.0, 7.0, 2.0]),
    ],
)
def test_reverse_keying_on_scales_that_do_not_start_at_1(tmp_path, a2, expected_a):
    (tmp_path / "rev.csv").write_text(REV_CSV)
    path = _file(tmp_path, "rev.toml", REVERSED.format(a2=a2))
    assert get_scenario(path + ":a").human_values().tolist() == expected_a
    # 0..10 mirrored as 10 − answer, then the mean of 2: (0 + 10)/2, (10 + 7)/2, (7 + 0)/2
    assert get_scenario(path + ":b").human_values().tolist() == [5.0, 8.5, 3.5]
    # custom values −1, 0, 3 mirrored as (−1 + 3) − value: a → 3, n → 2, f → −1.
    # Rows: c1 = a (−1) + c2 = a (3) = 2; f (3) + n (2) = 5; n (0) + f (−1) = −1
    c = get_scenario(path + ":c")
    assert c.human_values().tolist() == [2.0, 5.0, -1.0]
    # and the exact distribution is on the same keyed values: c2 answered "f" (option 3) with certainty scores −1
    probs = np.zeros((1, 2, 3))
    probs[0, 0, 1] = 1.0  # c1 neutral: 0
    probs[0, 1, 2] = 1.0  # c2 for, reversed: −1
    pmf = c.pmfs(probs)[0]
    assert c.support[np.argmax(pmf)] == -1.0 and pmf.max() == pytest.approx(1.0)
    assert c.scores(np.array([[1.0, 1.0], [3.0, 2.0]])).tolist() == [2.0, 5.0]  # option numbers, keyed the same


def test_an_integer_reverse_must_map_a_zero_based_scale_onto_itself(tmp_path):
    (tmp_path / "rev.csv").write_text(REV_CSV)
    with pytest.raises(ScenarioFileError, match=r"reverse = 5 maps item 'a2''s answers 0\.\.4 to 1\.\.5"):
        get_scenario(_file(tmp_path, "rev.toml", REVERSED.format(a2="5")))
