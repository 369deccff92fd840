"""Frozen specs of file-declared scenarios: a survey instrument or a decision task, plus its human data.

These are what a scenario TOML file (:mod:`scenarios.loader`) turns into; every built-in instrument goes through
the same path. Each spec validates itself and round-trips through ``to_dict``/``from_dict``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any, Literal

from populace_lm.types import IntegerAnswers
from scenarios.errors import ScenarioError
from scenarios.question import Question
from scenarios.scales import Scale
from scenarios.survey import DEFAULT_INSTRUCTIONS, item_prompt

__all__ = ["DataSpec", "DecisionSpec", "DimensionSpec", "ItemSpec", "ScenarioSpec", "SurveySpec", "spec_from_dict"]

SCORINGS = ("item", "sum", "mean")
_PLACEHOLDERS = {"low", "high", "scale"}


@dataclass(frozen=True, kw_only=True)
class ItemSpec:
    """One survey item.

    Attributes:
        id: unique item id.
        text: the wording.
        dimension: the dimension it scores.
        scale: name of its answer scale.
        reverse: ``False``, ``True`` (mirror the scored values) or an integer ``R`` (score ``R − value``).
        column: the human-data column.
    """

    id: str
    text: str
    dimension: str
    scale: str
    reverse: bool | int = False
    column: str = ""

    def __post_init__(self) -> None:
        if not self.id or not self.text.strip():
            raise ScenarioError(f"a survey item needs an id and a text, got id={self.id!r} text={self.text!r}")
        if not self.column:
            object.__setattr__(self, "column", self.id)


@dataclass(frozen=True, kw_only=True)
class DimensionSpec:
    """A scored dimension.

    Attributes:
        id: dimension id (``"E"``).
        label: readable name (``"Extraversion"``).
        scoring: ``"item"`` (one item's value), ``"sum"`` or ``"mean"`` of keyed item values.
        items: its item ids in order.
    """

    id: str
    label: str
    scoring: Literal["item", "sum", "mean"]
    items: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.scoring not in SCORINGS:
            raise ScenarioError(f"dimension {self.id!r}: scoring must be one of {list(SCORINGS)}, got {self.scoring!r}")
        if not self.items:
            raise ScenarioError(f"dimension {self.id!r} has no items")
        if self.scoring == "item" and len(self.items) != 1:
            raise ScenarioError(
                f"dimension {self.id!r} scores 'item' but has {len(self.items)} items; use scoring 'sum' or 'mean'"
            )


@dataclass(frozen=True, kw_only=True)
class DataSpec:
    """Where the human answers are and how to read them.

    Attributes:
        path: an absolute file path (relative paths are resolved against the TOML file when loading).
        url: an http(s) URL (downloaded once into the data cache).
        dataset: a dataset folder of the data source (``--data`` / ``$POPULACE_DATA``), with ``file``.
        file: the file inside ``dataset``.
        format: ``"csv"``, ``"tsv"`` or ``"parquet"`` ("" = from the extension).
        separator: CSV separator ("" = from the format).
        missing: codes meaning "no answer" (an empty cell always is).
        filters: column → accepted values; other rows are dropped.
        weight: column of survey weights ("" = unweighted).
        demographics: columns kept to describe respondents.
        group: column whose values name subgroups (``NAME@VALUE``).
        column: answer column of a decision task.
        drop_empty_rows: drop rows where every item is missing.
    """

    path: str = ""
    url: str = ""
    dataset: str = ""
    file: str = ""
    format: str = ""
    separator: str = ""
    missing: tuple[str, ...] = ()
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    weight: str = ""
    demographics: tuple[str, ...] = ()
    group: str = ""
    column: str = ""
    drop_empty_rows: bool = True

    def __post_init__(self) -> None:
        given = [k for k in ("path", "url", "dataset") if getattr(self, k)]
        if len(given) != 1:
            raise ScenarioError(f"human data needs exactly one of path, url or dataset, got {given or 'none'}")
        if self.dataset and not self.file:
            raise ScenarioError("human data from a dataset needs its file name too ('file')")
        if self.format not in ("", "csv", "tsv", "parquet"):
            raise ScenarioError(f"data format must be csv, tsv or parquet, got {self.format!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "path": self.path,
            "url": self.url,
            "dataset": self.dataset,
            "file": self.file,
            "format": self.format,
            "separator": self.separator,
            "missing": list(self.missing),
            "filters": {k: list(v) for k, v in self.filters.items()},
            "weight": self.weight,
            "demographics": list(self.demographics),
            "group": self.group,
            "column": self.column,
            "drop_empty_rows": self.drop_empty_rows,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            **{
                **d,
                "missing": tuple(d.get("missing", ())),
                "filters": {k: tuple(v) for k, v in d.get("filters", {}).items()},
                "demographics": tuple(d.get("demographics", ())),
            }
        )


def _check_template(template: str) -> None:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ScenarioError(f"instructions template is malformed ({exc}); write literal braces as {{{{ }}}}") from exc
    unknown = fields - _PLACEHOLDERS
    if unknown:
        raise ScenarioError(
            f"instructions use unknown placeholders {sorted(unknown)}; use only {{low}}, {{high}}, {{scale}}"
        )


@dataclass(frozen=True, kw_only=True)
class SurveySpec:
    """A survey instrument.

    Attributes:
        name: scenario name.
        topic: what the respondent fills in (``"personality questionnaire"``).
        description: extra situation text for prompt writers ("" = none).
        instructions: the instruction template before each item (``{low}``, ``{high}``, ``{scale}``).
        item_label: the word before each quoted item.
        answer_stem: text prefilled before the answer number.
        scales: scale name → scale.
        items: the items in order.
        dimensions: the dimensions in order.
        data: the human data, or None.
        origin: the file it came from ("" when built in code).
    """

    name: str
    scales: dict[str, Scale]
    items: tuple[ItemSpec, ...]
    dimensions: tuple[DimensionSpec, ...]
    topic: str = "questionnaire"
    description: str = ""
    instructions: str = DEFAULT_INSTRUCTIONS
    item_label: str = "Statement"
    answer_stem: str = ""
    data: DataSpec | None = None
    origin: str = ""

    kind = "survey"

    def __post_init__(self) -> None:
        _check_template(self.instructions)
        ids = [it.id for it in self.items]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ScenarioError(f"survey {self.name!r} has duplicate item ids {dup}")
        for it in self.items:
            if it.scale not in self.scales:
                raise ScenarioError(f"item {it.id!r} uses unknown scale {it.scale!r}; scales: {sorted(self.scales)}")
        for dim in self.dimensions:
            missing = [i for i in dim.items if i not in ids]
            if missing:
                raise ScenarioError(f"dimension {dim.id!r} lists unknown items {missing}")
            scales = {self.item(i).scale for i in dim.items}
            if len(scales) > 1:
                raise ScenarioError(f"dimension {dim.id!r} mixes scales {sorted(scales)}; give its items one scale")
            scale = self.scales[scales.pop()]
            if not scale.ordered and dim.scoring != "item":
                raise ScenarioError(
                    f"dimension {dim.id!r} sums unordered categories; use scoring 'item' (one item per dimension)"
                )

    def item(self, item_id: str) -> ItemSpec:
        """The item with this id."""
        for it in self.items:
            if it.id == item_id:
                return it
        raise ScenarioError(f"survey {self.name!r} has no item {item_id!r}; items: {[i.id for i in self.items]}")

    def dimension(self, dim_id: str) -> DimensionSpec:
        """The dimension with this id."""
        for d in self.dimensions:
            if d.id == dim_id:
                return d
        raise ScenarioError(
            f"survey {self.name!r} has no dimension {dim_id!r}; dimensions: {[d.id for d in self.dimensions]}"
        )

    def scale_of(self, item_id: str) -> Scale:
        """The answer scale of one item."""
        return self.scales[self.item(item_id).scale]

    def question(self, item_id: str) -> Question:
        """The :class:`Question` asking one item (instruction first, item last, shared answer stem)."""
        it = self.item(item_id)
        scale = self.scales[it.scale]
        answers: IntegerAnswers = scale.answers
        prompt = item_prompt(
            self.instructions, self.item_label, it.text, low=answers.low, high=answers.high, scale=scale.text()
        )
        return Question(id=it.id, prompt=prompt, answers=answers, answer_prefix=self.answer_stem)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "kind": "survey",
            "name": self.name,
            "topic": self.topic,
            "description": self.description,
            "instructions": self.instructions,
            "item_label": self.item_label,
            "answer_stem": self.answer_stem,
            "scales": {k: s.to_dict() for k, s in self.scales.items()},
            "items": [
                {
                    "id": it.id,
                    "text": it.text,
                    "dimension": it.dimension,
                    "scale": it.scale,
                    "reverse": it.reverse,
                    "column": it.column,
                }
                for it in self.items
            ],
            "dimensions": [
                {"id": d.id, "label": d.label, "scoring": d.scoring, "items": list(d.items)} for d in self.dimensions
            ],
            "data": self.data.to_dict() if self.data else None,
            "origin": self.origin,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SurveySpec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=d["name"],
            topic=d["topic"],
            description=d["description"],
            instructions=d["instructions"],
            item_label=d["item_label"],
            answer_stem=d["answer_stem"],
            scales={k: Scale.from_dict(s) for k, s in d["scales"].items()},
            items=tuple(ItemSpec(**it) for it in d["items"]),
            dimensions=tuple(DimensionSpec(**{**x, "items": tuple(x["items"])}) for x in d["dimensions"]),
            data=DataSpec.from_dict(d["data"]) if d.get("data") else None,
            origin=d.get("origin", ""),
        )


@dataclass(frozen=True, kw_only=True)
class DecisionSpec:
    """A decision task: one instruction answered with a bounded integer.

    Attributes:
        name: scenario name (also the question id).
        instruction: the task text.
        low: smallest allowed answer.
        high: largest allowed answer.
        answer_stem: text prefilled before the number (``"I give $"``).
        label: what the number is (``"amount given"``).
        topic: where the decision is taken (``"an economic game"``; "" = unnamed).
        description: extra situation text for prompt writers.
        data: the human data, or None.
        origin: the file it came from.
    """

    name: str
    instruction: str
    low: int
    high: int
    answer_stem: str = ""
    label: str = "answer"
    topic: str = ""
    description: str = ""
    data: DataSpec | None = None
    origin: str = ""

    kind = "decision"

    def __post_init__(self) -> None:
        if not self.instruction.strip():
            raise ScenarioError(f"decision task {self.name!r} needs an instruction")
        if not (0 <= self.low < self.high):
            raise ScenarioError(f"decision task {self.name!r} needs 0 <= low < high, got {self.low}..{self.high}")

    @property
    def answers(self) -> IntegerAnswers:
        """The allowed answers."""
        return IntegerAnswers(low=self.low, high=self.high)

    def question(self) -> Question:
        """The task as a :class:`Question`."""
        return Question(id=self.name, prompt=self.instruction, answers=self.answers, answer_prefix=self.answer_stem)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "kind": "decision",
            "name": self.name,
            "instruction": self.instruction,
            "low": self.low,
            "high": self.high,
            "answer_stem": self.answer_stem,
            "label": self.label,
            "topic": self.topic,
            "description": self.description,
            "data": self.data.to_dict() if self.data else None,
            "origin": self.origin,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecisionSpec:
        """Inverse of :meth:`to_dict`."""
        body = {k: v for k, v in d.items() if k not in ("kind", "data")}
        return cls(**body, data=DataSpec.from_dict(d["data"]) if d.get("data") else None)


ScenarioSpec = SurveySpec | DecisionSpec


def spec_from_dict(d: dict[str, Any]) -> ScenarioSpec:
    """A spec from its ``to_dict`` form (dispatching on ``kind``)."""
    if d.get("kind") == "survey":
        return SurveySpec.from_dict(d)
    if d.get("kind") == "decision":
        return DecisionSpec.from_dict(d)
    raise ScenarioError(f"unknown scenario kind {d.get('kind')!r}; use 'survey' or 'decision'")
