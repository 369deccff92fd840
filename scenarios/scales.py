"""Answer scales of survey items: an integer range, labelled ordinal categories, or unordered categories.

An LLM always answers a survey item with an integer (the range's own numbers, or the option number ``1..C`` of
a category list), so every scale maps to one :class:`~populace_lm.types.IntegerAnswers` and its exact answer
distribution can be read from log-probabilities. Scoring maps each answer option to a scored value:

* ``range`` — the integers ``low..high`` score themselves (a 1–5 Likert item);
* ``ordinal`` — option ``i`` scores ``categories[i].value`` (strictly increasing, e.g. ``<1`` hour → 0.5);
* ``categorical`` — unordered options; the "value" is only the option number, so distances between answers are
  not meaningful: such items are compared with total variation (:mod:`alignment.categorical`), never W1.

Reverse keying mirrors the scored values (``min + max − v``), or with an integer ``R`` maps ``v → R − v``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from populace_lm.types import IntegerAnswers
from scenarios.errors import ScenarioError

__all__ = ["SCALE_KINDS", "Category", "Scale"]

SCALE_KINDS = ("range", "ordinal", "categorical")


@dataclass(frozen=True, kw_only=True)
class Category:
    """One answer category.

    Attributes:
        label: the words shown to the respondent, e.g. ``"most of the time"``.
        code: how the category is written in the human data, e.g. ``"most of time"`` (default: the label).
        value: the scored value (ordinal scales); None for unordered categories.
    """

    label: str
    code: str = ""
    value: float | None = None

    def __post_init__(self) -> None:
        if not self.label.strip():
            raise ScenarioError("a category needs a non-empty label")
        if not self.code:
            object.__setattr__(self, "code", self.label)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        d: dict[str, Any] = {"label": self.label, "code": self.code}
        if self.value is not None:
            d["value"] = self.value
        return d


@dataclass(frozen=True, kw_only=True)
class Scale:
    """An answer scale.

    Attributes:
        kind: ``"range"``, ``"ordinal"`` or ``"categorical"``.
        low: smallest answer (range only).
        high: largest answer (range only).
        labels: answer → label for some range points; must label ``low`` and ``high``.
        categories: the options in presentation order (ordinal and categorical).
    """

    kind: Literal["range", "ordinal", "categorical"]
    low: int = 0
    high: int = 0
    labels: dict[int, str] = field(default_factory=dict)
    categories: tuple[Category, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in SCALE_KINDS:
            raise ScenarioError(f"unknown scale kind {self.kind!r}; use one of {list(SCALE_KINDS)}")
        if self.kind == "range":
            if self.categories:
                raise ScenarioError("a range scale has no categories; use kind 'ordinal' for labelled categories")
            if not (0 <= self.low < self.high):
                raise ScenarioError(f"a range scale needs 0 <= low < high, got low={self.low}, high={self.high}")
            outside = [v for v in self.labels if not self.low <= v <= self.high]
            if outside:
                raise ScenarioError(f"scale labels {outside} lie outside {self.low}..{self.high}")
            if self.low not in self.labels or self.high not in self.labels:
                raise ScenarioError(f"a range scale must label both ends {self.low} and {self.high}")
            return
        if len(self.categories) < 2:
            raise ScenarioError(f"a {self.kind} scale needs at least 2 categories, got {len(self.categories)}")
        for what in ("label", "code"):
            seen = [getattr(c, what) for c in self.categories]
            dup = sorted({s for s in seen if seen.count(s) > 1})
            if dup:
                raise ScenarioError(f"duplicate category {what}s {dup}")
        if self.kind == "ordinal":
            values = [c.value for c in self.categories]
            if any(v is None for v in values):
                raise ScenarioError("every category of an ordinal scale needs a scored value")
            if any(b <= a for a, b in zip(values, values[1:], strict=False)):  # type: ignore[operator]
                raise ScenarioError(f"ordinal category values must increase strictly in order, got {values}")
        elif any(c.value is not None for c in self.categories):
            raise ScenarioError("unordered (categorical) categories take no value; use kind 'ordinal' to score them")

    @property
    def ordered(self) -> bool:
        """False for unordered categories (no distance between answers)."""
        return self.kind != "categorical"

    @property
    def answers(self) -> IntegerAnswers:
        """The integers the respondent answers with: ``low..high`` or option numbers ``1..C``."""
        if self.kind == "range":
            return IntegerAnswers(low=self.low, high=self.high)
        return IntegerAnswers(low=1, high=len(self.categories))

    @property
    def size(self) -> int:
        """Number of answer options C."""
        return self.answers.size

    @property
    def values(self) -> np.ndarray:
        """Scored value of each answer option, shape ``(C,)`` (option numbers for unordered categories)."""
        if self.kind == "ordinal":
            return np.array([c.value for c in self.categories], dtype=float)
        return np.asarray(self.answers.values, dtype=float)

    def keyed_values(self, reverse: bool | int = False) -> np.ndarray:
        """Scored values after keying, shape ``(C,)``: mirrored (``True``) or ``R − v`` (integer ``R``).

        Raises:
            ScenarioError: reverse keying on unordered categories.
        """
        v = self.values
        if reverse is False:
            return v
        if not self.ordered:
            raise ScenarioError("unordered categories cannot be reverse-keyed")
        if reverse is True:
            return v.min() + v.max() - v
        return float(reverse) - v

    def option_label(self, option: int) -> str:
        """The words for one answer (range: its label or the number itself)."""
        if self.kind == "range":
            return self.labels.get(int(option), str(int(option)))
        return self.categories[int(option) - 1].label

    def text(self) -> str:
        """The options as shown in an instruction, e.g. ``"1 = disagree, 3 = neutral, 5 = agree"``."""
        if self.kind == "range":
            return ", ".join(f"{v} = {label}" for v, label in sorted(self.labels.items()))
        return ", ".join(f"{i} = {c.label}" for i, c in enumerate(self.categories, start=1))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        if self.kind == "range":
            return {
                "kind": "range",
                "low": self.low,
                "high": self.high,
                "labels": {str(k): v for k, v in sorted(self.labels.items())},
            }
        return {"kind": self.kind, "categories": [c.to_dict() for c in self.categories]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scale:
        """Inverse of :meth:`to_dict`."""
        return cls(
            kind=d["kind"],
            low=int(d.get("low", 0)),
            high=int(d.get("high", 0)),
            labels={int(k): str(v) for k, v in d.get("labels", {}).items()},
            categories=tuple(Category(**c) for c in d.get("categories", ())),
        )
