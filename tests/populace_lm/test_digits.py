"""The digit-tree walk against brute-force enumeration of token paths on a toy model."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

from populace_lm.digits import classify_digit_tokens, distribution_from_probs, walk_digit_tree
from populace_lm.types import IntegerAnswers

VOCAB = {i: str(i) for i in range(10)} | {10: "12", 11: " 7", 12: "5.", 13: "<eos>", 14: "x", 15: "3x", 16: " "}


def toy_probs(path: tuple[int, ...]) -> np.ndarray:
    """A deterministic next-token distribution that depends on the whole path."""
    seed = int.from_bytes(hashlib.sha256(repr(path).encode()).digest()[:4], "big")
    return np.random.default_rng(seed).dirichlet(np.full(len(VOCAB), 0.7))


def brute_force(answers: IntegerAnswers) -> np.ndarray:
    """Sum path probabilities over every token path, parsing the decoded text with a regex."""
    mass = np.zeros(answers.size)
    max_digits = len(str(answers.high))

    def visit(path: tuple[int, ...], p: float) -> None:
        text = "".join(VOCAB[t] for t in path)
        m = re.match(r"^ ?(\d+)(.*)$", text, re.DOTALL)
        if path and (m is None or m.group(2) != "" or len(m.group(1)) > max_digits):
            if m and m.group(2) != "":
                digits = m.group(1)
                if (digits == "0" or not digits.startswith("0")) and answers.low <= int(digits) <= answers.high:
                    mass[int(digits) - answers.low] += p
            return
        if path and m.group(1).startswith("0") and len(m.group(1)) > 1:
            return
        probs = toy_probs(path)
        for t in VOCAB:
            visit((*path, t), p * probs[t])

    visit((), 1.0)
    return mass


@pytest.mark.parametrize("answers", [IntegerAnswers(low=0, high=100), IntegerAnswers(low=10, high=20)])
def test_walk_matches_brute_force(answers):
    walk = walk_digit_tree(toy_probs, classify_digit_tokens(VOCAB), answers, min_path_prob=0.0)
    np.testing.assert_allclose(walk.mass, brute_force(answers), rtol=1e-10, atol=1e-14)
    assert walk.valid_mass == pytest.approx(brute_force(answers).sum())


def test_single_digit_scale_uses_one_forward_pass():
    answers = IntegerAnswers(low=1, high=5)
    walk = walk_digit_tree(toy_probs, classify_digit_tokens(VOCAB), answers)
    root = toy_probs(())
    expected = np.array([root[d] for d in range(1, 6)])
    np.testing.assert_allclose(walk.mass, expected)
    assert walk.n_passes == 1


def test_pruning_only_loses_mass():
    answers = IntegerAnswers(low=0, high=100)
    exact = walk_digit_tree(toy_probs, classify_digit_tokens(VOCAB), answers, min_path_prob=0.0)
    pruned = walk_digit_tree(toy_probs, classify_digit_tokens(VOCAB), answers, min_path_prob=1e-2)
    assert pruned.n_passes < exact.n_passes
    assert np.all(pruned.mass <= exact.mass + 1e-15)
    assert pruned.valid_mass < exact.valid_mass


def test_distribution_from_probs_renormalises_and_reports_mass():
    answers = IntegerAnswers(low=1, high=3)
    probs, valid = distribution_from_probs([0.1, 0.2, 0.1], answers)
    np.testing.assert_allclose(probs, [0.25, 0.5, 0.25])
    assert valid == pytest.approx(0.4)
    with pytest.raises(ValueError, match=r"expected \(3,\)"):
        distribution_from_probs([0.1, 0.2], answers)


def test_classify_digit_tokens():
    extend, first, terminal = classify_digit_tokens(VOCAB)
    assert extend[10] == "12" and 11 in first and first[11] == "7"
    assert terminal == {12: "5", 15: "3"}
