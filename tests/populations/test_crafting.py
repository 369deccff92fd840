import numpy as np
import pytest

from populace_lm.fakes import KnownDistributionModel, ScriptedModel
from populations.crafting import (
    CraftingError,
    CraftSystemPrompt,
    MeteredModel,
    PromptEvaluator,
    craft_request_text,
    extract_prompt,
    failure_reason,
)
from scenarios.registry import get_scenario
from tests.populations.mixture_fakes import FakeScenario, crafter_reply, make_models, peaked


@pytest.fixture(scope="module")
def dictator():
    return FakeScenario()


def test_crafting_wording_comes_from_the_scenario(dictator):
    crafter, respondent = make_models()
    CraftSystemPrompt(crafter, respondent, forbid_target_number=False)(30, dictator, key="w")
    sent = crafter.requests[0].messages[1].content
    assert sent == craft_request_text(dictator, 30)
    assert sent.startswith(dictator.describe()) and dictator.describe_target(30) in sent
    system = crafter.requests[0].messages[0].content.lower()
    assert "likert" not in system and "economic game" not in system and "questionnaire" not in system


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("no 'You are …' prompt in the reply", "no_prompt"),
        ("prompt too short (3 characters, need 20)", "too_short"),
        ("the reply is a refusal", "refusal"),
        ("the prompt names the target number 30", "names_target"),
    ],
)
def test_failure_reason_codes(status, code):
    assert failure_reason(status) == code
    with pytest.raises(ValueError, match="is not a crafting failure message"):
        failure_reason("ok")


def test_extract_prompt_takes_the_you_are_paragraph():
    prompt, status = extract_prompt(
        'Here you go:\n```\n"you are a careful saver who rarely shares."\n```\nHope it helps'
    )
    assert status == "ok"
    assert prompt == "You are a careful saver who rarely shares."


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("This person likes money.", "no 'You are"),
        ("You are shy.", "too short"),
        ("You are an assistant and I can't write that for you, sorry.", "refusal"),
    ],
)
def test_extract_prompt_rejects_unusable_replies(reply, reason):
    prompt, status = extract_prompt(reply)
    assert prompt is None
    assert reason in status


def test_extract_prompt_rejects_the_target_number_only_when_asked():
    reply = "You are a person who would answer about 40 every time."
    assert extract_prompt(reply, forbidden_number=40)[0] is None
    assert "names the target number 40" in extract_prompt(reply, forbidden_number=40)[1]
    assert extract_prompt(reply, forbidden_number=4)[0] is not None  # 4 is not 40
    assert extract_prompt(reply)[0] is not None


def test_craft_hits_the_target_and_records_history(dictator):
    crafter, respondent = make_models()
    craft = CraftSystemPrompt(crafter, respondent, forbid_target_number=False)
    res = craft(30, dictator, key="t")
    assert res.prompt == "You are a person who would answer about 30."
    assert res.evaluation.mean == pytest.approx(30, abs=0.01)
    assert res.distance < 3
    assert res.rounds == 0  # within tolerance: no improve round needed
    assert res.history[0]["status"] == "ok" and res.history[0]["distance"] == res.distance


def test_improve_loop_shows_the_crafter_what_its_prompt_produced(dictator):
    # The respondent answers 20 higher than asked; the crafter corrects by what it was shown.
    def biased(messages, answers):
        return peaked()(messages, answers)[np.clip(np.arange(answers.size) - 20, 0, answers.size - 1)]

    def crafter(request):
        msgs = request.messages
        if len(msgs) == 2:
            return crafter_reply(request)
        shown = float(msgs[-1].content.split("average answer ")[1].split(";")[0])
        asked = float(msgs[-2].content.rsplit("about ", 1)[1].rstrip("."))
        goal = float(msgs[1].content.split("about ")[1].split(" ")[0])
        return f"You are a person who would answer about {asked - (shown - goal):g}."

    scripted = ScriptedModel(crafter)
    craft = CraftSystemPrompt(scripted, KnownDistributionModel(biased), max_rounds=2, forbid_target_number=False)
    res = craft(40, dictator, key="bias")
    first, second = res.history[0], res.history[1]
    assert first["mean"] == pytest.approx(60, abs=0.5)
    shown = scripted.requests[1].messages[-1].content
    assert "average answer 60.0" in shown and "should be lower" in shown
    assert second["round"] == 1 and abs(second["mean"] - 40) < 1
    assert res.rounds == 1 and res.evaluation.mean == pytest.approx(40, abs=1)


def test_crafting_is_deterministic_and_seeded(dictator):
    seen = []
    crafter = ScriptedModel(lambda r: seen.append((r.seed, r.sample_index, r.temperature)) or crafter_reply(r))
    _, respondent = make_models()
    for _ in range(2):
        CraftSystemPrompt(crafter, respondent, forbid_target_number=False, random_state=5)(30, dictator, key="k")
    assert seen[0] == seen[1] and seen[0][2] > 0
    CraftSystemPrompt(crafter, respondent, forbid_target_number=False, random_state=6)(30, dictator, key="k")
    assert seen[2][0] != seen[0][0]


def test_no_usable_prompt_raises_after_retries_with_history(dictator):
    crafter = ScriptedModel(["I am not sure what you mean."])
    _, respondent = make_models()
    with pytest.raises(CraftingError, match="no usable system prompt for target 30 after 3 attempts") as info:
        CraftSystemPrompt(crafter, respondent, max_retries=2)(30, dictator)
    assert info.value.reason == "no_prompt"
    assert len(info.value.history) == 3
    assert [h["attempt"] for h in info.value.history] == [0, 1, 2]
    assert all(h["status"].startswith("no 'You are") for h in info.value.history)
    assert crafter.calls == 3


def test_a_prompt_naming_the_number_is_a_recorded_failure(dictator):
    crafter, respondent = make_models()
    with pytest.raises(CraftingError, match="names the target number 30") as info:
        CraftSystemPrompt(crafter, respondent, max_retries=1)(30, dictator)
    assert info.value.reason == "names_target"


def test_target_outside_the_range_is_rejected(dictator):
    crafter, respondent = make_models()
    with pytest.raises(ValueError, match=r"outside the answer range \[0, 100\] of scenario 'fake_gift'"):
        CraftSystemPrompt(crafter, respondent)(150, dictator)
    with pytest.raises(ValueError, match="outside the answer range"):
        craft_request_text(dictator, -1)


def test_evaluator_is_exact_and_memoised(dictator):
    _, respondent = make_models()
    meter = MeteredModel(respondent)
    ev = PromptEvaluator(meter, dictator)
    a = ev("You are a person who would answer about 70.")
    b = ev("You are a person who would answer about 70.")
    assert a is b and meter.requests == 1
    assert a.pmf.shape == (101,) and a.pmf.sum() == pytest.approx(1.0)
    assert a.expected_distance(dictator.support, 70) == pytest.approx(float(a.pmf @ np.abs(dictator.support - 70)))


def test_trait_scenario_crafting_convolves_items(data_dir):
    trait = get_scenario("bigfive:E", source=data_dir)
    crafter = ScriptedModel(["You are an outgoing person who loves parties and talking to strangers."])
    respondent = KnownDistributionModel(lambda m, a: [1, 1, 1, 1, 1])
    res = CraftSystemPrompt(crafter, respondent, max_rounds=0)(35, trait)
    assert res.evaluation.pmf.shape == (41,)
    assert res.evaluation.mean == pytest.approx(30.0)  # uniform items: 10 × 3 after keying


@pytest.mark.model
def test_embedded_model_crafts_or_records_failures(embedded_model):
    """SmolLM2 as crafter and respondent: a prompt with an exact evaluation, or a CraftingError with the replies."""
    dictator = get_scenario("dictator")
    craft = CraftSystemPrompt(embedded_model, embedded_model, max_rounds=0, max_retries=0, max_tokens=32)
    try:
        res = craft(20, dictator, key="model-test")
    except CraftingError as exc:
        assert len(exc.history) == 1 and all(h["reply"] is not None for h in exc.history)
        return
    assert res.prompt.lower().startswith(("you are", "you're"))
    assert res.evaluation.pmf.shape == (101,) and 0 < res.evaluation.valid_mass <= 1
    again = CraftSystemPrompt(embedded_model, embedded_model, max_rounds=0, max_retries=0, max_tokens=32)
    assert again(20, dictator, key="model-test").prompt == res.prompt  # seeded: same reply
