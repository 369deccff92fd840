"""Exact answer distributions over integer answer sets from next-token probabilities.

An integer answer written in decimal may take several tokens. Its probability is the sum, over every token
path that spells it and then stops, of the product of next-token probabilities along the path. This module
walks that *digit tree* depth first, asking a backend for the next-token distribution after each partial
answer, so a 0–100 answer costs about one short forward pass per reachable prefix (≈111 for 0–100, each a
1-token decode when the backend reuses its KV cache) instead of many sampled replies.

Rules, stated once:

* A token whose text (after a leading space, allowed only for the first token) is all digits extends the
  number. A token whose text starts with digits and then has other characters (``"5."``) ends the number
  after those digits. Any other token ends the number where it is.
* Numbers with a leading zero (``"07"``) are invalid, as are numbers outside ``[low, high]``.
* For single-digit answer sets (Likert scales) one forward pass is used: the probability of each digit token
  is taken as the answer probability without checking what follows.
* Branches whose path probability falls below ``min_path_prob`` are not expanded; their mass counts as
  invalid, so ``valid_mass`` stays an honest lower bound.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from populace_lm.types import IntegerAnswers

_LEADING_DIGITS = re.compile(r"^(\d+)(.*)$", re.DOTALL)


@dataclass(frozen=True, kw_only=True)
class DigitWalk:
    """Result of a digit-tree walk.

    Attributes:
        mass: unnormalised probability of each answer, shape ``(answers.size,)``.
        valid_mass: ``mass.sum()``, the probability that the reply is a valid answer.
        n_passes: number of next-token distributions requested.
    """

    mass: np.ndarray
    valid_mass: float
    n_passes: int


def classify_digit_tokens(vocab: Mapping[int, str]) -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
    """Split a vocabulary into the tokens that matter for number spelling.

    Args:
        vocab: token id → decoded text, for the whole vocabulary (or any superset of the digit tokens).

    Returns:
        ``(extend, extend_first, terminal)``: tokens that are all digits; tokens that are a space followed by
        digits (valid only as the first token); tokens that are digits followed by other text, mapped to their
        leading digits.
    """
    extend: dict[int, str] = {}
    extend_first: dict[int, str] = {}
    terminal: dict[int, str] = {}
    for tid, text in vocab.items():
        if text.isdigit() and text.isascii():
            extend[tid] = text
        elif text.startswith(" ") and text[1:].isdigit() and text[1:].isascii():
            extend_first[tid] = text[1:]
        else:
            m = _LEADING_DIGITS.match(text)
            if m and m.group(1).isascii():
                terminal[tid] = m.group(1)
    return extend, extend_first, terminal


def _valid(s: str, answers: IntegerAnswers) -> bool:
    return s != "" and (s == "0" or not s.startswith("0")) and answers.low <= int(s) <= answers.high


def _extendable(s: str, answers: IntegerAnswers) -> bool:
    """True when some valid answer strictly longer than ``s`` starts with ``s``."""
    if s == "" or s.startswith("0"):
        return s == ""
    max_len = len(str(answers.high))
    for length in range(len(s) + 1, max_len + 1):
        pad = length - len(s)
        lo, hi = int(s + "0" * pad), int(s + "9" * pad)
        if lo <= answers.high and hi >= answers.low:
            return True
    return False


def walk_digit_tree(
    next_token_probs: Callable[[tuple[int, ...]], np.ndarray],
    vocab_digits: tuple[dict[int, str], dict[int, str], dict[int, str]],
    answers: IntegerAnswers,
    *,
    min_path_prob: float = 1e-6,
) -> DigitWalk:
    """Exact distribution of an integer answer by walking the digit tree.

    Args:
        next_token_probs: maps the tokens generated so far after the prompt (a tuple of token ids, ``()`` at
            the root) to the next-token probability vector, shape ``(V,)``.
        vocab_digits: the output of :func:`classify_digit_tokens` for the model's vocabulary.
        answers: the valid answers ``low..high``.
        min_path_prob: branches with a smaller path probability are not expanded (their mass is invalid).

    Returns:
        A :class:`DigitWalk` with the unnormalised mass per answer, shape ``(answers.size,)``.

    Example:
        A toy model that always writes "4" then stops:

        >>> import numpy as np
        >>> vocab = {0: "4", 1: "<end>"}
        >>> probs = lambda path: np.array([1.0, 0.0]) if not path else np.array([0.0, 1.0])
        >>> walk = walk_digit_tree(probs, classify_digit_tokens(vocab), IntegerAnswers(low=0, high=10))
        >>> walk.mass[4], walk.valid_mass, walk.n_passes
        (np.float64(1.0), 1.0, 2)
    """
    extend, extend_first, terminal = vocab_digits
    mass = np.zeros(answers.size)
    n_passes = 0
    if answers.single_digit:
        probs = next_token_probs(())
        n_passes = 1
        for table in (extend, extend_first):
            for tid, text in table.items():
                if _valid(text, answers):
                    mass[int(text) - answers.low] += probs[tid]
        return DigitWalk(mass=mass, valid_mass=float(mass.sum()), n_passes=n_passes)

    stack: list[tuple[tuple[int, ...], str, float]] = [((), "", 1.0)]
    while stack:
        path, digits, p_path = stack.pop()
        probs = next_token_probs(path)
        n_passes += 1
        continuing = 0.0
        tables = (extend, extend_first) if digits == "" else (extend,)
        for table in tables:
            for tid, text in table.items():
                p_tok = float(probs[tid])
                continuing += p_tok
                new = digits + text
                p_new = p_path * p_tok
                if p_new < min_path_prob:
                    continue
                if _extendable(new, answers):
                    stack.append(((*path, tid), new, p_new))
                elif _valid(new, answers):
                    # Cannot grow into a longer valid answer: it is valid only if the model stops here.
                    stack.append(((*path, tid), new, p_new))
        if digits == "":
            for tid, text in terminal.items():
                if _valid(text, answers):
                    mass[int(text) - answers.low] += p_path * float(probs[tid])
            continue
        for tid, text in terminal.items():
            continuing += float(probs[tid])
            new = digits + text
            if _valid(new, answers):
                mass[int(new) - answers.low] += p_path * float(probs[tid])
        if _valid(digits, answers):
            p_stop = max(0.0, 1.0 - continuing)
            mass[int(digits) - answers.low] += p_path * p_stop
    return DigitWalk(mass=mass, valid_mass=float(mass.sum()), n_passes=n_passes)


def distribution_from_probs(
    probs: Sequence[float] | np.ndarray, answers: IntegerAnswers
) -> tuple[tuple[float, ...], float]:
    """Renormalise an unnormalised answer mass, shape ``(answers.size,)``.

    Returns:
        ``(probs, valid_mass)``; with zero valid mass the probabilities are all zero.
    """
    arr = np.asarray(probs, dtype=float)
    if arr.shape != (answers.size,):
        raise ValueError(f"probs has shape {arr.shape}, expected ({answers.size},)")
    total = float(arr.sum())
    if total <= 0:
        return tuple(0.0 for _ in arr), 0.0
    return tuple(float(x) for x in arr / total), min(total, 1.0)
