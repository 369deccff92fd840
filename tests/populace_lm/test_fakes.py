import numpy as np
import pytest

from populace_lm.base import LanguageModel
from populace_lm.fakes import KnownDistributionModel, ScriptedModel
from populace_lm.types import DistributionRequest, GenerationRequest, IntegerAnswers, Message, stable_seed

LIKERT5 = IntegerAnswers(low=1, high=5)


def chat(system):
    return (
        Message(role="system", content=system),
        Message(role="user", content="I am the life of the party."),
    )


def by_system_prompt(messages, answers):
    """Extraverts lean to 5, introverts to 1."""
    ramp = np.arange(1, answers.size + 1, dtype=float)
    return ramp if "extravert" in messages[0].content else ramp[::-1]


# -- ScriptedModel -------------------------------------------------------------------------------------


def test_scripted_replies_cycle_and_count():
    model = ScriptedModel(["a", "b"])
    assert isinstance(model, LanguageModel)
    texts = [model.generate(GenerationRequest(messages=chat("x"))).text for _ in range(3)]
    assert texts == ["a", "b", "a"]
    assert model.calls == 3 and len(model.requests) == 3


def test_scripted_distribution_is_sampled_and_parsed():
    model = ScriptedModel(["4", "Five? 5", "no", "4"])
    d = model.answer_distribution(
        DistributionRequest(messages=chat("x"), answers=LIKERT5, n_samples=4, seed=9, answer_prefix="I pick ")
    )
    assert d.method == "sampled" and d.n_samples == 4 and d.n_unparsed == 1
    assert d.valid_mass == pytest.approx(0.75)
    assert d.probs == pytest.approx([0, 0, 0, 2 / 3, 1 / 3])
    assert model.calls == 1 and d.usage.backend_calls == 4
    assert [r.seed for r in model.requests] == [stable_seed(9, i) for i in range(4)]
    assert [r.sample_index for r in model.requests] == [0, 1, 2, 3]
    assert model.requests[0].messages[-1] == Message(role="assistant", content="I pick ")


def test_scripted_needs_replies():
    with pytest.raises(ValueError, match="at least one reply"):
        ScriptedModel([])


# -- KnownDistributionModel ----------------------------------------------------------------------------


def test_known_distribution_is_a_function_of_the_system_prompt():
    model = KnownDistributionModel(by_system_prompt, valid_mass=0.8)
    e = model.answer_distribution(DistributionRequest(messages=chat("You are an extravert."), answers=LIKERT5))
    i = model.answer_distribution(DistributionRequest(messages=chat("You are shy."), answers=LIKERT5))
    assert e.probs == pytest.approx(np.arange(1, 6) / 15)
    assert i.probs == pytest.approx(np.arange(5, 0, -1) / 15)
    assert e.method == "exact" and e.valid_mass == 0.8
    assert model.calls == 2


def test_known_distribution_temperature():
    model = KnownDistributionModel(by_system_prompt)
    d = model.answer_distribution(DistributionRequest(messages=chat("extravert"), answers=LIKERT5, temperature=0.5))
    sq = np.arange(1, 6) ** 2
    assert d.probs == pytest.approx(sq / sq.sum())


def test_known_generate_samples_the_distribution():
    model = KnownDistributionModel(by_system_prompt)
    messages = chat("You are an extravert.")
    n = 3000
    texts = [
        model.generate(GenerationRequest(messages=messages, temperature=1.0, seed=1, sample_index=k)).text
        for k in range(n)
    ]
    freq = np.bincount([int(t) for t in texts], minlength=6)[1:] / n
    assert np.abs(freq - np.arange(1, 6) / 15).max() < 0.03
    # Seeded by (seed, sample_index): repeatable and independent of call order.
    again = model.generate(GenerationRequest(messages=messages, temperature=1.0, seed=1, sample_index=17)).text
    assert again == texts[17]


def test_known_generate_greedy_invalid_and_custom():
    greedy = KnownDistributionModel(by_system_prompt).generate(GenerationRequest(messages=chat("extravert")))
    assert greedy.text == "5"
    invalid = KnownDistributionModel(by_system_prompt, valid_mass=0.0)
    assert invalid.generate(GenerationRequest(messages=chat("x"), temperature=1.0)).text == invalid.INVALID_REPLY
    custom = KnownDistributionModel(by_system_prompt, generate_fn=lambda r: "hello")
    assert custom.generate(GenerationRequest(messages=chat("x"))).text == "hello"


def test_sampling_the_known_model_recovers_its_exact_distribution():
    """Sampled fallback (parse n replies) and the exact distribution agree on a fake with valid_mass < 1."""
    model = KnownDistributionModel(by_system_prompt, valid_mass=0.9)
    sampler = ScriptedModel(lambda r: model.generate(r).text)
    request = DistributionRequest(messages=chat("You are an extravert."), answers=LIKERT5, n_samples=4000, seed=2)
    sampled = sampler.answer_distribution(request)
    exact = model.answer_distribution(request)
    assert sampled.valid_mass == pytest.approx(exact.valid_mass, abs=0.02)
    assert np.abs(np.array(sampled.probs) - np.array(exact.probs)).max() < 0.03


def test_bad_dist_fn():
    model = KnownDistributionModel(lambda m, a: [1.0, 2.0])
    with pytest.raises(ValueError, match=r"shape \(2,\), expected \(5,\)"):
        model.answer_distribution(DistributionRequest(messages=chat("x"), answers=LIKERT5))
    with pytest.raises(ValueError, match="valid_mass"):
        KnownDistributionModel(by_system_prompt, valid_mass=1.5)


def test_known_distribution_tiny_temperature_is_greedy():
    model = KnownDistributionModel(by_system_prompt)
    d = model.answer_distribution(DistributionRequest(messages=chat("extravert"), answers=LIKERT5, temperature=1e-4))
    assert d.probs == pytest.approx([0, 0, 0, 0, 1])
