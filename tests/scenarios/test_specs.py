"""Survey, question and game specs: validation, round trips, parsing, registry."""

from __future__ import annotations

import numpy as np
import pytest

from populace_lm.types import IntegerAnswers
from scenarios.errors import ScenarioError
from scenarios.games import Game, game_role, load_verbatim_prompts, parse_answer
from scenarios.registry import get_scenario, scenario_names
from scenarios.survey import Survey, keyed_score_pmf, sum_score_pmf


def test_survey_round_trip_and_subset(data_dir):
    survey = get_scenario("bigfive", source=data_dir).survey
    assert Survey.from_dict(survey.to_dict()) == survey
    e = survey.subset(["E"])
    assert [it.id for it in e.items] == [f"E{i}" for i in range(1, 11)]
    with pytest.raises(ScenarioError, match="no dimension 'X'"):
        survey.items_for("X")


def test_rendering_puts_persona_in_system_message(data_dir):
    survey = get_scenario("bigfive", source=data_dir).survey
    msgs = survey.render("E1", "You are Ana, a nurse.")
    assert msgs[0].role == "system" and msgs[0].content == "You are Ana, a nurse."
    assert "I am the life of the party." in msgs[1].content and "1 = disagree" in msgs[1].content
    assert survey.render("E1")[0].role == "user"


def test_sum_score_pmf_matches_brute_force_enumeration():
    rng = np.random.default_rng(0)
    pmfs = [rng.dirichlet(np.ones(5)) for _ in range(3)]
    reverse = [False, True, False]
    keyed = [keyed_score_pmf(p, r) for p, r in zip(pmfs, reverse, strict=True)]
    exact = sum_score_pmf(keyed)
    brute = np.zeros(13)
    for a in range(5):
        for b in range(5):
            for c in range(5):
                total = (a + 1) + (6 - (b + 1)) + (c + 1)
                brute[total - 3] += pmfs[0][a] * pmfs[1][b] * pmfs[2][c]
    np.testing.assert_allclose(exact, brute, atol=1e-15)
    assert exact.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "value", "status"),
    [
        ("I would give [$40].", 40, "ok"),
        ("[25]", 25, "ok"),
        ("Maybe 30 dollars", 30, "ok"),
        ("I give [$150]", None, "out_of_range"),
        ("no idea", None, "unparsed"),
        ("[$12.5]", None, "out_of_range"),
    ],
)
def test_parse_answer(text, value, status):
    parsed = parse_answer(text, IntegerAnswers(low=0, high=100))
    assert (parsed.value, parsed.status, parsed.raw) == (value, status, text)


def test_game_parameters_are_validated():
    g = Game(name="public_goods", params={"multiplier": "2.4"})
    assert g.params["multiplier"] == 2.4 and g.params["group_size"] == 4 and not g.matches_human_data
    with pytest.raises(ScenarioError, match="unknown parameter 'mult'"):
        Game(name="public_goods", params={"mult": 2})
    with pytest.raises(ScenarioError, match=r"out of range"):
        Game(name="public_goods", params={"group_size": 1})
    with pytest.raises(ScenarioError, match="whole number"):
        Game(name="dictator", params={"stakes": 10.5})
    with pytest.raises(ScenarioError, match="unknown game"):
        Game(name="poker")
    assert Game.from_dict(g.to_dict()) == g


def test_roles_answers_and_questions():
    banker = game_role("trust_banker")
    assert banker.answers == IntegerAnswers(low=0, high=150)
    assert "$150" in banker.question().prompt
    assert game_role("public_goods", endowment=10).answers.high == 10
    q = game_role("dictator").question(history="Round 1: you gave $10.")
    assert q.prompt.startswith("Round 1") and q.answer_prefix.endswith("$")


def test_verbatim_prompts_come_from_the_dataset(data_dir):
    prompts = load_verbatim_prompts(data_dir)
    role = game_role("dictator", wording="verbatim", source=str(data_dir))
    assert role.question().prompt == prompts["dictator"] and "[$x]" in prompts["dictator"]
    with pytest.raises(ScenarioError, match="MobLab parameters only"):
        game_role("dictator", wording="verbatim", source=str(data_dir), stakes=10)


def test_registry(data_dir):
    assert "bigfive:E" in scenario_names() and "bomb_risk" in scenario_names()
    sc = get_scenario("bigfive:e", source=str(data_dir))
    assert sc.name == "bigfive:E" and sc.support[0] == 10 and sc.support[-1] == 50
    with pytest.raises(ScenarioError, match="unknown scenario 'chess'"):
        get_scenario("chess")
    dictator = get_scenario("dictator", source=str(data_dir))
    h = dictator.human_values(source=str(data_dir))
    assert h.size == 10_335 and h.mean() == pytest.approx(25.70, abs=0.01)
    probs = np.full((2, 1, 101), 1 / 101)
    assert dictator.pmfs(probs).shape == (2, 101)
