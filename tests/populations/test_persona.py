"""Persona, Population and the fixed-prompt baseline."""

from __future__ import annotations

import numpy as np
import pytest

from populace_lm.fakes import KnownDistributionModel
from populace_lm.types import IntegerAnswers
from populations.baselines import FixedPromptBuilder
from populations.persona import Persona, Population
from populations.responses import answer_distributions
from scenarios.question import Question


def _pop():
    return Population(
        personas=(Persona(id="a", text="A"), Persona(id="b", text="B")),
        weights=np.array([0.25, 0.75]),
        construction="test",
    )


def test_population_validates_weights():
    with pytest.raises(ValueError, match="sum to 1"):
        Population(personas=(Persona(id="a", text=""),), weights=np.array([0.5]), construction="x")
    with pytest.raises(ValueError, match=r"expected \(1,\)"):
        Population(personas=(Persona(id="a", text=""),), weights=np.array([0.5, 0.5]), construction="x")
    with pytest.raises(ValueError, match="unique"):
        Population(
            personas=(Persona(id="a", text=""), Persona(id="a", text="")),
            weights=np.array([0.5, 0.5]),
            construction="x",
        )


def test_sampling_is_seeded_and_follows_weights():
    pop = _pop()
    a, b = pop.sample(10_000, rng=1), pop.sample(10_000, rng=1)
    np.testing.assert_array_equal(a, b)
    assert abs((a == 1).mean() - 0.75) < 0.02
    gen = np.random.default_rng(1)
    assert not np.array_equal(pop.sample(50, rng=gen), pop.sample(50, rng=gen))
    emp = pop.resample(1000, rng=3)
    assert emp.weights.sum() == pytest.approx(1.0) and len(emp) == 2


def test_population_file_round_trip(tmp_path):
    pop = _pop()
    back = Population.load(pop.save(tmp_path / "p.json"))
    assert back.personas == pop.personas and np.array_equal(back.weights, pop.weights)
    (tmp_path / "bad.json").write_text('{"kind": "something-else"}')
    with pytest.raises(ValueError, match="not a population file"):
        Population.load(tmp_path / "bad.json")


def test_fixed_prompt_builder_contract():
    builder = FixedPromptBuilder("You are X.")
    with pytest.raises(RuntimeError, match="not fitted"):
        builder.sample(3)
    pop = builder.fit().sample(5, rng=0)
    assert pop.personas[0].text == "You are X." and pop.weights.tolist() == [1.0]


def test_answer_distributions_share_identical_requests():
    model = KnownDistributionModel(lambda msgs, answers: [0.1, 0.2, 0.7])
    personas = (Persona(id="a", text="same"), Persona(id="b", text="same"), Persona(id="c", text="other"))
    questions = tuple(Question(id=f"q{i}", prompt=f"Q{i}?", answers=IntegerAnswers(low=1, high=3)) for i in range(4))
    resp = answer_distributions(model, personas, questions)
    assert resp.probs.shape == (3, 4, 3) and resp.n_requests == 8 and model.calls == 8
    np.testing.assert_allclose(resp.expected(), np.full((3, 4), 2.6))


def test_concurrent_requests_give_the_same_tensor():
    def dist(msgs, answers):
        k = len(msgs[0].content)
        return np.arange(1, answers.size + 1) ** (k % 3) / np.sum(np.arange(1, answers.size + 1) ** (k % 3))

    personas = tuple(Persona(id=str(i), text="x" * (i + 1)) for i in range(5))
    questions = tuple(Question(id=f"q{i}", prompt=f"Q{i}?", answers=IntegerAnswers(low=1, high=4)) for i in range(3))
    serial = answer_distributions(KnownDistributionModel(dist), personas, questions)
    parallel = answer_distributions(KnownDistributionModel(dist), personas, questions, max_workers=4)
    np.testing.assert_array_equal(serial.probs, parallel.probs)
    assert serial.n_requests == parallel.n_requests == 15
