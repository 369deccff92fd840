"""Reading integer answers from free-text replies, and sampled distributions built from them.

One parser serves every backend that must sample and every scenario that reads a reply: a bracketed number
(``[$40]``, ``[40]``) wins, else the first number in the text. A reply without a valid integer is *unparsed*
(or *out of range*); no default is ever substituted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from populace_lm.types import AnswerDistribution, IntegerAnswers, Usage

ParseStatus = Literal["ok", "unparsed", "out_of_range"]
_BRACKET = re.compile(r"\[\s*\$?\s*(-?\d+(?:\.\d+)?)\s*\]")
_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?)")


def parse_integer_reply(text: str, answers: IntegerAnswers) -> tuple[int | None, ParseStatus]:
    """The integer answer in ``text`` and a status.

    >>> parse_integer_reply("I'd say 4 out of 5.", IntegerAnswers(low=1, high=5))
    (4, 'ok')
    >>> parse_integer_reply("I give [$40] of $100", IntegerAnswers(low=0, high=100))
    (40, 'ok')
    >>> parse_integer_reply("7", IntegerAnswers(low=1, high=5))
    (None, 'out_of_range')
    >>> parse_integer_reply("no idea", IntegerAnswers(low=1, high=5))
    (None, 'unparsed')
    """
    m = _BRACKET.search(text) or _NUMBER.search(text)
    if m is None:
        return None, "unparsed"
    num = float(m.group(1))
    if not num.is_integer() or not answers.low <= num <= answers.high:
        return None, "out_of_range"
    return int(num), "ok"


def distribution_from_replies(
    replies: Sequence[str], answers: IntegerAnswers, *, usage: Usage | None = None
) -> AnswerDistribution:
    """Turn ``n`` replies into a ``"sampled"`` distribution: parsed frequencies, ``valid_mass = parsed / n``.

    With no parsed reply the probabilities are all zero and ``valid_mass`` is 0.
    """
    counts = [0] * answers.size
    parsed = 0
    for text in replies:
        value, _ = parse_integer_reply(text, answers)
        if value is not None:
            counts[value - answers.low] += 1
            parsed += 1
    n = len(replies)
    return AnswerDistribution(
        values=answers.values,
        probs=[c / parsed for c in counts] if parsed else [0.0] * answers.size,
        valid_mass=parsed / n if n else 0.0,
        method="sampled",
        n_samples=n,
        n_unparsed=n - parsed,
        usage=usage or Usage(),
    )
