"""Exact-value tests of :mod:`populations.crafting` that a wrong implementation fails (mutation-testing targets).

Prompt extraction at its boundaries (lengths, cuts, refusals, the forbidden number), the failure codes, the
metering wrapper's counts, the exact evaluation of a prompt, and the crafting loop's requests, seeds, rounds and
choice of the best draft, with scripted crafters and known-distribution respondents (no LLM).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose

from populace_lm.fakes import KnownDistributionModel, ScriptedModel
from populace_lm.types import AnswerDistribution, GenerationRequest, Message, Usage, stable_seed
from populations.crafting import (
    FAILURE_DESCRIPTIONS,
    FAILURE_REASONS,
    MAX_PROMPT_CHARS,
    MIN_PROMPT_CHARS,
    CraftingError,
    CraftSystemPrompt,
    MeteredModel,
    PromptEvaluation,
    PromptEvaluator,
    craft_request_text,
    extract_prompt,
    failure_reason,
    validate_target,
)
from scenarios.question import Question
from tests.populations.mixture_fakes import FakeScenario, crafter_reply, make_models, peaked


@pytest.fixture(scope="module")
def scenario():
    return FakeScenario()


@pytest.mark.parametrize("value", [0, 0.0, 100, 37.5])
def test_validate_target_accepts_the_closed_range_and_returns_a_float(scenario, value):
    out = validate_target(scenario, value)
    assert out == float(value) and type(out) is float


@pytest.mark.parametrize("value", [-0.5, 100.5, float("nan"), float("inf")])
def test_validate_target_names_the_value_the_range_and_the_scenario(scenario, value):
    with pytest.raises(ValueError) as info:
        validate_target(scenario, value)
    assert str(info.value) == (
        f"target {value!r} is outside the answer range [0, 100] of scenario 'fake_gift'; pass values on the "
        "scenario's scale"
    )


# --------------------------------------------------------------------------------------------- failure codes
def test_failure_descriptions_and_codes():
    assert FAILURE_REASONS == ("no_prompt", "too_short", "refusal", "names_target")
    assert FAILURE_DESCRIPTIONS == {
        "no_prompt": "no 'You are …' prompt in the reply",
        "too_short": "the prompt was too short",
        "refusal": "the reply was a refusal",
        "names_target": "the prompt named the target number",
    }
    with pytest.raises(ValueError, match=r"^'x' is not a crafting failure message of extract_prompt$"):
        failure_reason("x")


def test_crafting_error_keeps_a_copy_of_the_history_and_the_last_reason():
    history = [{"status": "prompt too short (3 characters, need 20)"}, {"status": "the reply is a refusal"}]
    err = CraftingError("boom", history)
    assert str(err) == "boom" and err.history == history and err.history is not history
    assert err.reason == "refusal"
    assert CraftingError("x").reason == "unknown" and CraftingError("x").history == []
    assert CraftingError("x", [{"status": "ok"}]).reason == "unknown"
    assert CraftingError("x", [{}]).reason == "unknown"


# --------------------------------------------------------------------------------------------- metering
def test_metered_model_counts_requests_cache_hits_and_usage():
    inner = ScriptedModel(["one two three"], model_id="inner-id")
    meter = MeteredModel(inner)
    assert meter.model_id == "inner-id" and meter.inner is inner
    request = GenerationRequest(messages=(Message(role="user", content="hi"),), temperature=0.5, max_tokens=5, seed=1)
    out = meter.generate(request)
    assert out.text == "one two three"
    meter.generate(request)
    assert meter.requests == 2 and meter.cached == 0
    assert meter.cost() == {
        "requests": 2,
        "cached": 0,
        "backend_calls": 2,
        "prompt_tokens": 2 * out.usage.prompt_tokens,
        "completion_tokens": 2 * out.usage.completion_tokens,
    }
    assert out.usage.completion_tokens == 3


def test_metered_model_counts_distribution_requests_and_cached_results():
    class Cached:
        model_id = "c"

        def answer_distribution(self, request):
            return AnswerDistribution(
                values=(1, 2),
                probs=(0.5, 0.5),
                valid_mass=1.0,
                cached=True,
                usage=Usage(prompt_tokens=4, completion_tokens=1, backend_calls=0),
            )

    meter = MeteredModel(Cached())
    for _ in range(3):
        meter.answer_distribution(None)
    assert meter.cost() == {"requests": 3, "cached": 3, "backend_calls": 0, "prompt_tokens": 12, "completion_tokens": 3}


# --------------------------------------------------------------------------------------------- request text
def test_craft_request_text_is_exact(scenario):
    assert craft_request_text(scenario, 30) == (
        "The person will decide how much of an endowment to give to a stranger.\n\nWrite a system prompt for a "
        "person who would answer like this: they give about 30. Do not mention the number."
    )
    assert "they give about 12.5." in craft_request_text(scenario, 12.5)


# --------------------------------------------------------------------------------------------- evaluation
def test_prompt_evaluation_expected_distance():
    ev = PromptEvaluation(prompt="p", pmf=np.array([0.25, 0.75, 0.0]), valid_mass=1.0, mean=0.75)
    assert ev.expected_distance([0, 1, 2], 2) == 0.25 * 2 + 0.75 * 1
    assert ev.expected_distance(np.array([0.0, 1.0, 2.0]), 0.5) == 0.5
    assert type(ev.expected_distance([0, 1, 2], 1)) is float


def test_prompt_evaluator_clips_renormalises_and_averages_validity():
    class TwoQuestions(FakeScenario):
        def questions(self):
            q = super().questions()[0]
            return (q, Question(id="gift2", prompt="Again?", answers=q.answers))

        def pmfs(self, item_probs):
            p = np.asarray(item_probs, dtype=float)
            return p[:, 0, :] * 2.0 - 0.01  # unnormalised, slightly negative where the answer is unlikely

    scenario = TwoQuestions(low=0, high=4)
    model = KnownDistributionModel(lambda m, a: [1.0, 2.0, 4.0, 2.0, 1.0], valid_mass=0.8)
    meter = MeteredModel(model)
    ev = PromptEvaluator(meter, scenario)
    out = ev("You are someone.")
    raw = np.array([1.0, 2.0, 4.0, 2.0, 1.0]) / 10.0 * 2.0 - 0.01
    expected = np.clip(raw, 0.0, None) / np.clip(raw, 0.0, None).sum()
    assert_allclose(out.pmf, expected, rtol=1e-12)
    assert out.mean == pytest.approx(float(expected @ np.arange(5.0)), rel=1e-12)
    assert out.valid_mass == pytest.approx(0.8)
    assert out.prompt == "You are someone."
    assert meter.requests == 2  # one request per question
    assert ev("You are someone.") is out and meter.requests == 2
    assert ev("You are another.") is not out and meter.requests == 4
    assert_allclose(ev.support, np.arange(5.0))


# --------------------------------------------------------------------------------------------- extraction
def test_extract_prompt_capitalises_strips_quotes_and_joins_lines():
    assert extract_prompt("Sure:\n“you're a quiet saver\n  who rarely shares.”\n\nAnything else?") == (
        "You're a quiet saver who rarely shares.",
        "ok",
    )
    assert extract_prompt("'You are a person who saves money.'") == ("You are a person who saves money.", "ok")
    assert extract_prompt("intro YOU ARE a loud spender of money.") == ("YOU ARE a loud spender of money.", "ok")
    # "you are" inside a word does not count
    assert extract_prompt("Ayou are nothing")[0] is None


def test_extract_prompt_length_boundaries():
    body = "You are " + "x" * 12  # exactly 20 characters
    assert extract_prompt(body) == (body, "ok")
    assert extract_prompt(body[:-1]) == (None, "prompt too short (19 characters, need 20)")
    assert MIN_PROMPT_CHARS == 20 and MAX_PROMPT_CHARS == 1200


def test_extract_prompt_cuts_long_prompts_at_the_last_sentence_end():
    sentence = "You are calm. "
    long = (sentence * 100).strip()  # 1399 characters
    prompt, status = extract_prompt(long)
    assert status == "ok"
    cut = long[:1200]
    assert prompt == cut[: cut.rfind(". ") + 1] and prompt.endswith("calm.")
    # sentence ends by ! and ? count too
    for mark in ("!", "?"):
        text = ("You are calm" + mark + " ") * 100
        p, _ = extract_prompt(text)
        assert p.endswith(mark) and len(p) <= 1200 and len(p) > 1180
    # exactly 1200 characters: kept whole
    exact = "You are " + "y" * 1192
    assert extract_prompt(exact) == (exact, "ok")
    # no sentence end after the first 20 characters: a hard cut at 1200
    hard = "You are " + "z" * 1500
    assert extract_prompt(hard)[0] == hard[:1200]
    early = "You are a person. " + "w" * 1500  # the only sentence end is at 16 <= 20
    assert extract_prompt(early)[0] == early[:1200]


def test_extract_prompt_refusals():
    for reply in (
        "You are asking me, but I cannot do it at all.",
        "You are X. I can't write that for you.",
        "You are X. As an AI I must decline this.",
        "You are X. I am unable to help with it.",
        "You are X. I'm unable to help with that.",
    ):
        assert extract_prompt(reply) == (None, "the reply is a refusal"), reply
    assert extract_prompt("You are a person who can tell stories.")[1] == "ok"


@pytest.mark.parametrize(
    ("number", "text", "named"),
    [
        (40, "You are a person who gives 40 coins.", True),
        (40, "You are a person who gives 40.", True),
        (40, "You are a person who gives 400 coins.", False),
        (40, "You are a person who gives 140 coins.", False),
        (40, "You are a person who gives 40.5 coins.", False),
        (40, "You are a person who gives 3.40 coins.", False),
        (2.5, "You are a person who gives 2.5 coins.", True),
        (2.5, "You are a person who gives 2x5 coins.", False),
    ],
)
def test_extract_prompt_forbidden_number(number, text, named):
    prompt, status = extract_prompt(text, forbidden_number=number)
    if named:
        assert (prompt, status) == (None, f"the prompt names the target number {number:g}")
    else:
        assert (prompt, status) == (text, "ok")


# --------------------------------------------------------------------------------------------- crafting
def test_craft_system_prompt_argument_messages():
    crafter, respondent = make_models()
    for kw, message in (
        ({"max_rounds": -1}, "max_rounds and max_retries must be >= 0, got -1 and 2"),
        ({"max_retries": -1}, "max_rounds and max_retries must be >= 0, got 1 and -1"),
        ({"temperature": 0.0}, "crafting temperature must be > 0 (seeded sampling), got 0.0"),
    ):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            CraftSystemPrompt(crafter, respondent, **kw)
    c = CraftSystemPrompt(crafter, respondent, max_rounds=0, max_retries=0)
    assert (
        c.max_rounds,
        c.max_retries,
        c.temperature,
        c.max_tokens,
        c.tolerance,
        c.forbid_target_number,
        c.random_state,
    ) == (0, 0, 0.8, 120, None, True, 0)


def test_crafting_requests_carry_seeds_keys_and_settings(scenario):
    crafter, respondent = make_models()
    craft = CraftSystemPrompt(
        crafter, respondent, forbid_target_number=False, random_state=3, temperature=0.6, max_tokens=77
    )
    res = craft(30, scenario, key=("comp", 2))
    req = crafter.requests[0]
    assert req.seed == stable_seed(3, "fake_gift", "30", "comp", 2, 0, 0)
    assert (req.temperature, req.max_tokens, req.sample_index) == (0.6, 77, 0)
    assert [m.role for m in req.messages] == ["system", "user"]
    assert req.messages[1].content == craft_request_text(scenario, 30)
    assert res.history == [
        {
            "round": 0,
            "attempt": 0,
            "seed": req.seed,
            "reply": crafter_reply(req),
            "status": "ok",
            "prompt": "You are a person who would answer about 30.",
            "mean": res.evaluation.mean,
            "distance": res.distance,
            "valid_mass": 1.0,
        }
    ]
    assert res.target == 30.0 and res.rounds == 0
    # a string key is one key, not its characters
    crafter2, respondent2 = make_models()
    CraftSystemPrompt(crafter2, respondent2, forbid_target_number=False)(30, scenario, key="ab")
    assert crafter2.requests[0].seed == stable_seed(0, "fake_gift", "30", "ab", 0, 0)
    crafter3, respondent3 = make_models()
    CraftSystemPrompt(crafter3, respondent3, forbid_target_number=False)(30, scenario)
    assert crafter3.requests[0].seed == stable_seed(0, "fake_gift", "30", 0, 0)


def test_retries_use_new_seeds_and_sample_indices(scenario):
    replies = ["nothing useful", "You are shy.", "You are a person who would answer about 30."]
    crafter = ScriptedModel(replies)
    _, respondent = make_models()
    res = CraftSystemPrompt(crafter, respondent, forbid_target_number=False, max_rounds=0)(30, scenario, key="r")
    assert [r.sample_index for r in crafter.requests] == [0, 1, 2]
    assert [r.seed for r in crafter.requests] == [stable_seed(0, "fake_gift", "30", "r", 0, a) for a in range(3)]
    assert [h["status"] for h in res.history] == [
        "no 'You are …' prompt in the reply",
        "prompt too short (12 characters, need 20)",
        "ok",
    ]
    assert "prompt" not in res.history[0] and res.history[2]["prompt"] == replies[2]


def test_crafting_error_message_names_the_crafter_target_and_last_status(scenario):
    crafter = ScriptedModel(["nothing"], model_id="tiny-crafter")
    _, respondent = make_models()
    with pytest.raises(CraftingError) as info:
        CraftSystemPrompt(crafter, respondent, max_retries=0)(12.5, scenario)
    assert str(info.value) == (
        "the crafter 'tiny-crafter' returned no usable system prompt for target 12.5 after 1 attempts (last: no "
        "'You are …' prompt in the reply); use a stronger crafter model or raise max_retries"
    )
    assert len(info.value.history) == 1


def improving_crafter(targets):
    """Replies with "answer about X" for the next X of ``targets`` (cycled)."""
    it = iter(targets)
    return ScriptedModel(lambda request: f"You are a person who would answer about {next(it):g}.")


def test_improve_rounds_stop_at_the_tolerance_and_keep_the_best(scenario):
    # drafts at 60, 45, 31: the default tolerance is 5 % of the range (5); 31 is within 1 of 30 -> stop there
    crafter = improving_crafter([60, 45, 31, 30])
    _, respondent = make_models(sd=0.5)
    res = CraftSystemPrompt(crafter, respondent, max_rounds=5, forbid_target_number=False)(30, scenario)
    assert res.rounds == 2 and len(crafter.requests) == 3
    assert res.prompt.endswith("about 31.")
    assert res.distance == pytest.approx(res.evaluation.expected_distance(scenario.support, 30.0))
    # the improve message shows the crafter its draft and says which way to go
    second = crafter.requests[1].messages
    assert [m.role for m in second] == ["system", "user", "assistant", "user"]
    assert second[2].content == "You are a person who would answer about 60."
    assert second[3].content.startswith(
        "A person answering with that prompt gave: average answer 60.0; most likely answers: 60 ("
    )
    assert second[3].content.endswith(
        ". The goal is they give about 30, so the answers should be lower. Write an "
        "improved system prompt. Do not mention the number."
    )
    assert [h["round"] for h in res.history] == [0, 1, 2]


def test_improve_direction_is_higher_below_the_target_and_worse_drafts_are_not_kept(scenario):
    crafter = improving_crafter([10, 5, 70])
    _, respondent = make_models(sd=0.5)
    res = CraftSystemPrompt(crafter, respondent, max_rounds=2, forbid_target_number=False)(30, scenario)
    assert res.rounds == 2
    assert res.prompt.endswith("about 10.")  # 5 and 70 are further from 30
    assert "should be higher" in crafter.requests[1].messages[-1].content
    # the second improve round answers what the *last* draft (5) produced, not the best one
    assert "average answer 5.0" in crafter.requests[2].messages[-1].content


def test_an_equally_good_later_draft_does_not_replace_the_first(scenario):
    def one_hot(messages, answers):
        centre = int(messages[0].content.rsplit("about ", 1)[1].rstrip("."))
        return (np.asarray(answers.values) == centre).astype(float)

    crafter = improving_crafter([20, 40])
    respondent = KnownDistributionModel(one_hot)
    res = CraftSystemPrompt(crafter, respondent, max_rounds=1, forbid_target_number=False, tolerance=0.0)(30, scenario)
    assert res.rounds == 1 and res.prompt.endswith("about 20.")


def test_explicit_tolerance_and_zero_rounds(scenario):
    crafter = improving_crafter([34, 30])
    _, respondent = make_models(sd=0.5)
    # distance ~4 is within the default 5 but not within 3: one improve round
    res = CraftSystemPrompt(crafter, respondent, max_rounds=3, tolerance=3.0, forbid_target_number=False)(30, scenario)
    assert res.rounds == 1 and res.prompt.endswith("about 30.")
    crafter = improving_crafter([90])
    res = CraftSystemPrompt(crafter, respondent, max_rounds=0, forbid_target_number=False)(30, scenario)
    assert res.rounds == 0 and len(crafter.requests) == 1


def test_a_failed_improve_round_keeps_the_best_draft(scenario):
    replies = iter(["You are a person who would answer about 60.", "no prompt here", "still nothing"])
    crafter = ScriptedModel(lambda request: next(replies))
    _, respondent = make_models(sd=0.5)
    res = CraftSystemPrompt(crafter, respondent, max_rounds=3, max_retries=1, forbid_target_number=False)(30, scenario)
    assert res.prompt.endswith("about 60.") and res.rounds == 1
    assert [h["status"][:8] for h in res.history] == ["ok", "no 'You ", "no 'You "]


def test_evaluators_are_memoised_per_scenario(scenario):
    crafter, respondent = make_models()
    craft = CraftSystemPrompt(crafter, respondent)
    ev = craft.evaluator(scenario)
    assert craft.evaluator(scenario) is ev and ev.respondent is respondent
    other = FakeScenario(name="other", low=0, high=10)
    assert craft.evaluator(other) is not ev and craft.evaluator(other).scenario is other


def test_summary_lists_at_most_four_answers_with_at_least_one_percent(scenario):
    crafter = improving_crafter([60, 30])

    def spread(messages, answers):
        v = np.asarray(answers.values, dtype=float)
        w = np.zeros(v.size)
        w[[60, 61, 62, 63, 64]] = [0.5, 0.2, 0.15, 0.145, 0.005]
        return w if "about 60" in messages[0].content else peaked(0.5)(messages, answers)

    craft = CraftSystemPrompt(crafter, KnownDistributionModel(spread), max_rounds=1, forbid_target_number=False)
    craft(30, scenario)
    shown = crafter.requests[1].messages[-1].content
    mean = 0.5 * 60 + 0.2 * 61 + 0.15 * 62 + 0.145 * 63 + 0.005 * 64
    assert f"average answer {mean:.1f}; most likely answers: 60 (50%), 61 (20%), 62 (15%), 63 (14%). The goal" in shown


def one_hot(messages, answers):
    centre = float(messages[0].content.rsplit("about ", 1)[1].rstrip("."))
    return (np.asarray(answers.values, dtype=float) == centre).astype(float)


@pytest.mark.parametrize(("target", "rounds"), [(30.5, 0), (30.0, 1)])
def test_default_tolerance_is_five_percent_of_the_answer_range(target, rounds):
    # range 10..100: tolerance 4.5. A draft at 35 is 4.5 from 30.5 (stop) and 5 from 30 (one improve round)
    scenario = FakeScenario(low=10, high=100)
    crafter = improving_crafter([35, 30])
    res = CraftSystemPrompt(crafter, KnownDistributionModel(one_hot), max_rounds=3, forbid_target_number=False)(
        target, scenario
    )
    assert res.rounds == rounds


def test_a_draft_whose_mean_is_the_target_is_told_to_go_lower():
    def two_points(messages, answers):
        v = np.asarray(answers.values, dtype=float)
        return ((v == 20.0) | (v == 40.0)).astype(float)

    crafter = improving_crafter([30, 30])
    craft = CraftSystemPrompt(
        crafter, KnownDistributionModel(two_points), max_rounds=1, tolerance=0.0, forbid_target_number=False
    )
    craft(30, FakeScenario())
    assert "average answer 30.0" in crafter.requests[1].messages[-1].content
    assert "so the answers should be lower." in crafter.requests[1].messages[-1].content


def test_summary_shows_the_four_most_likely_answers_only():
    def five(messages, answers):
        w = np.zeros(answers.size)
        w[[60, 61, 62, 63, 64]] = [0.4, 0.25, 0.15, 0.12, 0.08]
        return w if "about 60" in messages[0].content else peaked(0.5)(messages, answers)

    crafter = improving_crafter([60, 30])
    CraftSystemPrompt(crafter, KnownDistributionModel(five), max_rounds=1, forbid_target_number=False)(
        30, FakeScenario()
    )
    assert "most likely answers: 60 (40%), 61 (25%), 62 (15%), 63 (12%). The goal" in (
        crafter.requests[1].messages[-1].content
    )
