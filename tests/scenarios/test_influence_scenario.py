"""The social-influence scenario kind: the built-in lorenz2011, one-line errors, and the one registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from scenarios.catalog import holder
from scenarios.errors import ScenarioError, ScenarioFileError
from scenarios.influence import get_influence, influence_names, load_influence
from scenarios.registry import get_scenario, register_scenario

BASE = """
kind = "influence"
name = "mine"
rounds = 3
group_size = 4
[answers]
low = 1
high = 100000
[conditions.control]
rule = "none"
[[items]]
id = "Q"
text = "How many?"
truth = 12
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "mine.toml"
    p.write_text(text)
    return p


def test_lorenz2011_is_built_in_and_holds_its_name(data_dir):
    assert influence_names() == ["lorenz2011"]
    spec = get_influence("lorenz2011")
    assert [c.rule for c in spec.conditions] == ["none", "mean", "all"] and spec.rounds == 5
    assert [it.truth for it in spec.items] == [184, 734, 10067, 198, 639, 9272]
    humans = spec.human_rounds(data_dir)
    assert humans.estimates.shape == (72, 12, 5) and set(humans.items) == {f"Q{i}" for i in range(1, 7)}
    assert humans.truth[humans.items.index("Q3")] == 10067
    assert "social-influence" in holder("lorenz2011")
    with pytest.raises(ScenarioError, match="already registered, as the built-in social-influence scenario"):
        register_scenario("lorenz2011", lambda **_: None)
    with pytest.raises(ScenarioError, match="is a social-influence scenario .*populace influence --scenario lorenz"):
        get_scenario("lorenz2011")


def test_the_data_folder_itself_is_a_source(data_dir, tmp_path):
    shutil.copy(data_dir / "lorenz2011" / "lorenz_2011.csv", tmp_path / "lorenz_2011.csv")
    humans = get_influence("lorenz2011").human_rounds(tmp_path)
    assert humans.estimates.shape == (72, 12, 5)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ('rule = "none"', ""),
            r"mine.toml: key 'conditions.control.rule': a condition needs an information rule; "
            r"add rule = one of \['none', 'mean', 'all', 'neighbours'\]",
        ),
        (('rule = "none"', 'rule = "gossip"'), "unknown rule 'gossip'"),
        (('rule = "none"', 'rule = "mean"\nshow = "all"'), "only a neighbours rule takes show"),
        (("rounds = 3", "rounds = 1"), "key 'rounds': must be an integer >= 2"),
        (("group_size = 4", "group_size = 4\ncolour = 1"), "key 'colour': unknown key"),
        (('text = "How many?"', ""), r"key 'items\[0\].text': missing or empty"),
        (("high = 100000", "high = 0"), "need 0 < low < high"),
    ],
)
def test_bad_files_fail_in_one_line(tmp_path, edit, message):
    p = _write(tmp_path, BASE.replace(*edit))
    with pytest.raises(ScenarioFileError, match=message) as err:
        load_influence(p)
    assert "\n" not in str(err.value)


def test_a_human_file_without_the_round_columns_names_the_fix(tmp_path):
    (tmp_path / "h.csv").write_text("group,cond,E1,E2\ng1,control,3,4\ng1,control,5,6\n")
    text = BASE + '[data]\npath = "h.csv"\nrounds = ["E1", "E2", "E3"]\ncondition = "cond"\ngroups = "group"\n'
    spec = load_influence(_write(tmp_path, text))
    with pytest.raises(ScenarioFileError, match=r"h.csv: no column\(s\) \['E3'\] named in .*mine.toml data.rounds.*"
                                                r"fix data.rounds or the file's header"):  # fmt: skip
        spec.human_rounds()
    (tmp_path / "h.csv").write_text("group,cond,E1,E2,E3\ng1,control,3,4,5\ng1,control,5,6,x\n")
    with pytest.raises(Exception, match="column 'E3' holds 'x', not a number"):
        spec.human_rounds()
    (tmp_path / "h.csv").write_text("group,cond,E1,E2,E3\ng1,control,3,4,5\ng1,control,5,6,7\ng2,other,1,1,1\n")
    humans = spec.human_rounds()
    assert humans.groups == ("g1",) and np.array_equal(humans.estimates[0], [[3, 4, 5], [5, 6, 7]])


def test_the_data_mapping_must_list_every_round(tmp_path):
    text = BASE + '[data]\npath = "h.csv"\nrounds = ["E1"]\ncondition = "c"\ngroups = "g"\n'
    with pytest.raises(ScenarioFileError, match=r"key 'data.rounds': list the 3 round columns"):
        load_influence(_write(tmp_path, text))


def test_small_answer_sets_are_exact_and_large_ones_a_log_grid(tmp_path):
    small = load_influence(_write(tmp_path, BASE.replace("high = 100000", "high = 7")))
    assert small.items[0].grid.kind == "exact" and small.items[0].grid.integer_answers.high == 7
    big = load_influence(_write(tmp_path, BASE))
    assert big.items[0].grid.kind == "log-grid" and big.items[0].grid.values.size == 21
    with pytest.raises(ScenarioFileError, match='use grid = "log"'):
        load_influence(_write(tmp_path, BASE.replace("high = 100000", 'high = 100000\ngrid = "exact"')))
