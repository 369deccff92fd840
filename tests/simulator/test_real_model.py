"""A small run on the real embedded model (one answer distribution), then a replay from the cache."""

import numpy as np
import pandas as pd
import pytest

from populace_lm.cache import CachedModel
from populations.baselines import FixedPromptBuilder
from scenarios.games import Game
from simulator import GameModel
from simulator.decisions import DecisionService


@pytest.mark.model
def test_bomb_risk_on_the_embedded_model_replays_from_the_cache(embedded_model, tmp_path):
    pop = FixedPromptBuilder().fit().population_
    game = Game(name="bomb_risk", params={"n_boxes": 9})  # single-digit answers: one forward pass

    def run():
        cached = CachedModel(embedded_model, tmp_path / "cache.sqlite")
        service = DecisionService(cached)
        m = GameModel(game=game, population=pop, persona_indices=np.zeros(8, dtype=int), service=service, seed=1)
        m.step()
        return m.records(), service.stats()

    first, s1 = run()
    second, s2 = run()
    assert s1.distinct_prompts == 1 and s1.backend_calls >= 1
    assert s2.backend_calls == 0 and s2.cache_hits == 1
    pd.testing.assert_frame_equal(first, second)
    assert first["decision"].between(0, 9).all()
    assert ((first["valid_mass"] > 0) & (first["valid_mass"] <= 1)).all()
