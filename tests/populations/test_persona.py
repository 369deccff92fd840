"""Persona, Population and the fixed-prompt baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from populace_lm.fakes import KnownDistributionModel
from populace_lm.types import IntegerAnswers
from populations.base import NotFittedError
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
    with pytest.raises(ValueError, match=r"weights sum to 0.5, expected 1"):
        Population(personas=(Persona(id="a", text=""),), weights=np.array([0.5]), construction="x")
    with pytest.raises(ValueError, match=r"shape \(2,\) for 1 personas; give one weight per persona"):
        Population(personas=(Persona(id="a", text=""),), weights=np.array([0.5, 0.5]), construction="x")
    with pytest.raises(ValueError, match=r"duplicate persona id 'a' \(personas #1 and #2\)"):
        Population(
            personas=(Persona(id="a", text=""), Persona(id="a", text="")),
            weights=np.array([0.5, 0.5]),
            construction="x",
        )


def _doc(**changes):
    d = {
        "kind": "populace.population",
        "construction": "test",
        "personas": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}],
        "weights": [0.4, 0.6],
    }
    d.update(changes)
    return {k: v for k, v in d.items() if v is not ...}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"personas": {"a": "A"}}, r"^f\.json: 'personas' is an object; it must be a list of"),
        ({"personas": "A"}, r"^f\.json: 'personas' is a string \('A'\); it must be a list"),
        ({"personas": ["You are kind.", {"id": "b", "text": "B"}]}, r"personas\[0\]: a persona is a string"),
        ({"personas": [{"id": "a", "text": None}, {"id": "b", "text": "B"}]}, r"persona 'a': text must be .*got null"),
        ({"personas": [{"id": "a"}, {"id": "b", "text": "B"}]}, r"persona 'a' has no 'text'"),
        ({"weights": ...}, r"^missing key 'weights' in f\.json; add 'weights': one weight per persona$"),
        ({"personas": ...}, r"^missing key 'personas' in f\.json"),
        ({"weights": [1.0]}, r"^f\.json: 1 weights for 2 personas; give one weight per persona$"),
        ({"weights": [1.5, -0.5]}, r"weights\[1\] = -0.5: weights must be finite and non-negative"),
        ({"weights": [0.4, 0.5]}, r"weights sum to 0\.9, expected 1; divide each weight by their sum"),
        ({"weights": ["0.4", "0.6"]}, r"'weights' must be a list of numbers"),
        ({"personas": [{"id": "a", "text": "A"}, {"id": "a", "text": "B"}]}, r"duplicate persona id 'a'"),
        ({"personas": []}, r"'personas' is empty"),
        ({"kind": "populace.run"}, r"not a population file \(kind='populace.run'"),
    ],
)
def test_population_document_errors_name_the_file_the_key_and_the_fix(changes, message):
    with pytest.raises(ValueError, match=message):
        Population.from_dict(_doc(**changes), source="f.json")


def test_a_hand_written_document_without_kind_or_construction_is_accepted():
    d = _doc(kind=..., construction=...)
    pop = Population.from_dict(d)
    assert pop.construction == "unspecified" and [p.id for p in pop.personas] == ["a", "b"]


def test_population_load_reports_truncated_json_and_folders(tmp_path):
    full = json.dumps(_doc(), indent=2)
    (tmp_path / "cut.json").write_text(full[: len(full) // 2])
    with pytest.raises(ValueError, match=r"cut\.json is truncated JSON \(it ends at line \d+"):
        Population.load(tmp_path / "cut.json")
    (tmp_path / "bad.json").write_text('{"kind": "populace.population",, "weights": []}')
    with pytest.raises(ValueError, match=r"bad\.json is not valid JSON: .* at line 1 column 32"):
        Population.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="is a folder"):
        Population.load(tmp_path)


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
    with pytest.raises(NotFittedError, match="FixedPromptBuilder is not fitted"):
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
