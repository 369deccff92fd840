"""Built-in instruments load from their TOML files through the user's loader, and the Big Five numbers (items,
keys, wording, support, scores, crafting text) are the ones the code gave before the files existed."""

from __future__ import annotations

import tomllib
from importlib import resources

import numpy as np
import pytest

from scenarios import Scenario, get_scenario, scenario_names
from scenarios.big5 import load_big5
from scenarios.ipip50 import ITEM_IDS, REVERSE_KEYED, TRAITS, ipip50_survey
from scenarios.osp import cfcs_survey, grit_survey, load_cfcs, load_grit
from scenarios.registry import GameScenario
from scenarios.survey import keyed_score_pmf, sum_score_pmf


def test_builtin_files_ship_as_package_data_and_are_named_by_their_stem():
    files = [p for p in resources.files("scenarios.builtin").iterdir() if p.name.endswith(".toml")]
    stems = sorted(p.name[:-5] for p in files)
    assert stems == ["bigfive", "osp_cfcs", "osp_grit", "wvs_poverty", "yrbss"]
    for p in files:
        assert tomllib.loads(p.read_text(encoding="utf-8"))["name"] == p.name[:-5]


@pytest.mark.parametrize("trait", TRAITS)
def test_bigfive_unchanged(data_dir, trait):
    old = ipip50_survey(data_dir)
    sc = get_scenario(f"bigfive:{trait}", source=data_dir)
    items = old.items_for(trait)
    assert sc.name == f"bigfive:{trait}" and sc.label == old.dimension_names[trait]
    assert sc.support.tolist() == old.score_support(trait).astype(float).tolist()
    new_q, old_q = sc.questions(), tuple(old.question(it) for it in items)
    assert new_q == old_q  # ids, prompts, answers 1..5, "Rating: " stem
    assert [sc.spec.item(q.id).reverse for q in new_q] == [q.id in REVERSE_KEYED for q in new_q]
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(5), size=(3, len(items)))
    before = np.stack(
        [sum_score_pmf([keyed_score_pmf(probs[k, q], it.reverse) for q, it in enumerate(items)]) for k in range(3)]
    )
    assert np.array_equal(sc.pmfs(probs), before)
    data = load_big5(data_dir)
    scores = old.score(data.items)[:, old.dimensions.index(trait)]
    assert np.array_equal(sc.human_values(), scores[~np.isnan(scores)])


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
    assert sc.survey.items == ipip50_survey(data_dir).subset(["E"]).items


def test_bigfive_all_traits_share_one_row_split(data_dir):
    five = get_scenario("bigfive", source=data_dir)
    assert five.dimensions == TRAITS and [q.id for q in five.questions()] == list(ITEM_IDS)
    vec = five.human_values("test", seed=0)
    e = get_scenario("bigfive:E", source=data_dir).human_values("test", seed=0)
    assert vec.shape[1] == 5 and np.array_equal(vec[:, 0], e)  # no row misses an E item but not another


@pytest.mark.parametrize(
    ("name", "old_survey", "loader"), [("osp_cfcs", cfcs_survey, load_cfcs), ("osp_grit", grit_survey, load_grit)]
)
def test_osp_instruments_match_the_code_specs(data_dir, name, old_survey, loader):
    sc = get_scenario(name, source=data_dir)
    old = old_survey(data_dir)
    assert sc.questions() == old.questions()
    data = loader(data_dir)
    scores = old.score(data.items)[:, 0]
    assert np.array_equal(sc.human_values(), scores[~np.isnan(scores)])
    assert sc.data_report()["columns"][old.items[0].id]["out_of_scale"] == 0


def test_wvs_poverty_by_country_matches_source_md(data_dir):
    counts = {"Australia": (952, 622, 300), "Norway": (597, 494, 36), "Sweden": (604, 374, 25), "USA": (555, 372, 450)}
    for country, expected in counts.items():
        sc = get_scenario(f"wvs_poverty@{country}", source=data_dir)
        values = sc.human_values()
        assert tuple(int((values == v).sum()) for v in (1, 2, 3)) == expected
    assert get_scenario("wvs_poverty", source=data_dir).human_values().size == 5381


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
