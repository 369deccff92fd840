"""Built-in instruments load from their TOML files through the user's loader, and their numbers (items, keys,
wording, support, scores, crafting text) are the ones the code gave before the files existed.

``golden/builtin_instruments.json`` froze them: for ``bigfive``, ``osp_cfcs`` and ``osp_grit`` it was written from
the code-defined instruments (``scenarios/ipip50.py``, ``scenarios/osp.py`` at commit 8ba0a2d) just before they were
deleted — each question's id, prompt, answer range and prefix, the items' texts, dimensions and keying, the score
supports, the response-matrix keys under the old survey names, and the count and sum of the human scores; for
``wvs_poverty`` and ``yrbss`` (no code version) from the TOML path at the same commit. A wording change must change
this file too, on purpose: stored response matrices and cached answers are keyed by the exact prompts.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from populations.response_matrix import scenario_key
from scenarios import Scenario, get_scenario, scenario_names
from scenarios.errors import ScenarioError
from scenarios.registry import GameScenario
from scenarios.survey import keyed_score_pmf, sum_score_pmf

GOLDEN = json.loads((Path(__file__).parent / "golden" / "builtin_instruments.json").read_text(encoding="utf-8"))
CODE_DEFINED = ("bigfive", "osp_cfcs", "osp_grit")  # the instruments that were code before they were files


def _question(q) -> dict:
    return {
        "id": q.id,
        "prompt": q.prompt,
        "answer_prefix": q.answer_prefix,
        "answers": [q.answers.low, q.answers.high],
    }


def test_builtin_files_ship_as_package_data_and_are_named_by_their_stem():
    files = [p for p in resources.files("scenarios.builtin").iterdir() if p.name.endswith(".toml")]
    stems = sorted(p.name[:-5] for p in files)
    assert stems == ["bigfive", "osp_cfcs", "osp_grit", "wvs_poverty", "yrbss"] == sorted(GOLDEN)
    for p in files:
        assert tomllib.loads(p.read_text(encoding="utf-8"))["name"] == p.name[:-5]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_builtin_prompts_are_bit_identical_to_the_frozen_ones(data_dir, name):
    sc = get_scenario(name, source=data_dir)
    assert [_question(q) for q in sc.questions()] == GOLDEN[name]["questions"]
    parts = sc.by_dimension()
    assert {p.dimensions[0]: p.support.tolist() for p in parts} == {
        d: [float(v) for v in s] for d, s in GOLDEN[name]["support"].items()
    }
    for part in parts:
        values = part.human_values()
        frozen = GOLDEN[name]["human"][part.dimensions[0]]
        assert (values.size, float(values.sum())) == (frozen["n"], frozen["sum"])


@pytest.mark.parametrize("name", CODE_DEFINED)
def test_items_keys_and_matrix_keys_are_the_code_defined_ones(data_dir, name):
    frozen = GOLDEN[name]
    sc = get_scenario(name, source=data_dir)
    items = {i: {"dimension": d.id, "reverse": sc.spec.item(i).reverse, "text": sc.spec.item(i).text}
             for d in sc.spec.dimensions for i in d.items}  # fmt: skip
    assert items == frozen["items"]
    assert {p.dimensions[0]: p.label for p in sc.by_dimension()} == frozen["dimension_names"]
    # the response-matrix keys of the old survey names (experiments.cmd_align keeps them): every stored matrix stays
    survey = sc.survey
    assert survey.name == name
    ids = [q["id"] for q in frozen["questions"]]
    renamed = replace(survey, name=frozen["survey_name"])
    assert scenario_key(renamed, ids) == frozen["matrix_keys"]["all"]
    assert scenario_key(renamed, ids[::3]) == frozen["matrix_keys"]["every_third"]


@pytest.mark.parametrize("trait", ["E", "N", "A", "C", "O"])
def test_bigfive_score_pmf_is_the_keyed_sum_of_item_pmfs(data_dir, trait):
    sc = get_scenario(f"bigfive:{trait}", source=data_dir)
    reverse = [GOLDEN["bigfive"]["items"][q.id]["reverse"] for q in sc.questions()]
    assert len(reverse) == 10 and any(reverse) and not all(reverse)
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(5), size=(3, 10))
    before = np.stack(
        [sum_score_pmf([keyed_score_pmf(probs[k, q], r) for q, r in enumerate(reverse)]) for k in range(3)]
    )
    assert np.array_equal(sc.pmfs(probs), before)


def test_bigfive_words_for_crafting_unchanged(data_dir):
    sc = get_scenario("bigfive:E", source=data_dir)
    assert sc.describe() == (
        "The person will fill in a personality questionnaire on Extraversion: 10 statements such as "
        '"I am the life of the party."; "I don\'t talk a lot."; "I feel comfortable around people."; '
        '"I keep in the background.", each rated from 1 (disagree) to 5 (agree). Their answers add up to a score '
        "from 10 (very low Extraversion) to 50 (very high Extraversion)."
    )
    assert sc.describe_target(38) == "a person whose Extraversion score would be about 38 out of 50 (high Extraversion)"
    assert sc.describe_exemplar(31) == (
        "In an earlier questionnaire, someone like you scored 31 on Extraversion, on a scale from 10 (lowest) to 50 "
        "(highest)."
    )
    frozen = GOLDEN["bigfive"]["items"]
    assert [(it.id, it.text, it.dimension, it.reverse) for it in sc.survey.items] == [
        (i, frozen[i]["text"], "E", frozen[i]["reverse"]) for i in (f"E{k}" for k in range(1, 11))
    ]


def test_bigfive_all_traits_share_one_row_split(data_dir):
    five = get_scenario("bigfive", source=data_dir)
    assert five.dimensions == ("E", "N", "A", "C", "O")
    assert [q.id for q in five.questions()] == [f"{t}{i}" for t in "ENACO" for i in range(1, 11)]
    vec = five.human_values("test", seed=0)
    e = get_scenario("bigfive:E", source=data_dir).human_values("test", seed=0)
    assert vec.shape[1] == 5 and np.array_equal(vec[:, 0], e)  # no row misses an E item but not another


def test_osp_instruments_match_source_md(data_dir):
    cfcs = get_scenario("osp_cfcs", source=data_dir)
    scores = cfcs.human_values()
    # SOURCE.md: 215 rows have an item = 0; one more row is coded -1 in every item (read as missing)
    assert scores.size == 14_819 and scores.mean() == pytest.approx(40.27, abs=0.01)
    report = cfcs.data_report()["columns"]
    assert all(report[f"Q{i}"]["out_of_scale"] == 0 for i in range(1, 13))
    assert (cfcs.human_data().demographics["country"] == "US").sum() == 7_787  # of the complete respondents
    grit = get_scenario("osp_grit", source=data_dir).human_values()
    assert grit.size == 4_183 and (grit / 12).mean() == pytest.approx(3.238, abs=0.001)  # SOURCE.md Grit mean


def test_cfcs_codebook_gap_and_bad_cell_are_reported(tmp_path, data_dir):
    """The CFCS texts come from the codebook: a missing line fails in one line; a cell off the scale is counted."""
    from scenarios.errors import ScenarioFileError

    folder = tmp_path / "osp_cfcs"
    folder.mkdir()
    codebook = (data_dir / "osp_cfcs" / "codebook.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    (folder / "codebook.txt").write_text("\n".join(line for line in codebook if not line.startswith("Q5.")) + "\n")
    lines = (data_dir / "osp_cfcs" / "data.csv").read_text().splitlines()[:4]
    cells = lines[2].split("\t")
    cells[lines[0].split("\t").index("Q5")] = "7"
    lines[2] = "\t".join(cells)
    (folder / "data.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ScenarioFileError, match=r"osp_cfcs\.toml: key 'items\[4\]\.text': item 'Q5' has no text"):
        get_scenario("osp_cfcs", source=tmp_path)
    (folder / "codebook.txt").write_text("\n".join(codebook) + "\n")
    sc = get_scenario("osp_cfcs", source=tmp_path)
    assert sc.data_report()["columns"]["Q5"]["out_of_scale"] == 1 and sc.human_values().size == 2


def test_grit_statements_begin_with_the_codebook_abbreviations(data_dir):
    """Our Grit paraphrases keep Duckworth's item order: each begins with the codebook's abbreviation."""
    import re

    lines = (data_dir / "osp_grit" / "codebook.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    abbrev = dict(m.groups() for m in (re.match(r"^(GS(?:1[0-2]|[1-9]))\t+(.+?)\s*$", line) for line in lines) if m)
    statements = {q: item["text"] for q, item in GOLDEN["osp_grit"]["items"].items()}
    assert sorted(abbrev) == sorted(statements)
    for item_id, short in abbrev.items():
        assert statements[item_id].lower().startswith(short.rstrip(".… ").strip().lower()), item_id


def test_wvs_poverty_by_country_matches_source_md(data_dir):
    counts = {"Australia": (952, 622, 300), "Norway": (597, 494, 36), "Sweden": (604, 374, 25), "USA": (555, 372, 450)}
    for country, expected in counts.items():
        sc = get_scenario(f"wvs_poverty@{country}", source=data_dir)
        values = sc.human_values()
        assert tuple(int((values == v).sum()) for v in (1, 2, 3)) == expected
    assert get_scenario("wvs_poverty", source=data_dir).human_values().size == 5381
    with pytest.raises(ScenarioError, match=r"no respondent has country = 'Chile'; values: \['Australia', 'Norway'"):
        get_scenario("wvs_poverty@Chile", source=data_dir).human_values()


def test_yrbss_items_are_ordinal_and_match_source_md(data_dir):
    helmet = get_scenario("yrbss:helmet_12m", source=data_dir)
    values = helmet.human_values()
    assert [int((values == v).sum()) for v in (0, 1, 2, 3, 4)] == [6977, 713, 341, 293, 399]
    assert helmet.data_report()["columns"]["helmet_12m"]["missing"] == 4549 + 311
    active = get_scenario("yrbss:physically_active_7d", source=data_dir).human_values()
    assert active.size == 13310 and active.mean() == pytest.approx(3.90, abs=0.005)
    tv = get_scenario("yrbss:hours_tv_per_school_day", source=data_dir)
    assert tv.support.tolist() == [0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0] and tv.ordered
    female = get_scenario("yrbss:physically_active_7d@female", source=data_dir).human_values()
    assert female.mean() == pytest.approx(3.26, abs=0.005)


@pytest.mark.parametrize("name", [n for n in scenario_names() if n not in ("bigfive", "yrbss")])
def test_every_builtin_is_a_scenario(data_dir, name):
    sc = get_scenario(name, source=data_dir)
    assert isinstance(sc, Scenario)
    qs = sc.questions()
    probs = np.stack([np.full(q.answers.size, 1.0 / q.answers.size) for q in qs])[None]
    pmf = sc.pmfs(probs)
    assert pmf.shape == (1, sc.support.size) and pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert sc.describe() and "1 (disagree) to 5 (agree)" not in sc.describe() or name.startswith("bigfive")
    assert sc.describe_target(sc.support[0])


def test_game_roles_through_the_protocol(data_dir):
    d = get_scenario("dictator", source=data_dir)
    assert isinstance(d, GameScenario) and isinstance(d, Scenario) and d.label == "amount given"
    everyone = d.human_values()
    assert everyone.size == 10_335 and everyone.mean() == pytest.approx(25.70, abs=0.01)
    fit, test = d.human_values("fit", seed=4), d.human_values("test", seed=4)
    assert fit.size + test.size == everyone.size and np.sort(np.r_[fit, test]).tolist() == np.sort(everyone).tolist()
    assert d.describe() == f'The person will be asked this in an economic game:\n"{d.questions()[0].prompt}"'
    assert d.describe_target(40) == "a person whose answer would be about 40 (on the scale from 0 to 100)"
    assert d.scores(np.array([[3.0], [7.0]])).tolist() == [3.0, 7.0]
