import numpy as np
import pytest

from populace_lm.fakes import KnownDistributionModel
from populace_lm.types import Message
from populations.persona import Persona
from scenarios.games import game_role
from simulator.decisions import DecisionBatch, DecisionService
from tests.simulator.fakes import fake_model, persona_weights


def _question():
    return game_role("dictator", stakes=10).question()


def test_sharing_gives_the_same_distribution_as_per_agent_calls():
    model = fake_model()
    service = DecisionService(model)
    q = _question()
    prompts = ["You are generous.", "You are stingy.", "You are generous."] * 200
    batch = DecisionBatch()
    for i, p in enumerate(prompts):
        batch.submit(i, p, q)
    draws = service.draw(batch, np.random.default_rng(0))
    # one backend call per distinct prompt, not per agent
    assert model.calls == 2
    assert service.stats().distinct_prompts == 2
    assert service.stats().agent_decisions == 600
    # per-agent calls on the same fake give exactly the shared distribution
    for p in set(prompts):
        per_agent = model.answer_distribution(q.distribution_request(p))
        assert service.distribution(p, q).probs == per_agent.probs
    # and the drawn answers follow it
    truth = model.probs(q.messages("You are generous."), q.answers)
    gen = np.asarray([p == "You are generous." for p in prompts])
    freq = np.bincount(draws.values[gen], minlength=11) / gen.sum()
    assert np.abs(freq - truth).sum() / 2 < 0.12
    assert np.all(draws.valid_mass == 0.9)


def test_shared_draws_match_per_agent_sampling_in_distribution():
    """Drawing from the shared distribution ≈ each agent sampling its own reply from the fake (same law)."""
    model = fake_model()
    q = _question()
    service = DecisionService(model)
    n = 4000
    batch = DecisionBatch()
    for i in range(n):
        batch.submit(i, "You are stingy.", q)
    shared = service.draw(batch, np.random.default_rng(1)).values
    per_agent = []
    for i in range(n):
        req = q.generation_request("You are stingy.", seed=i, temperature=1.0)
        model.answers = q.answers
        text = model.generate(req).text
        if text.isdigit():
            per_agent.append(int(text))
    a = np.bincount(shared, minlength=11) / shared.size
    b = np.bincount(per_agent, minlength=11) / len(per_agent)
    assert np.abs(a - b).sum() / 2 < 0.05


def test_draws_are_deterministic_and_independent_of_grouping():
    service = DecisionService(fake_model())
    q = _question()
    ids = np.array([service.key_id("You are generous.", q), service.key_id("You are stingy.", q)] * 50)
    a = service.draw_keys(ids, np.random.default_rng(5)).values
    b = service.draw_keys(ids, np.random.default_rng(5)).values
    c = service.draw_keys(ids, np.random.default_rng(6)).values
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    # entry i gets the i-th uniform number whatever the other keys are
    single = service.draw_keys(ids[:1], np.random.default_rng(5)).values
    assert single[0] == a[0]


def test_inverse_cdf_hits_every_answer_with_its_probability():
    model = KnownDistributionModel(lambda m, a: [1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 6], valid_mass=1.0)
    service = DecisionService(model)
    q = _question()
    k = service.key_id("", q)
    v = service.draw_keys(np.full(20000, k), np.random.default_rng(0)).values
    freq = np.bincount(v, minlength=11) / v.size
    assert set(np.unique(v)) == {0, 2, 10}
    assert freq[[0, 2, 10]] == pytest.approx([0.1, 0.3, 0.6], abs=0.015)


def test_repeated_keys_use_the_memo_and_count_cache_hits(tmp_path):
    from populace_lm.cache import CachedModel

    inner = fake_model()
    q = _question()
    with CachedModel(inner, tmp_path / "c.sqlite") as cached:
        s1 = DecisionService(cached)
        s1.key_id("You are generous.", q)
        s1.key_id("You are generous.", q)
        assert inner.calls == 1 and s1.stats().backend_calls == 1 and s1.stats().cache_hits == 0
        s2 = DecisionService(cached)
        s2.key_id("You are generous.", q)
        assert inner.calls == 1 and s2.stats().backend_calls == 0 and s2.stats().cache_hits == 1
        assert "1 cache hits" in s2.summary()


def test_no_valid_mass_is_an_error():
    model = KnownDistributionModel(persona_weights, valid_mass=0.0)
    with pytest.raises(ValueError, match="no probability on a valid answer"):
        DecisionService(model).key_id("x", _question())


def test_persona_and_messages_types_are_plain():
    # the key only depends on the rendered prompt, so equal texts from different personas share
    p1, p2 = Persona(id="a", text="Same."), Persona(id="b", text="Same.")
    q = _question()
    s = DecisionService(fake_model())
    assert s.key_id(p1.text, q) == s.key_id(p2.text, q)
    assert q.messages(p1.text)[0] == Message(role="system", content="Same.")
