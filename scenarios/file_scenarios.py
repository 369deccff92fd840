"""Scenarios built from specs: a survey dimension (:class:`SurveyScenario`) and a decision task.

Both :class:`SurveyScenario` (one dimension selected) and :class:`DecisionScenario` satisfy
:class:`scenarios.base.Scenario`.

Human rows are split *before* scoring (:func:`scenarios.split.split_indices` over the data's rows), so a
one-dimensional score and a multi-item response vector of the same file share the fit/test split; a respondent
with a missing item then drops out of that score only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from populace_lm.types import IntegerAnswers
from scenarios.errors import MultiDimensionError, ScenarioError, ScenarioFileError
from scenarios.question import Question
from scenarios.scoring import dimension_pmfs, dimension_scores, dimension_support
from scenarios.spec import DecisionSpec, DimensionSpec, SurveySpec, spec_from_dict
from scenarios.split import SPLITS, split_indices
from scenarios.survey import Survey, SurveyItem
from scenarios.tabular import HumanRows, read_human_rows

__all__ = ["DecisionScenario", "HumanSample", "SurveyScenario", "check_target", "split_rows"]

_LEVELS = ("very low", "low", "moderate", "high", "very high")


@dataclass(frozen=True, kw_only=True)
class HumanSample:
    """Human scores of one split with their weights and demographics (aligned rows).

    Attributes:
        values: scores, shape ``(n,)`` (one dimension) or ``(n, D)``.
        weights: survey weights, shape ``(n,)``, or None.
        demographics: n rows of the declared demographic columns.
    """

    values: np.ndarray
    weights: np.ndarray | None
    demographics: pd.DataFrame


def _complete(half: HumanRows, values: np.ndarray) -> HumanSample:
    """The respondents of ``half`` whose ``values`` are complete: values ``(n,)`` or ``(n, D)``, weights, demographics."""
    ok = ~np.isnan(values) if values.ndim == 1 else ~np.isnan(values).any(axis=1)
    return HumanSample(
        values=values[ok],
        weights=None if half.weights is None else half.weights[ok],
        demographics=half.demographics.loc[ok].reset_index(drop=True),
    )


def split_rows(n: int, split: str, seed: int, fit_fraction: float = 0.5) -> np.ndarray:
    """Indices of one half of ``n`` human rows (``"all"`` = every row; :func:`~scenarios.split.split_indices`), ``(m,)``.

    Raises:
        ScenarioError: an unknown split name.
    """
    if split not in SPLITS:
        raise ScenarioError(f"split must be one of {list(SPLITS)}, got {split!r} (pass the data location as source=…)")
    if split == "all":
        return np.arange(n)
    fit, test = split_indices(n, seed=seed, fit_fraction=fit_fraction)
    return fit if split == "fit" else test


def check_target(name: str, support: np.ndarray, x: float) -> float:
    """``x`` as a float inside the support's range.

    Raises:
        ValueError: naming the value, the scenario and its range.
    """
    v = float(x)
    if not np.isfinite(v) or v < support[0] or v > support[-1]:
        raise ValueError(
            f"target {x!r} is outside the answer range [{support[0]:g}, {support[-1]:g}] of scenario {name!r}; "
            "pass values on the scenario's scale"
        )
    return v


def _level(v: float, lo: float, hi: float) -> str:
    return _LEVELS[min(4, int((v - lo) / (hi - lo) * 5))]


class FileHumans:
    """The human rows of a scenario read from its file: the group, the split, scores, weights and demographics.

    A subclass has ``name``, ``spec`` (with ``data``), ``group`` and ``source``, and scores rows by
    :meth:`_row_scores`.
    """

    name: str
    group: str
    source: str | None

    def _row_scores(self, half: HumanRows) -> np.ndarray:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def rows(self, source: str | os.PathLike[str] | None = None) -> HumanRows:
        """The file's human rows (of the selected group), before splitting."""
        rows = read_human_rows(self.spec, source if source is not None else self.source)  # type: ignore[attr-defined]
        if rows.n == 0:
            r = rows.report
            raise ScenarioFileError(
                f"{self.spec.origin or self.name}: key 'data': {rows.path} has no respondent left "  # type: ignore[attr-defined]
                f"({r.get('rows_read', 0)} rows read, {r.get('rows_filtered_out', 0)} filtered out, "
                f"{r.get('rows_all_missing', 0)} with every item missing); check data.path, data.filters and data.missing"
            )
        if not self.group:
            return rows
        if rows.groups is None:
            raise ScenarioError(f"scenario {self.name!r}: the file declares no data.group column")
        mask = rows.groups == self.group
        if not mask.any():
            raise ScenarioError(
                f"scenario {self.name!r}: no respondent has {self.spec.data.group or 'a data.files group'} = {self.group!r}; "  # type: ignore[attr-defined]
                f"values: {sorted(set(rows.groups.tolist()))}"
            )
        return rows.take(np.flatnonzero(mask))

    def human_data(
        self,
        split: str = "all",
        *,
        seed: int = 0,
        source: str | os.PathLike[str] | None = None,
        fit_fraction: float = 0.5,
    ) -> HumanSample:
        """Scores (or decisions), weights and demographics of one split's complete respondents.

        The group's rows are split by :func:`scenarios.split.split_indices` (``split``, ``seed``,
        ``fit_fraction``) *before* scoring, so every dimension shares the split.
        """
        rows = self.rows(source)
        half = rows.take(split_rows(rows.n, split, seed, fit_fraction))
        return _complete(half, self._row_scores(half))

    def human_values(
        self,
        split: str = "all",
        *,
        seed: int = 0,
        source: str | os.PathLike[str] | None = None,
        fit_fraction: float = 0.5,
    ) -> np.ndarray:
        """Human scores of one half of the rows, shape ``(n,)`` (``(n, D)`` with several dimensions).

        Args:
            split: ``"all"``, ``"fit"`` or ``"test"`` (:func:`scenarios.split.split_indices` over the rows).
            seed: the run's root seed.
            source: data source for ``dataset`` references (default: the scenario's).
            fit_fraction: share of rows in the fit half.
        """
        return self.human_data(split, seed=seed, source=source, fit_fraction=fit_fraction).values

    def human_weights(
        self,
        split: str = "all",
        *,
        seed: int = 0,
        source: str | os.PathLike[str] | None = None,
        fit_fraction: float = 0.5,
    ) -> np.ndarray | None:
        """The ``data.weight`` column of the rows :meth:`human_values` returns, ``(n,)``; None when undeclared."""
        return self.human_data(split, seed=seed, source=source, fit_fraction=fit_fraction).weights


@dataclass(frozen=True, kw_only=True)
class SurveyScenario(FileHumans):
    """One or more dimensions of a survey instrument.

    Attributes:
        name: resolved name (``bigfive:E``, ``wvs_poverty@USA``, ``my.toml:trust``).
        spec: the instrument.
        dimensions: the selected dimension ids (one = a one-dimensional scenario).
        group: a value of the data's ``group`` column that selects respondents ("" = all).
        source: default data source for ``dataset`` references.
    """

    name: str
    spec: SurveySpec
    dimensions: tuple[str, ...]
    group: str = ""
    source: str | None = None

    def __post_init__(self) -> None:
        if not self.dimensions:
            raise ScenarioError(f"scenario {self.name!r} selects no dimension")
        for d in self.dimensions:
            self.spec.dimension(d)  # raises naming the known dimensions
        if self.group and (self.spec.data is None or not (self.spec.data.group or self.spec.data.files)):
            raise ScenarioError(
                f"scenario {self.name!r}: the file declares no data.group column to select {self.group!r}"
            )

    # ------------------------------------------------------------------ structure
    @property
    def _dims(self) -> tuple[DimensionSpec, ...]:
        return tuple(self.spec.dimension(d) for d in self.dimensions)

    @property
    def _one(self) -> DimensionSpec:
        if len(self.dimensions) != 1:
            raise MultiDimensionError(
                f"scenario {self.name!r} has dimensions {list(self.dimensions)}; pick one as "
                f"{self.name}:DIMENSION or use .by_dimension()"
            )
        return self._dims[0]

    @property
    def dimension(self) -> str:
        """The dimension id of a one-dimensional scenario."""
        return self._one.id

    @property
    def label(self) -> str:
        """The dimension's readable name (the instrument name when several)."""
        return self._one.label if len(self.dimensions) == 1 else self.spec.name

    @property
    def ordered(self) -> bool:
        """False when a selected dimension is an unordered item."""
        return all(self.spec.scale_of(d.items[0]).ordered for d in self._dims)

    def by_dimension(self) -> tuple[SurveyScenario, ...]:
        """One one-dimensional scenario per selected dimension."""
        base = self.name.split("@", 1)[0]
        if len(self.dimensions) == 1:
            return (self,)
        suffix = f"@{self.group}" if self.group else ""
        return tuple(
            SurveyScenario(
                name=f"{base}:{d}{suffix}", spec=self.spec, dimensions=(d,), group=self.group, source=self.source
            )
            for d in self.dimensions
        )

    def _keyed(self, dim: DimensionSpec) -> tuple[np.ndarray, np.ndarray]:
        """Smallest answer per item ``(Q,)`` and keyed values ``(Q, C)`` of one dimension."""
        items = [self.spec.item(i) for i in dim.items]
        scales = [self.spec.scales[it.scale] for it in items]  # one scoring, each item's own labels
        lows = np.array([float(sc.answers.low) for sc in scales])
        return lows, np.stack([sc.keyed_values(it.reverse) for sc, it in zip(scales, items, strict=True)])

    @property
    def support(self) -> np.ndarray:
        """Possible scores of the dimension, ascending, shape ``(S,)``."""
        dim = self._one
        return dimension_support(self._keyed(dim)[1], dim.scoring, dim.min_answered)

    def answer_values(self, item_id: str) -> np.ndarray:
        """The value of each answer option of one item, before keying, shape ``(C,)``.

        A range scale's answers are their own values; an ordinal category list's option ``i`` is worth
        ``categories[i].value`` (the unit the scores are in); unordered categories have only option numbers.
        """
        return self.spec.scale_of(item_id).values

    def questions(self) -> tuple[Question, ...]:
        """One question per item of the selected dimensions, in order."""
        return tuple(self.spec.question(i) for d in self._dims for i in d.items)

    def pmfs(self, item_probs: np.ndarray) -> np.ndarray:
        """Exact score distributions: ``(K, Q, C)`` answer distributions → ``(K, S)`` (convolution of keyed items).

        Raises:
            ValueError: a shape that does not match the dimension's items.
        """
        dim = self._one
        return dimension_pmfs(item_probs, self._keyed(dim)[1], dim.scoring, dim.min_answered)

    def scores(self, answers: np.ndarray) -> np.ndarray:
        """Scores from integer answers to :meth:`questions`, ``(n, Q)`` → ``(n,)`` or ``(n, D)``; NaN if incomplete."""
        a = np.asarray(answers, dtype=float)
        if a.ndim != 2 or a.shape[1] != len(self.questions()):
            raise ValueError(f"answers has shape {a.shape}, expected (n, {len(self.questions())})")
        out, start = [], 0
        for dim in self._dims:
            lows, keyed = self._keyed(dim)
            block = a[:, start : start + len(dim.items)]
            out.append(dimension_scores(block, lows, keyed, dim.scoring, dim.min_answered))
            start += len(dim.items)
        return out[0] if len(out) == 1 else np.column_stack(out)

    # ------------------------------------------------------------------ human data
    def _source(self, source: str | os.PathLike[str] | None) -> str | os.PathLike[str] | None:
        return source if source is not None else self.source

    def _row_scores(self, half: HumanRows) -> np.ndarray:
        """Scores of the selected dimensions for rows of the file, ``(n,)`` or ``(n, D)`` (NaN where incomplete)."""
        cols = [half.columns.index(i) for d in self._dims for i in d.items]
        return self.scores(half.answers[:, cols])

    def data_report(self, source: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """What reading the human data counted: rows read/filtered/dropped; per column missing/out-of-scale."""
        return dict(read_human_rows(self.spec, self._source(source)).report)

    # ------------------------------------------------------------------ words
    def _noun(self) -> str:
        return f"{self.spec.item_label.lower()}s" if self.spec.item_label else "items"

    def _describe_dim(self, dim: DimensionSpec) -> str:
        items = [self.spec.item(i) for i in dim.items]
        scale = self.spec.scales[items[0].scale]
        topic, label = self.spec.topic, dim.label
        lows, keyed = self._keyed(dim)
        support = dimension_support(keyed, dim.scoring, dim.min_answered)
        lo, hi = support[0], support[-1]
        if dim.scoring == "item":
            options = scale.text()
            text = (
                f"The person will answer this {self._noun()[:-1]} from a {topic} on {label}:\n"
                f'"{items[0].text}"\nThe options are: {options}.'
            )
            if scale.ordered:
                order = np.argsort(keyed[0])
                first = scale.option_label(int(order[0]) + scale.answers.low)
                last = scale.option_label(int(order[-1]) + scale.answers.low)
                text += f" The answer is scored from {lo:g} ({first}) to {hi:g} ({last})."
            return text
        examples = "; ".join(f'"{it.text}"' for it in items[:4])
        if scale.kind == "range":
            answered = (
                f"rated from {scale.low} ({scale.labels[scale.low]}) to {scale.high} ({scale.labels[scale.high]})"
            )
        else:
            answered = "answered with one of: " + ", ".join(c.label for c in scale.categories)
        combine = {"sum": "add up to", "mean": "are averaged into"}.get(dim.scoring, "answered are averaged into")
        return (
            f"The person will fill in a {topic} on {label}: {len(items)} {self._noun()} such as {examples}, each "
            f"{answered}. Their answers {combine} a score from {lo:g} (very low {label}) to {hi:g} "
            f"(very high {label})."
        )

    def describe(self) -> str:
        """What the respondent will be asked, for a prompt writer (our own wording, the instrument's labels)."""
        body = "\n\n".join(self._describe_dim(d) for d in self._dims)
        return f"{self.spec.description.strip()}\n\n{body}" if self.spec.description.strip() else body

    def _nearest_option(self, dim: DimensionSpec, v: float) -> str:
        scale = self.spec.scale_of(dim.items[0])
        keyed = self._keyed(dim)[1][0]
        return scale.option_label(int(np.argmin(np.abs(keyed - v))) + scale.answers.low)

    def describe_target(self, x: float) -> str:
        """The behaviour that scores about ``x``, in words (it names the number).

        Raises:
            ValueError: ``x`` outside the support (or not an option of an unordered item).
        """
        dim = self._one
        support = self.support
        v = check_target(self.name, support, x)
        lo, hi = support[0], support[-1]
        if dim.scoring != "item":
            return (
                f"a person whose {dim.label} score would be about {v:g} out of {hi:g} ({_level(v, lo, hi)} {dim.label})"
            )
        text = self.spec.item(dim.items[0]).text
        if not self.ordered:
            if v not in support:
                raise ValueError(
                    f"target {x!r} is not an option of unordered scenario {self.name!r}; options {support}"
                )
            return f'a person who would answer "{self._nearest_option(dim, v)}" to "{text}"'
        return (
            f'a person whose answer to "{text}" would score about {v:g} on the scale from {lo:g} to {hi:g} '
            f'(close to "{self._nearest_option(dim, v)}")'
        )

    def describe_exemplar(self, x: float) -> str:
        """One line telling a persona how someone like them answered (for Mixture-of-Personas exemplars)."""
        dim = self._one
        support = self.support
        if dim.scoring != "item":
            return (
                f"In an earlier questionnaire, someone like you scored {x:g} on {dim.label}, on a scale from "
                f"{support[0]:g} (lowest) to {support[-1]:g} (highest)."
            )
        return f'Earlier, someone like you was asked the same question and answered "{self._nearest_option(dim, x)}".'

    # ------------------------------------------------------------------ compatibility and serialisation
    @property
    def survey(self) -> Survey:
        """The selected items as a :class:`~scenarios.survey.Survey` (instruments on one integer range scale).

        Raises:
            ScenarioError: the items use categories or several scales.
        """
        names = {self.spec.item(i).scale for d in self._dims for i in d.items}
        scale = self.spec.scales[next(iter(names))]
        integer_keys = any(not isinstance(self.spec.item(i).reverse, bool) for d in self._dims for i in d.items)
        if len(names) != 1 or scale.kind != "range" or integer_keys:
            raise ScenarioError(f"scenario {self.name!r} is not a single integer-range survey; use .scores()")
        return Survey(
            name=self.spec.name,
            items=tuple(
                SurveyItem(id=i, text=self.spec.item(i).text, dimension=d.id, reverse=bool(self.spec.item(i).reverse))
                for d in self._dims
                for i in d.items
            ),
            answers=IntegerAnswers(low=scale.low, high=scale.high),
            anchors=dict(scale.labels),
            dimension_names={d.id: d.label for d in self._dims},
            answer_prefix=self.spec.answer_stem,
            instructions=self.spec.instructions,
            item_label=self.spec.item_label,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "kind": "survey_scenario",
            "name": self.name,
            "spec": self.spec.to_dict(),
            "dimensions": list(self.dimensions),
            "group": self.group,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SurveyScenario:
        """Inverse of :meth:`to_dict`."""
        spec = spec_from_dict(d["spec"])
        if not isinstance(spec, SurveySpec):
            raise ScenarioError(f"scenario {d['name']!r}: a survey scenario needs a survey spec")
        return cls(name=d["name"], spec=spec, dimensions=tuple(d["dimensions"]), group=d["group"], source=d["source"])


class DecisionWords:
    """Shared behaviour of one-question integer decisions (file decision tasks and game roles).

    Subclasses provide ``name``, ``support``, ``topic`` and ``questions()``.
    """

    name: str
    topic: str
    ordered = True

    @property
    def support(self) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def questions(self) -> tuple[Question, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The one dimension: the decision itself."""
        return (self.name,)

    def answer_values(self, item_id: str) -> np.ndarray:
        """The value of each answer: the answers themselves, shape ``(S,)``."""
        return np.asarray(self.support, dtype=float)

    def pmfs(self, item_probs: np.ndarray) -> np.ndarray:
        """Decision distributions, ``(K, 1, S)`` → ``(K, S)``."""
        probs = np.asarray(item_probs, dtype=float)
        if probs.ndim != 3 or probs.shape[1] != 1 or probs.shape[2] != self.support.size:
            raise ValueError(f"item_probs has shape {probs.shape}, expected (K, 1, {self.support.size})")
        return probs[:, 0, :].copy()

    def scores(self, answers: np.ndarray) -> np.ndarray:
        """The decisions, ``(n, 1)`` → ``(n,)``."""
        a = np.asarray(answers, dtype=float)
        if a.ndim != 2 or a.shape[1] != 1:
            raise ValueError(f"answers has shape {a.shape}, expected (n, 1)")
        return a[:, 0].copy()

    def describe(self) -> str:
        """The task as the respondent reads it, for a prompt writer."""
        where = f" in {self.topic}" if self.topic else ""
        return f'The person will be asked this{where}:\n"{self.questions()[0].prompt}"'

    def describe_target(self, x: float) -> str:
        """The desired answer in words (names the number)."""
        support = self.support
        v = check_target(self.name, support, x)
        return f"a person whose answer would be about {v:g} (on the scale from {support[0]:g} to {support[-1]:g})"

    def describe_exemplar(self, x: float) -> str:
        """One line telling a persona how someone like them answered."""
        return f"Earlier, someone like you was asked the same question and answered {x:g}."


@dataclass(frozen=True, kw_only=True)
class DecisionScenario(FileHumans, DecisionWords):
    """A decision task from a file: one instruction answered with a bounded integer.

    Attributes:
        name: resolved name.
        spec: the task.
        group: a value of the data's ``group`` column ("" = all respondents).
        source: default data source.
    """

    name: str
    spec: DecisionSpec
    group: str = ""
    source: str | None = None

    @property
    def topic(self) -> str:  # type: ignore[override]
        """Where the decision is taken ("" = unnamed)."""
        return self.spec.topic

    @property
    def label(self) -> str:
        """What the number is."""
        return self.spec.label

    @property
    def support(self) -> np.ndarray:
        """Possible scores, shape ``(S,)``: the answers ``low..high``, or the bin values (``[decision] bins``)."""
        if self.spec.bins:
            return np.asarray(self.spec.bins, dtype=float)
        return np.asarray(self.spec.answers.values, dtype=float)

    def questions(self) -> tuple[Question, ...]:
        """The single task question."""
        return (self.spec.question(),)

    def answer_values(self, item_id: str) -> np.ndarray:
        """The scored value of each answer ``low..high`` (its bin value with bins), shape ``(A,)``."""
        return self.spec.bin_of(np.asarray(self.spec.answers.values, dtype=float))

    def pmfs(self, item_probs: np.ndarray) -> np.ndarray:
        """Decision distributions, ``(K, 1, A)`` over the answers → ``(K, S)`` (answers merged into their bins)."""
        probs = np.asarray(item_probs, dtype=float)
        a = self.spec.answers.size
        if probs.ndim != 3 or probs.shape[1] != 1 or probs.shape[2] != a:
            raise ValueError(f"item_probs has shape {probs.shape}, expected (K, 1, {a})")
        if not self.spec.bins:
            return probs[:, 0, :].copy()
        at = np.searchsorted(self.support, self.answer_values(self.name))
        out = np.zeros((probs.shape[0], self.support.size))
        np.add.at(out.T, at, probs[:, 0, :].T)
        return out

    def scores(self, answers: np.ndarray) -> np.ndarray:
        """The decisions binned as the humans' (``(n, 1)`` → ``(n,)``)."""
        a = np.asarray(answers, dtype=float)
        if a.ndim != 2 or a.shape[1] != 1:
            raise ValueError(f"answers has shape {a.shape}, expected (n, 1)")
        return self.spec.bin_of(a[:, 0])

    def _row_scores(self, half: HumanRows) -> np.ndarray:
        """The decision column of rows of the file, ``(n,)``."""
        return half.answers[:, 0]

    def data_report(self, source: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """What reading the human data counted."""
        return dict(read_human_rows(self.spec, source if source is not None else self.source).report)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "kind": "decision_scenario",
            "name": self.name,
            "spec": self.spec.to_dict(),
            "group": self.group,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecisionScenario:
        """Inverse of :meth:`to_dict`."""
        spec = spec_from_dict(d["spec"])
        if not isinstance(spec, DecisionSpec):
            raise ScenarioError(f"scenario {d['name']!r}: a decision scenario needs a decision spec")
        return cls(name=d["name"], spec=spec, group=d["group"], source=d["source"])
