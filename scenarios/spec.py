"""Frozen specs of file-declared scenarios: a survey instrument or a decision task, plus its human data.

These are what a scenario TOML file (:mod:`scenarios.loader`) turns into; every built-in instrument goes through
the same path. Each spec validates itself and round-trips through ``to_dict``/``from_dict``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from populace_lm.types import IntegerAnswers
from scenarios.errors import ScenarioError
from scenarios.question import Question
from scenarios.scales import Scale
from scenarios.survey import DEFAULT_INSTRUCTIONS, item_prompt

__all__ = [
    "DataSpec",
    "DecisionSpec",
    "DimensionSpec",
    "ItemSpec",
    "ScenarioSpec",
    "BIN_RULES",
    "FILE_GROUP",
    "SurveySpec",
    "demographic_problem",
    "scales_problem",
    "spec_from_dict",
    "template_fields",
]

SCORINGS = ("item", "sum", "mean", "mean_answered")
#: The group column of human rows read from several files (``data.files``): each row's file's ``group``.
FILE_GROUP = "(file)"
BIN_RULES = ("nearest", "floor")
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
        scoring: ``"item"`` (one item's value), ``"sum"`` or ``"mean"`` of keyed item values, or
            ``"mean_answered"`` (the mean of the answered items; :mod:`scenarios.scoring`).
        items: its item ids in order.
        min_answered: ``"mean_answered"`` only: fewest answered items for a score (1..Q; default 1).
    """

    id: str
    label: str
    scoring: Literal["item", "sum", "mean", "mean_answered"]
    items: tuple[str, ...]
    min_answered: int = 1

    def __post_init__(self) -> None:
        if self.scoring not in SCORINGS:
            raise ScenarioError(f"dimension {self.id!r}: scoring must be one of {list(SCORINGS)}, got {self.scoring!r}")
        if not self.items:
            raise ScenarioError(f"dimension {self.id!r} has no items")
        if self.scoring == "item" and len(self.items) != 1:
            raise ScenarioError(
                f"dimension {self.id!r} scores 'item' but has {len(self.items)} items; use scoring 'sum' or 'mean'"
            )
        if not 1 <= self.min_answered <= len(self.items):
            raise ScenarioError(
                f"dimension {self.id!r}: min_answered = {self.min_answered} must be between 1 and its "
                f"{len(self.items)} items"
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
        demographic_labels: demographic column → {code: label} (codes written in the data become the label in a
            persona; unmapped values are used as written). Every column must be one of ``demographics``.
        persona_template: how a demographic persona reads, with ``{column}`` placeholders of ``demographics``
            ("" = the generic sentence of :func:`populations.demographic.render_persona`).
        group: column whose values name subgroups (``NAME@VALUE``).
        column: answer column of a decision task.
        drop_empty_rows: drop rows where every item is missing.
        files: human rows from several files, one group each: ``({"path"|"url"|"dataset"+"file": …,
            "group": NAME}, …)`` (instead of one ``path``/``url``/``dataset``); ``NAME@GROUP`` selects one file's
            rows, and ``group`` is then :data:`FILE_GROUP`.
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
    demographic_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    persona_template: str = ""
    group: str = ""
    column: str = ""
    drop_empty_rows: bool = True
    files: tuple[dict[str, str], ...] = ()

    def __post_init__(self) -> None:
        given = [k for k in ("path", "url", "dataset", "files") if getattr(self, k)]
        if len(given) != 1:
            raise ScenarioError(f"human data needs exactly one of path, url, dataset or files, got {given or 'none'}")
        groups = [f.get("group", "") for f in self.files]
        if self.files and (not all(groups) or len(set(groups)) != len(groups)):
            raise ScenarioError(f"each of data.files needs its own non-empty group name, got {groups}")
        if self.dataset and not self.file:
            raise ScenarioError("human data from a dataset needs its file name too ('file')")
        if self.format not in ("", "csv", "tsv", "parquet"):
            raise ScenarioError(f"data format must be csv, tsv or parquet, got {self.format!r}")
        problem = demographic_problem(self.demographics, self.demographic_labels, self.persona_template)
        if problem is not None:
            raise ScenarioError(f"key {problem[0]!r}: {problem[1]}")

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
            "demographic_labels": {k: dict(v) for k, v in self.demographic_labels.items()},
            "persona_template": self.persona_template,
            "group": self.group,
            "column": self.column,
            "drop_empty_rows": self.drop_empty_rows,
            "files": [dict(f) for f in self.files],
        }

    def single(self, file: dict[str, str]) -> DataSpec:
        """The spec reading one of its ``files`` alone (same cleaning rules, no group column)."""
        from dataclasses import replace

        ref = {k: file.get(k, "") for k in ("path", "url", "dataset", "file")}
        return replace(self, **ref, files=(), group="")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            **{
                **d,
                "files": tuple(dict(f) for f in d.get("files", ())),
                "missing": tuple(d.get("missing", ())),
                "filters": {k: tuple(v) for k, v in d.get("filters", {}).items()},
                "demographics": tuple(d.get("demographics", ())),
                "demographic_labels": {
                    k: {str(c): str(lab) for c, lab in v.items()} for k, v in d.get("demographic_labels", {}).items()
                },
            }
        )


def template_fields(template: str) -> list[str]:
    """The ``{placeholder}`` names of a persona template, in order (raises ``ValueError`` when malformed)."""
    return [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]


def demographic_problem(
    demographics: tuple[str, ...], labels: dict[str, dict[str, str]], template: str
) -> tuple[str, str] | None:
    """``(key, problem and fix)`` when ``data.demographic_labels`` or ``data.persona_template`` name undeclared columns.

    Example:
        >>> demographic_problem(("region",), {"regoin": {"1": "London"}}, "")[0]
        'data.demographic_labels.regoin'
    """
    declared = list(demographics)
    for col in labels:
        if col not in declared:
            return (
                f"data.demographic_labels.{col}",
                f"{col!r} is not a declared demographic column; add it to data.demographics or use one of {declared}",
            )
    if not template:
        return None
    try:
        fields = template_fields(template)
    except ValueError as exc:
        return "data.persona_template", f"the template is malformed ({exc}); write literal braces as {{{{ }}}}"
    unknown = [f for f in fields if f not in declared]
    if unknown:
        return (
            "data.persona_template",
            f"placeholder {{{unknown[0]}}} is not a declared demographic column; use only "
            f"{', '.join('{' + c + '}' for c in declared) or 'columns listed in data.demographics'}",
        )
    return None


def scales_problem(scales: list[Scale]) -> str:
    """Why items on these scales cannot share one dimension ("" when they can).

    Items of one dimension may each have their own end labels (``[scales.agree]`` for one wording,
    ``[scales.like]`` for another) as long as their answers are scored alike: the same kind, the same answer numbers
    and the same scored values, so their sum or mean means one thing.
    """
    first = scales[0]
    for other in scales[1:]:
        if other.kind != first.kind:
            return f"a {first.kind} and a {other.kind} scale; give its items scales of one kind"
        if (other.answers.low, other.answers.high) != (first.answers.low, first.answers.high):
            return (
                f"answers {first.answers.low}..{first.answers.high} and {other.answers.low}..{other.answers.high}; "
                "items of one dimension need the same answer numbers (their labels may differ)"
            )
        if not (first.values == other.values).all():
            return (
                f"scored values {first.values.tolist()} and {other.values.tolist()}; items of one dimension need "
                "the same values (their labels may differ)"
            )
    return ""


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
            problem = scales_problem([self.scales[self.item(i).scale] for i in dim.items])
            if problem:
                scales = sorted({self.item(i).scale for i in dim.items})
                raise ScenarioError(f"dimension {dim.id!r} mixes scales {scales}: {problem}")
            scale = self.scales[self.item(dim.items[0]).scale]
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
                {
                    "id": d.id,
                    "label": d.label,
                    "scoring": d.scoring,
                    "items": list(d.items),
                    "min_answered": d.min_answered,
                }
                for d in self.dimensions
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
        bins: the values humans were recorded in (``0, 10, …, 100``), ascending inside ``low..high``; every
            answer, simulated or human, is binned to one of them before scoring (``()`` = no bins).
        bin_rule: ``"nearest"`` (the closest bin value; a tie goes to the lower) or ``"floor"`` (the largest bin
            value not above the answer: bins labelled by their lower edge).
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
    bins: tuple[float, ...] = ()
    bin_rule: str = "nearest"

    kind = "decision"

    def __post_init__(self) -> None:
        if not self.instruction.strip():
            raise ScenarioError(f"decision task {self.name!r} needs an instruction")
        if not (0 <= self.low < self.high):
            raise ScenarioError(f"decision task {self.name!r} needs 0 <= low < high, got {self.low}..{self.high}")
        object.__setattr__(self, "bins", tuple(float(b) for b in self.bins))
        b = self.bins
        if b and (len(b) < 2 or any(y <= x for x, y in zip(b, b[1:], strict=False))):
            raise ScenarioError(
                f"decision task {self.name!r}: bins must be at least 2 increasing values, got {list(b)}"
            )
        if b and (b[0] < self.low or b[-1] > self.high):
            raise ScenarioError(f"decision task {self.name!r}: bins {list(b)} must lie inside {self.low}..{self.high}")
        if self.bin_rule not in BIN_RULES:
            raise ScenarioError(f"decision task {self.name!r}: bin_rule must be one of {list(BIN_RULES)}")
        if b and self.bin_rule == "floor" and b[0] != self.low:
            raise ScenarioError(
                f"decision task {self.name!r}: with bin_rule = 'floor' the first bin must be low = {self.low}"
            )

    def bin_of(self, values: Any) -> np.ndarray:
        """The bin value of each answer (the answers themselves without bins); NaN stays NaN, shape as given."""
        x = np.asarray(values, dtype=float)
        if not self.bins:
            return x.copy()
        b = np.asarray(self.bins)
        safe = np.where(np.isnan(x), b[0], x)
        if self.bin_rule == "floor":
            idx = np.searchsorted(b, safe, side="right") - 1
        else:
            idx = np.clip(np.searchsorted(b, safe), 1, b.size - 1)
            idx = np.where(safe - b[idx - 1] <= b[idx] - safe, idx - 1, idx)
        return np.where(np.isnan(x), np.nan, b[np.clip(idx, 0, b.size - 1)])

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
            "bins": list(self.bins),
            "bin_rule": self.bin_rule,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecisionSpec:
        """Inverse of :meth:`to_dict`."""
        body = {k: v for k, v in d.items() if k not in ("kind", "data", "bins")}
        data = DataSpec.from_dict(d["data"]) if d.get("data") else None
        return cls(**body, bins=tuple(d.get("bins", ())), data=data)


ScenarioSpec = SurveySpec | DecisionSpec


def spec_from_dict(d: dict[str, Any]) -> ScenarioSpec:
    """A spec from its ``to_dict`` form (dispatching on ``kind``)."""
    if d.get("kind") == "survey":
        return SurveySpec.from_dict(d)
    if d.get("kind") == "decision":
        return DecisionSpec.from_dict(d)
    raise ScenarioError(f"unknown scenario kind {d.get('kind')!r}; use 'survey' or 'decision'")
