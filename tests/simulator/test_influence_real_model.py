"""The influence model on the real embedded model: a tiny society, then a replay from the cache."""

import numpy as np
import pytest

from populace_lm.cache import CachedModel
from populations.baselines import FixedPromptBuilder
from scenarios.influence import spec_from_influence_document
from simulator.decisions import DecisionService
from simulator.influence import InfluenceModel
from simulator.influence_graph import society_graph

DOC = {
    "kind": "influence",
    "name": "tiny",
    "rounds": 2,
    "group_size": 3,
    "answers": {"low": 1, "high": 9},  # one digit: one forward pass per distinct prompt
    "conditions": {"full": {"rule": "all"}},
    "items": [{"id": "Q", "text": "How many planets are there in the solar system?", "truth": 8.0}],
}


@pytest.mark.model
def test_a_tiny_society_on_the_embedded_model_replays_from_the_cache(embedded_model, tmp_path):
    spec = spec_from_influence_document(DOC, file="tiny.toml", base_dir=tmp_path)
    pop = FixedPromptBuilder().fit().population_

    def run():
        service = DecisionService(CachedModel(embedded_model, tmp_path / "cache.sqlite"))
        g = society_graph("complete", n_groups=1, group_size=3, seed=0)
        m = InfluenceModel(spec=spec, item="Q", condition="full", graph=g, population=pop,
                           persona_indices=np.zeros(3, dtype=int), service=service, seed=2)  # fmt: skip
        while m.running:
            m.step()
        return m.result(), service.stats()

    first, s1 = run()
    second, s2 = run()
    assert s1.backend_calls >= 1 and s2.backend_calls == 0
    assert np.array_equal(first.estimates, second.estimates)
    assert np.isin(first.estimates, np.arange(1, 10)).all()
    assert 0 <= first.parse_failure_rate < 1 and first.answer_grid == "exact integers 1..9"
    assert first.distinct_prompts[0] == 1  # one persona, one first-round prompt
