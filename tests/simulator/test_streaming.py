"""A streamed survey gives exactly what the Mesa survey model gives, chunk size whatever; and run sizes are estimated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from populations.persona import Persona, Population
from simulator import DecisionService, RunConfig, run_simulation
from simulator.runner import estimate_run
from simulator.streaming import pairwise_sum
from simulator.treatment import Treatment
from tests.simulator.fakes import fake_model, two_personas

SURVEY = """\
kind = "survey"
name = "moods"
[scale]
type = "range"
low = 0
high = 10
labels = { 0 = "not at all", 10 = "completely" }
[[items]]
id = "a"
text = "I enjoy parties."
[[items]]
id = "b"
text = "I start conversations with strangers."
[[items]]
id = "c"
text = "I like to spend evenings alone."
[data]
path = "moods.csv"
"""


def three_personas() -> Population:
    return Population(
        personas=(
            Persona(id="gen", text="You are generous."),
            Persona(id="sting", text="You are stingy."),
            Persona(id="plain", text="You are you."),
        ),
        weights=np.array([0.6, 0.1, 0.3]),
        construction="test",
    )


def both(config, population, *, treatment=None, chunk_rows=7):
    held = run_simulation(config, population, DecisionService(fake_model()), treatment=treatment)
    chunks: list[pd.DataFrame] = []
    service = DecisionService(fake_model())
    streamed = run_simulation(
        config, population, service, treatment=treatment, on_records=chunks.append, chunk_rows=chunk_rows
    )
    return held, streamed, chunks


def assert_same(held, streamed, chunks):
    records = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(records, held.records, check_exact=True)
    pd.testing.assert_frame_equal(streamed.outcomes, held.outcomes, check_exact=True)
    assert len(streamed.scores) == len(held.scores)
    for a, b in zip(streamed.scores, held.scores, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    assert streamed.stats == held.stats and streamed.seeds == held.seeds
    assert streamed.records_streamed == len(held.records) and streamed.records.empty
    assert list(streamed.records.columns) == list(held.records.columns)


@pytest.mark.parametrize(("n", "seed", "chunk"), [(1, 0, 7), (5, 3, 2), (100, 1, 7), (1000, 9, 128), (333, 4, 1000)])
def test_a_streamed_bigfive_survey_equals_the_mesa_survey(n, seed, chunk):
    config = RunConfig(scenario="bigfive:E", n_agents=n, seed=seed, replicates=2)
    assert_same(*both(config, three_personas(), chunk_rows=chunk))


def test_a_streamed_file_survey_with_a_treatment_equals_the_mesa_survey(tmp_path):
    (tmp_path / "moods.toml").write_text(SURVEY)
    config = RunConfig(scenario=str(tmp_path / "moods.toml"), n_agents=257, seed=5, replicates=1)
    treatment = Treatment(text="Think of your best friend first.")
    assert_same(*both(config, two_personas(), treatment=treatment, chunk_rows=16))


def test_games_stream_their_records_unchanged():
    config = RunConfig(scenario="dictator", n_agents=40, seed=2, rounds=3, replicates=2)
    assert_same_game = run_simulation(config, two_personas(), DecisionService(fake_model()))
    chunks: list[pd.DataFrame] = []
    streamed = run_simulation(config, two_personas(), DecisionService(fake_model()), on_records=chunks.append)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), assert_same_game.records, check_exact=True)
    pd.testing.assert_frame_equal(streamed.outcomes, assert_same_game.outcomes, check_exact=True)
    assert streamed.records_streamed == len(assert_same_game.records) and streamed.records.empty


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 5000), st.integers(128, 700), st.integers(0, 2**32 - 1))
def test_pairwise_sum_in_slices_is_numpys_sum_bit_for_bit(n, leaf, seed):
    x = np.random.default_rng(seed).random(n) * np.random.default_rng(seed + 1).choice([1e-9, 1.0, 1e9], size=n)
    assert pairwise_sum(lambda lo, hi: x[lo:hi], n, leaf=leaf) == np.add.reduce(x)


def test_the_estimate_grows_with_agents_and_says_whether_it_streams():
    small = estimate_run(RunConfig(scenario="bigfive:E", n_agents=1000), streamed=True)
    big = estimate_run(RunConfig(scenario="bigfive:E", n_agents=1_000_000_000), streamed=True)
    held = estimate_run(RunConfig(scenario="bigfive:E", n_agents=1_000_000_000), streamed=False)
    assert small.rows == 10_000 and big.rows == 10_000_000_000 and big.streamed and not held.streamed
    assert big.disk_bytes > 50e9 and big.memory_bytes > 10e9 and held.memory_bytes > 100 * big.memory_bytes / 10
    assert small.memory_bytes < 200e6
