"""The generic engine reproduces the pre-refactor per-game engine exactly.

The golden files were written by the old ``simulator/models.py`` (per-game ``_play_*`` methods, commit 372f197)
with the same fake, seeds and settings as :func:`_play`, for every game with random matching and on a
Watts-Strogatz network, 24 agents, 3 rounds. One correction was applied to the old engine when writing them: it
stored its live ``partner`` array in the records, so later rounds overwrote earlier rounds' ``partner`` (and a
trust banker's ``agent``) columns; the files hold each round's true values (see
``test_models.test_later_rounds_never_rewrite_earlier_records``).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scenarios.games import GAMES, Game
from simulator import DecisionService, GameModel, NetworkSpec, build_graph
from tests.simulator.fakes import fake_model, two_personas

GOLDEN = Path(__file__).parent / "golden"


def _play(name: str, networked: bool) -> GameModel:
    pop = two_personas()
    n = 24
    idx = pop.sample(n, rng=np.random.default_rng(7))
    graph = build_graph(NetworkSpec(kind="watts_strogatz"), n, seed=3) if networked else None
    model = GameModel(
        game=Game(name=name),
        population=pop,
        persona_indices=idx,
        service=DecisionService(fake_model()),
        seed=11,
        rounds=3,
        network=graph,
    )
    while model.running:
        model.step()
    return model


@pytest.mark.parametrize("networked", [False, True], ids=["matched", "network"])
@pytest.mark.parametrize("name", sorted(GAMES))
def test_generic_engine_reproduces_the_old_per_game_outcomes(name, networked):
    tag = f"{name}_{'network' if networked else 'matched'}"
    model = _play(name, networked)
    expected = pd.read_csv(GOLDEN / f"{tag}_records.csv")
    expected["question"] = expected["question"].fillna("").astype(object)  # a recipient's row asks nothing
    got = model.records()
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=True)
    pd.testing.assert_frame_equal(
        model.outcomes(), pd.read_csv(GOLDEN / f"{tag}_outcomes.csv"), check_dtype=False, check_exact=True
    )
