"""Surveys as frozen specs: items, keying, prompt rendering and scoring.

A survey item is answered on an integer scale (``IntegerAnswers``). Rendering puts the respondent's persona in
the system message and the item in the user message, in our own wording. Scoring applies the keying
(reverse-keyed items score ``low + high − answer``) and sums items per dimension.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from populace_lm.types import IntegerAnswers, Message
from scenarios.errors import ScenarioError
from scenarios.question import Question

__all__ = ["DEFAULT_INSTRUCTIONS", "Survey", "SurveyItem", "item_prompt", "keyed_score_pmf", "sum_score_pmf"]

# The IPIP wording every survey used before instruments came from files (Big Five numbers depend on it).
DEFAULT_INSTRUCTIONS = (
    "Rate how accurately a statement describes you, on a scale from {low} to {high} ({scale}). "
    "Reply with the number only."
)


def item_prompt(instructions: str, item_label: str, text: str, *, low: int, high: int, scale: str) -> str:
    r"""The user message asking one item: the instruction first, the item last.

    The instruction comes first and the statement last, so the questions of one respondent share a long token
    prefix (persona + instruction) that the backend's KV cache evaluates once: about 20 new tokens per item
    instead of 60 on the embedded model.

    Args:
        instructions: a template that may use ``{low}``, ``{high}`` and ``{scale}`` (the labelled options).
        item_label: the word before the quoted item text (``"Statement"``); empty = the bare text.
        text: the item wording.
        low: smallest answer number.
        high: largest answer number.
        scale: the options in words, e.g. ``"1 = disagree, 3 = neutral, 5 = agree"``.

    >>> item_prompt("Answer {low}-{high} ({scale}).", "Question", "Do you vote?", low=1, high=2, scale="1 = no, 2 = yes")
    'Answer 1-2 (1 = no, 2 = yes).\nQuestion: "Do you vote?"'
    """
    head = instructions.format(low=low, high=high, scale=scale)
    return f'{head}\n{item_label}: "{text}"' if item_label else f"{head}\n{text}"


@dataclass(frozen=True, kw_only=True)
class SurveyItem:
    """One questionnaire item.

    Attributes:
        id: item code, e.g. ``"E1"``.
        text: the statement, e.g. ``"I am the life of the party."``.
        dimension: the scale it belongs to, e.g. ``"E"``.
        reverse: True when agreeing means *less* of the dimension.
    """

    id: str
    text: str
    dimension: str
    reverse: bool = False

    def __post_init__(self) -> None:
        if not self.id or not self.text.strip():
            raise ScenarioError(f"survey item needs an id and a text, got id={self.id!r} text={self.text!r}")


@dataclass(frozen=True, kw_only=True)
class Survey:
    """A questionnaire answered item by item on one integer scale.

    Attributes:
        name: scenario name, e.g. ``"ipip50"``.
        items: the items in administration order.
        answers: the answer scale (Likert 1..5 for IPIP).
        anchors: label of some scale points, e.g. ``{1: "disagree", 3: "neutral", 5: "agree"}``.
        dimension_names: dimension code → readable name.
        answer_prefix: text prefilled in the assistant turn before the number.
        instructions: the instruction template before each item (see :func:`item_prompt`).
        item_label: the word before each quoted item text.
    """

    name: str
    items: tuple[SurveyItem, ...]
    answers: IntegerAnswers
    anchors: dict[int, str] = field(default_factory=dict)
    dimension_names: dict[str, str] = field(default_factory=dict)
    answer_prefix: str = ""
    instructions: str = DEFAULT_INSTRUCTIONS
    item_label: str = "Statement"

    def __post_init__(self) -> None:
        ids = [it.id for it in self.items]
        if not ids:
            raise ScenarioError(f"survey {self.name!r} has no items")
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ScenarioError(f"survey {self.name!r} has duplicate item ids {dup}")
        for v in self.anchors:
            if not self.answers.low <= v <= self.answers.high:
                raise ScenarioError(f"anchor {v} outside scale {self.answers.low}..{self.answers.high}")

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Dimension codes in order of first appearance."""
        return tuple(dict.fromkeys(it.dimension for it in self.items))

    def item(self, item_id: str) -> SurveyItem:
        """The item with this id (``ScenarioError`` naming the known ids otherwise)."""
        for it in self.items:
            if it.id == item_id:
                return it
        raise ScenarioError(f"survey {self.name!r} has no item {item_id!r}; items: {[i.id for i in self.items]}")

    def items_for(self, dimension: str) -> tuple[SurveyItem, ...]:
        """Items of one dimension, in order."""
        chosen = tuple(it for it in self.items if it.dimension == dimension)
        if not chosen:
            raise ScenarioError(
                f"survey {self.name!r} has no dimension {dimension!r}; dimensions: {list(self.dimensions)}"
            )
        return chosen

    def subset(self, dimensions: tuple[str, ...] | list[str]) -> Survey:
        """The same survey restricted to some dimensions."""
        items = tuple(it for d in dimensions for it in self.items_for(d))
        return Survey(
            name=f"{self.name}:{','.join(dimensions)}",
            items=items,
            answers=self.answers,
            anchors=self.anchors,
            dimension_names=self.dimension_names,
            answer_prefix=self.answer_prefix,
            instructions=self.instructions,
            item_label=self.item_label,
        )

    def scale_text(self) -> str:
        """The scale instruction, e.g. ``"1 = disagree, 3 = neutral, 5 = agree"``."""
        return ", ".join(f"{v} = {label}" for v, label in sorted(self.anchors.items()))

    def question(self, item: SurveyItem | str) -> Question:
        """The :class:`Question` asking one item (our own wording)."""
        it = self.item(item) if isinstance(item, str) else item
        prompt = item_prompt(
            self.instructions,
            self.item_label,
            it.text,
            low=self.answers.low,
            high=self.answers.high,
            scale=self.scale_text(),
        )
        return Question(id=it.id, prompt=prompt, answers=self.answers, answer_prefix=self.answer_prefix)

    def questions(self) -> tuple[Question, ...]:
        """One question per item, in order."""
        return tuple(self.question(it) for it in self.items)

    def render(self, item: SurveyItem | str, system_prompt: str | None = None) -> tuple[Message, ...]:
        """Chat messages asking one item of a respondent with this system prompt."""
        return self.question(item).messages(system_prompt)

    def keyed(self, item: SurveyItem, answers: np.ndarray) -> np.ndarray:
        """Keyed item scores: reverse items map ``a → low + high − a``; shape preserved."""
        a = np.asarray(answers, dtype=float)
        return (self.answers.low + self.answers.high - a) if item.reverse else a

    def score(self, responses: np.ndarray, item_ids: tuple[str, ...] | None = None) -> np.ndarray:
        """Sum keyed item answers per dimension.

        Args:
            responses: raw answers, shape ``(n, n_items)`` in the order of ``item_ids`` (default: ``self.items``);
                NaN = missing.
            item_ids: column order of ``responses``.

        Returns:
            Dimension scores, shape ``(n, n_dimensions)`` in ``self.dimensions`` order; NaN where any item of
            the dimension is missing (complete-case per dimension).
        """
        ids = item_ids or tuple(it.id for it in self.items)
        r = np.asarray(responses, dtype=float)
        if r.ndim != 2 or r.shape[1] != len(ids):
            raise ValueError(f"responses has shape {r.shape}, expected (n, {len(ids)})")
        col = {item_id: j for j, item_id in enumerate(ids)}
        out = np.empty((r.shape[0], len(self.dimensions)))
        for d_idx, dim in enumerate(self.dimensions):
            cols = [self.keyed(it, r[:, col[it.id]]) for it in self.items_for(dim)]
            out[:, d_idx] = np.sum(cols, axis=0)
        return out

    def score_support(self, dimension: str) -> np.ndarray:
        """Possible sums of one dimension, e.g. ``10..50`` for ten 1–5 items; shape ``(S,)``."""
        n = len(self.items_for(dimension))
        return np.arange(n * self.answers.low, n * self.answers.high + 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "name": self.name,
            "items": [vars(it).copy() for it in self.items],
            "answers": {"low": self.answers.low, "high": self.answers.high},
            "anchors": {str(k): v for k, v in self.anchors.items()},
            "dimension_names": dict(self.dimension_names),
            "answer_prefix": self.answer_prefix,
            "instructions": self.instructions,
            "item_label": self.item_label,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Survey:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=d["name"],
            items=tuple(SurveyItem(**it) for it in d["items"]),
            answers=IntegerAnswers(**d["answers"]),
            anchors={int(k): v for k, v in d["anchors"].items()},
            dimension_names=dict(d["dimension_names"]),
            answer_prefix=d.get("answer_prefix", ""),
            instructions=d.get("instructions", DEFAULT_INSTRUCTIONS),
            item_label=d.get("item_label", "Statement"),
        )


def keyed_score_pmf(item_pmf: np.ndarray, reverse: bool) -> np.ndarray:
    """Distribution of a keyed item score from the raw answer distribution, shape ``(S,)`` → ``(S,)``."""
    pmf = np.asarray(item_pmf, dtype=float)
    return pmf[::-1].copy() if reverse else pmf.copy()


def sum_score_pmf(keyed_pmfs: list[np.ndarray]) -> np.ndarray:
    """Exact distribution of a sum of independent item scores by convolution.

    Args:
        keyed_pmfs: one keyed pmf per item, each shape ``(S,)`` on ``low..high``.

    Returns:
        pmf of the sum on ``n*low .. n*high``, shape ``(n*(S-1)+1,)``.
    """
    total = np.array([1.0])
    for pmf in keyed_pmfs:
        total = np.convolve(total, pmf)
    return total
