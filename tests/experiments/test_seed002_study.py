"""The seed002 study file: the shipped one gives the documented defaults; options override it; bad files are one line."""

from __future__ import annotations

import pytest

from experiments import cli
from experiments.exp_seed002 import _parser, plan_text
from experiments.seed002_study import DEFAULT_STUDY, Seed002Error, load_seed002_study, resolve_settings


def _settings(*argv):
    return resolve_settings(_parser().parse_args(list(argv)))


def _study(tmp_path, old: str, new: str, name: str = "s.toml"):
    text = DEFAULT_STUDY.read_text()
    assert old in text
    p = tmp_path / name
    p.write_text(text.replace(old, new, 1))
    return p


def test_the_shipped_study_is_the_paper_setup():
    s = _settings()
    assert s.study == DEFAULT_STUDY and s.seed == 0 and s.profile == "fast" and s.n_select == 200
    assert s.items == ("E1", "E2", "N1", "N2", "A1", "A2", "C1", "C2", "O1", "O2")
    assert [m for _, m in s.methods] == ["raw", "random", "resample", "is_only", "ot_only"]
    assert [(o.label, o.scenario, len(o.items)) for o in s.out_of_domain] == [
        ("CFCS", "osp_cfcs", 6),
        ("Grit", "osp_grit", 6),
    ]
    assert s.pools[-1] == "big5_respondents:600" and s.draws == 1 and not s.expected and s.wvs
    assert [c for c, _ in s.country_queries] == ["US", "IN", "GB", "PH"]
    assert _settings("--profile", "paper").n_select == 5000


def test_options_override_the_study_file(tmp_path):
    study = _study(tmp_path, "seed = 0 ", "seed = 11 ")
    assert _settings("--study", str(study)).seed == 11
    assert _settings("--study", str(study), "--seed", "0").seed == 0  # --seed wins, even 0
    s = _settings("--items", "E1,E2", "--item-weights", "1,3", "--cfcs-items", "Q1", "--workers", "1", "--no-wvs")
    assert s.items == ("E1", "E2") and s.item_weights == (1.0, 3.0) and s.workers == 1 and not s.wvs
    assert s.out_of_domain[0].items == ("Q1",) and len(s.out_of_domain[1].items) == 6


def test_a_study_changes_the_rows_and_the_plan(tmp_path):
    study = _study(
        tmp_path,
        '[[constructions]]\nname = "OT-only"',
        '[[constructions]]\nname = "OT balanced"\nmethod = "ot_only"\n\n[[constructions]]\nname = "OT-only"',
    )
    s = _settings("--study", str(study))
    assert [label for label, _ in s.methods] == ["Raw", "RandomSelect", "Resample", "IS-only", "OT balanced", "OT-only"]
    assert "| table rows | Raw, RandomSelect, Resample, IS-only, OT balanced, OT-only |" in plan_text(s)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("[pool]\n", "[pool]\nsize = 3\n", "s.toml: unknown key 'pool.size'"),
        ('method = "raw"', 'method = "best"', "key 'constructions[0].method' must be one of"),
        ("repeats = 5 ", 'repeats = "five" ', "key 'repeats' must be an integer"),
        ('name = "Resample"', 'name = "Resampled"', "constructions has no row named 'Resample'"),
        ('profile = "fast"', 'profile = "slow"', "unknown profile 'slow'; profiles: ['fast', 'paper']"),
        ("[in_domain]\n", "[in_domain]\nitem_weights = [1, 2]\n", "in_domain.item_weights needs 10 non-negative"),
    ],
)
def test_a_bad_study_is_a_one_line_error_naming_the_file_and_key(tmp_path, capsys, old, new, message):
    study = _study(tmp_path, old, new)
    with pytest.raises(Seed002Error) as exc:
        _settings("--study", str(study))
    assert message in str(exc.value)
    assert cli.main(["experiment", "seed002", "--study", str(study), "--plan"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_study_and_a_survey_override_it_lacks(tmp_path):
    with pytest.raises(Seed002Error, match="does not exist; pass --study"):
        load_seed002_study(tmp_path / "none.toml")
    text = DEFAULT_STUDY.read_text()
    cut = text[text.index('[[out_of_domain.surveys]]\nlabel = "Grit"') : text.index("# The table rows")]
    p = tmp_path / "no_grit.toml"
    p.write_text(text.replace(cut, ""))
    assert [o.label for o in _settings("--study", str(p)).out_of_domain] == ["CFCS"]
    with pytest.raises(Seed002Error, match="has no out-of-domain survey 'Grit'"):
        _settings("--study", str(p), "--grit-items", "GS1")
