"""Personas written from a scenario's own demographic columns (the generic ``demographic`` construction).

A scenario file declares the columns that describe its respondents (``data.demographics``), optionally the labels of
their codes (``data.demographic_labels``) and how a persona reads (``data.persona_template``; see
``docs/scenario_files.md``). :func:`render_persona` turns one respondent's values into a system prompt;
:class:`ScenarioDemographicBuilder` draws respondents from the scenario's **fit half** (the one split of
:func:`scenarios.file_scenarios.split_rows`, as :func:`populations.evaluation.human_split` uses), so a held-out
human never becomes a persona. Nothing here knows a country or a survey: the words come from the scenario file.

Missing values (None, NaN, an empty cell, or one of ``data.missing``) are skipped: the default sentence leaves the
column out, and a template drops every *sentence* (text up to ``.``, ``!`` or ``?``) holding a placeholder whose
value is missing; when no sentence is left the default sentence is used instead.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from populations.base import BaseBuilder
from populations.persona import Persona, Population
from scenarios.errors import ScenarioError
from scenarios.spec import template_fields

__all__ = [
    "DEFAULT_INTRO",
    "ScenarioDemographicBuilder",
    "declared_demographics",
    "humanise",
    "no_demographics_error",
    "persona_settings",
    "render_persona",
]

#: The first sentence of the default persona (no ``data.persona_template``).
DEFAULT_INTRO = "You are taking part in a survey."
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def humanise(column: str) -> str:
    """A column name as words: ``"age_band"`` → ``"age band"``.

    Example:
        >>> humanise("age_band")
        'age band'
    """
    return re.sub(r"[_\-]+", " ", column).strip()


def _code(value: Any, missing: Collection[str]) -> str | None:
    """The value as a code string (``2.0`` → ``"2"``), or None when missing."""
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    text = str(value).strip()
    if not text or text in missing:
        return None
    return text


def render_persona(
    values: Mapping[str, object],
    *,
    labels: Mapping[str, Mapping[str, str]],
    template: str | None,
    columns: Sequence[str],
    missing: Collection[str] = (),
) -> str:
    """One respondent's demographics as a second-person system prompt.

    Args:
        values: column → value (a code, a number or text); columns outside ``columns`` are ignored.
        labels: column → {code: label}; a value is looked up as text (``2.0`` as ``"2"``), an unmapped value is
            used as written.
        template: text with ``{column}`` placeholders, or None/"" for the default sentence
            (``"You are taking part in a survey. About you: region: London; age band: 18-34."``).
        columns: the demographic columns, in the order the default sentence lists them.
        missing: codes meaning "no answer" (besides None, NaN and an empty cell).

    Returns:
        The persona text. Missing values are skipped: the default sentence leaves them out; a template drops each
        sentence with a placeholder whose value is missing (or not in ``columns``), and falls back to the default
        sentence when none is left.

    Examples:
        >>> labels = {"region": {"1": "London", "2": "the North East"}}
        >>> render_persona({"region": "1", "age_band": "18-34"}, labels=labels, template=None,
        ...                columns=["region", "age_band"])
        'You are taking part in a survey. About you: region: London; age band: 18-34.'
        >>> render_persona({"region": 2.0, "age_band": ""}, labels=labels, columns=["region", "age_band"],
        ...                template="You live in {region}. You are aged {age_band}.")
        'You live in the North East.'
    """
    shown: dict[str, str] = {}
    for col in columns:
        code = _code(values.get(col), missing)
        if code is not None:
            shown[col] = str(labels.get(col, {}).get(code, code))
    if template:
        kept = []
        for sentence in _SENTENCE_END.split(template.strip()):
            if any(f not in shown for f in template_fields(sentence)):
                continue
            parts = [lit + (shown[f] if f is not None else "") for lit, f, _, _ in string.Formatter().parse(sentence)]
            kept.append("".join(parts))
        if kept:
            return " ".join(kept)
    if not shown:
        return DEFAULT_INTRO
    about = "; ".join(f"{humanise(c)}: {v}" for c, v in shown.items())
    return f"{DEFAULT_INTRO} About you: {about}."


def declared_demographics(scenario: Any) -> tuple[str, ...]:
    """The ``data.demographics`` columns of a scenario read from a file (``()`` when it declares none)."""
    data = getattr(getattr(scenario, "spec", None), "data", None)
    return tuple(getattr(data, "demographics", ()) or ())


def persona_settings(scenario: Any) -> dict[str, Any]:
    """The :func:`render_persona` keywords a scenario file declares: ``labels``, ``template``, ``missing``."""
    data = getattr(getattr(scenario, "spec", None), "data", None)
    return {
        "labels": dict(getattr(data, "demographic_labels", {}) or {}),
        "template": getattr(data, "persona_template", "") or None,
        "missing": tuple(getattr(data, "missing", ()) or ()),
    }


def no_demographics_error(scenario: Any) -> ScenarioError:
    """The one-line error for a scenario without ``data.demographics``."""
    name = getattr(scenario, "name", scenario)
    return ScenarioError(
        f"scenario {name} declares no data.demographics, so it has no respondents to write demographic personas "
        "from; declare them in its scenario file (docs/scenario_files.md)"
    )


class ScenarioDemographicBuilder(BaseBuilder):
    """Personas from the scenario's own fit-half respondents, written from its declared demographic columns.

    Args:
        n_personas: respondents to draw, uniformly without replacement from the fit half.
        split_seed: seed of the study's fit/test split (:func:`scenarios.file_scenarios.split_rows`).
        fit_fraction: share of the rows in the fit half.
        source: human data source (None = the scenario's default).
        random_state: seed of the draw.

    Attributes:
        rows_: the drawn rows, shape ``(n_personas,)``, indices into the scenario's (group's) human rows; all in
            the fit half.
        population_: the :class:`Population` (construction ``"demographic"``, equal weights); each persona's
            attributes hold ``row`` and the raw demographic values (None = missing).
    """

    kind: ClassVar[str] = "populace.scenario_demographic"

    def __init__(
        self,
        n_personas: int = 20,
        *,
        split_seed: int = 0,
        fit_fraction: float = 0.5,
        source: str | None = None,
        random_state: int = 0,
    ) -> None:
        self.n_personas = n_personas
        self.split_seed = split_seed
        self.fit_fraction = fit_fraction
        self.source = source
        self.random_state = random_state

    def fit(self, scenario: Any = None, values: Any = None, *, sample_weight: Any = None) -> ScenarioDemographicBuilder:
        """Draw fit-half respondents of ``scenario`` and write their personas (the data arguments are ignored).

        Raises:
            ScenarioError: the scenario declares no ``data.demographics``, or ``n_personas`` is < 1 or larger than
                its fit half.
        """
        from scenarios.file_scenarios import split_rows

        columns = declared_demographics(scenario)
        if not columns or not hasattr(scenario, "rows"):
            raise no_demographics_error(scenario)
        rows = scenario.rows(self.source)
        fit_idx = split_rows(rows.n, "fit", self.split_seed, self.fit_fraction)
        if not 1 <= self.n_personas <= fit_idx.size:
            raise ScenarioError(
                f"demographic: n_personas = {self.n_personas} must be between 1 and the {fit_idx.size} fit-half "
                f"respondents of {scenario.name}; set n_personas to at most {fit_idx.size}"
            )
        gen = np.random.default_rng(self.random_state)
        drawn = np.sort(gen.choice(fit_idx, size=self.n_personas, replace=False))
        demo = rows.demographics
        settings = persona_settings(scenario)
        personas = []
        for r in drawn:
            rec = {c: demo[c].iloc[int(r)] for c in columns}
            attrs = {c: (None if _code(v, ()) is None else str(v).strip()) for c, v in rec.items()}
            personas.append(
                Persona(
                    id=f"demographic-{int(r):06d}",
                    text=render_persona(rec, columns=columns, **settings),
                    attributes={**attrs, "row": int(r)},
                )
            )
        self.rows_ = drawn
        self.population_ = Population(
            personas=tuple(personas),
            weights=np.full(len(personas), 1.0 / len(personas)),
            construction="demographic",
            metadata={
                "n_personas": self.n_personas,
                "random_state": self.random_state,
                "fit_half_only": True,
                "source": str(scenario.name),
                "columns": list(columns),
            },
        )
        return self
