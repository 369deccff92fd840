"""Persona response vectors of a response matrix: integer draws stacked draw-major, keyed answers, trait means."""

from __future__ import annotations

import numpy as np
import pytest

from populace_lm.fakes import KnownDistributionModel
from populations.persona import Persona
from populations.response_matrix import (
    PersonaVectors,
    compute_response_matrix,
    keyed_answers,
    persona_vectors,
    stored_matrix_path,
    trait_means,
)

ITEMS = ("E1", "E2", "N1", "N2")


def _dist(messages, answers):
    """Persona 'level L' answers L with certainty."""
    system = messages[0].content
    w = np.full(answers.size, 1e-12)
    w[int(system.split("level ")[1][0]) - 1] = 1.0
    return w


def _pool(n=6):
    return tuple(Persona(id=f"p{i}", text=f"You are level {i % 5 + 1}. (#{i})") for i in range(n))


@pytest.fixture(scope="module")
def survey(data_dir):
    from scenarios.registry import get_scenario

    return get_scenario("bigfive", source=str(data_dir)).survey


@pytest.fixture()
def matrix(survey, tmp_path):
    return compute_response_matrix(
        KnownDistributionModel(_dist), _pool(), survey, cache_dir=tmp_path, item_ids=ITEMS, progress=False
    )


def test_rows_of_a_persona_are_its_draws_and_map_back():
    v = PersonaVectors(np.arange(12.0).reshape(6, 2), n_personas=3, draws=2)
    rows = v.rows_of(np.array([2, 0]))
    assert rows.tolist() == [2, 0, 5, 3]  # draw-major: draw 0 of both, then draw 1
    assert v.persona_of(rows).tolist() == [2, 0, 2, 0]
    assert v.draw_of(rows).tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="expected 2 x 4"):
        PersonaVectors(np.zeros((6, 2)), n_personas=4, draws=2)


def test_draws_are_seeded_integers_in_persona_order(matrix):
    a = persona_vectors(matrix, np.random.default_rng(3), draws=3)
    b = persona_vectors(matrix, np.random.default_rng(3), draws=3)
    assert a.values.shape == (18, 4) and (a.n_personas, a.draws) == (6, 3)
    np.testing.assert_array_equal(a.values, b.values)
    levels = np.array([i % 5 + 1 for i in range(6)], dtype=float)
    for r in range(3):  # certain answers: every draw of persona k is its level
        np.testing.assert_array_equal(a.values[r * 6 : (r + 1) * 6], np.repeat(levels[:, None], 4, axis=1))
    e = persona_vectors(matrix, np.random.default_rng(3), draws=3, expected=True)
    assert e.values.shape == (6, 4) and e.draws == 1


def test_keyed_answers_flip_reverse_items_and_trait_means_average_them(survey):
    answers = np.array([[5.0, 1.0, 2.0, 4.0], [1.0, 5.0, 3.0, 3.0]])
    keyed = keyed_answers(survey, ITEMS, answers)
    np.testing.assert_array_equal(keyed, [[5, 5, 2, 2], [1, 1, 3, 3]])  # E2 and N2 are reverse-keyed
    dims, means = trait_means(survey, ITEMS, answers)
    assert dims == ("E", "N")
    np.testing.assert_array_equal(means, [[5, 2], [1, 3]])
    with pytest.raises(ValueError, match=r"expected \(n, 4\)"):
        keyed_answers(survey, ITEMS, answers[:, :3])


def test_stored_matrix_path_is_the_file_compute_writes(matrix, survey, tmp_path):
    path = stored_matrix_path(tmp_path, _pool(), matrix.model_id, survey, ITEMS)
    assert path.is_file()
    assert stored_matrix_path(tmp_path, _pool(5), matrix.model_id, survey, ITEMS) != path
