"""Any scenario of the protocol (``questions()``, ``support``, ``pmfs``) runs in a SurveyModel and a what-if —
here a user-style instrument: three 0–10 attitude items scored as their mean, one reverse-keyed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import simulator.runner
import simulator.whatif
from populace_lm.types import IntegerAnswers
from scenarios.question import Question
from simulator import DecisionService, RunConfig, SurveyModel, Treatment, run_simulation, run_whatif, score_answers
from tests.simulator.fakes import fake_model, two_personas

ITEMS = ("trust_gov", "trust_media", "distrust_courts")  # the last is reverse-keyed


@dataclass(frozen=True)
class AttitudeMean:
    """Mean of three 0..10 items, the third reversed (10 − x): support 0, 1/3, …, 10."""

    dimensions = ("attitude",)

    def scores(self, answers: np.ndarray) -> np.ndarray:
        return score_answers(self, self.questions(), answers)  # point masses through pmfs: checked by hand below

    @property
    def support(self) -> np.ndarray:
        return np.arange(31) / 3.0

    def questions(self) -> tuple[Question, ...]:
        scale = IntegerAnswers(low=0, high=10)
        return tuple(Question(id=i, prompt=f"From 0 to 10: {i.replace('_', ' ')}?", answers=scale) for i in ITEMS)

    def pmfs(self, item_probs: np.ndarray) -> np.ndarray:
        p = np.asarray(item_probs, dtype=float)  # (K, 3, 11)
        out = []
        for k in range(p.shape[0]):
            total = np.convolve(np.convolve(p[k, 0], p[k, 1]), p[k, 2][::-1])  # sums 0..30
            out.append(total)
        return np.asarray(out)


def test_scores_of_a_protocol_scenario_by_hand():
    scen = AttitudeMean()
    answers = np.array([[10, 10, 0], [0, 0, 10], [3, 4, 5], [3, 4, 5]])
    expected = [(10 + 10 + 10) / 3, 0.0, (3 + 4 + 5) / 3, 4.0]
    np.testing.assert_allclose(score_answers(scen, scen.questions(), answers), expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"answers outside the answer set 0..10"):
        score_answers(scen, scen.questions(), np.array([[11, 0, 0]]))


def test_a_protocol_scenario_in_a_survey_model():
    pop = two_personas()
    m = SurveyModel(
        scenario=AttitudeMean(),
        population=pop,
        persona_indices=[0, 1, 0],
        service=DecisionService(fake_model()),
        seed=2,
    )
    while m.running:
        m.step()
    a = m.answers
    np.testing.assert_allclose(m.scores(), (a[:, 0] + a[:, 1] + 10 - a[:, 2]) / 3, rtol=0, atol=1e-12)


def test_run_and_treatment_whatif_on_a_file_style_scenario(monkeypatch):
    # stands in for get_scenario("attitudes.toml"): run and whatif only ever go through get_scenario
    real = simulator.runner.get_scenario

    def fake_get(name, **kw):
        return AttitudeMean() if name == "attitudes.toml" else real(name, **kw)

    for module in (simulator.runner, simulator.whatif):
        monkeypatch.setattr(module, "get_scenario", fake_get)
    config = RunConfig(scenario="attitudes.toml", n_agents=10, replicates=3, seed=4)
    assert config.is_survey
    run = run_simulation(config, two_personas(), DecisionService(fake_model()))
    assert len(run.records) == 3 * 10 * 3 and all(s.shape == (10,) for s in run.scores)
    res = run_whatif(
        config, two_personas(), DecisionService(fake_model()), treatment=Treatment(text="x"), n_resamples=500
    )
    assert res.differences["outcome"].tolist() == [*ITEMS, "score"]
    # the fake ignores the text: paired answers are identical and so is the exact expectation
    assert (res.differences["difference"] == 0).all()
    np.testing.assert_allclose(res.differences["exact_difference"], 0.0, atol=1e-12)
