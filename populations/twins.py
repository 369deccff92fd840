"""Digital twins: one persona per distinct demographic profile, written by the generic demographic construction.

A twin is the persona :func:`populations.demographic.render_persona` writes from a profile (the values of a
scenario's declared demographic columns), with the scenario file's labels and template. Rows sharing a profile
share a twin, so a survey of a million rows with a hundred profiles costs a hundred answer distributions.
:func:`read_frame` reads a population frame (a CSV of demographic columns) for the rows no human answered.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from populations.demographic import declared_demographics, no_demographics_error, persona_settings, render_persona
from populations.persona import Persona, Population

__all__ = ["TwinError", "build_twins", "read_frame", "twin_profiles"]


_NA = object()  # the one key of a missing value, so NaN equals NaN


class TwinError(ValueError):
    """A population frame or a profile table that cannot give twins (one line naming the file and the fix)."""


def twin_profiles(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct rows of ``df`` (its demographic columns) and which one each row has.

    NaN (or None) is a value like any other: rows missing the same column share a profile.

    Args:
        df: n rows of demographic columns.

    Returns:
        ``(profiles, index)``: the distinct rows in order of first appearance (a fresh ``0..m-1`` index, the same
        columns), and ``index`` of shape ``(n,)`` with ``profiles.iloc[index]`` equal to ``df`` row by row.

    Example:
        >>> profiles, index = twin_profiles(pd.DataFrame({"region": ["1", "2", "1"], "age": ["18-34"] * 3}))
        >>> profiles["region"].tolist(), index.tolist()
        (['1', '2'], [0, 1, 0])
    """
    if df.shape[1] == 0:
        return pd.DataFrame(index=range(1 if len(df) else 0)), np.zeros(len(df), dtype=np.intp)
    keys = [tuple(_NA if _isna(v) else v for v in row) for row in df.itertuples(index=False, name=None)]
    first: dict[tuple[Any, ...], int] = {}
    index = np.empty(len(keys), dtype=np.intp)
    order: list[int] = []
    for i, k in enumerate(keys):
        j = first.get(k)
        if j is None:
            j = first[k] = len(order)
            order.append(i)
        index[i] = j
    profiles = df.iloc[order].reset_index(drop=True)
    return profiles, index


def _isna(v: Any) -> bool:
    return v is None or (not isinstance(v, str) and pd.api.types.is_scalar(v) and bool(pd.isna(v)))


def build_twins(scenario: Any, profiles: pd.DataFrame) -> Population:
    """One persona per profile row, written with the scenario's ``data.demographic_labels`` and ``persona_template``.

    Args:
        scenario: a scenario read from a file, with declared ``data.demographics``.
        profiles: m distinct profiles (:func:`twin_profiles`), columns among the declared demographics.

    Returns:
        A :class:`Population` of m personas (ids ``twin-000000``…, attributes ``profile`` and the values), equal
        weights, construction ``"twins"``.

    Raises:
        ScenarioError: the scenario declares no ``data.demographics``.
        TwinError: no profile, or a profile column that is not a declared demographic column.
    """
    declared = declared_demographics(scenario)
    if not declared:
        raise no_demographics_error(scenario)
    unknown = [c for c in profiles.columns if c not in declared]
    if unknown:
        raise TwinError(
            f"profile column {unknown[0]!r} is not a demographic column of {scenario.name}; use some of {list(declared)}"
        )
    if len(profiles) == 0:
        raise TwinError(f"no profiles to build twins of {scenario.name} from; give at least one row")
    settings = persona_settings(scenario)
    columns = list(profiles.columns)
    personas = []
    for j, row in enumerate(profiles.itertuples(index=False, name=None)):
        values = dict(zip(columns, row, strict=True))
        attrs = {c: (None if _isna(v) else (v.item() if isinstance(v, np.generic) else v)) for c, v in values.items()}
        personas.append(
            Persona(
                id=f"twin-{j:06d}",
                text=render_persona(values, columns=columns, **settings),
                attributes={**attrs, "profile": j},
            )
        )
    return Population(
        personas=tuple(personas),
        weights=np.full(len(personas), 1.0 / len(personas)),
        construction="twins",
        metadata={"scenario": str(scenario.name), "columns": columns, "n_profiles": len(personas)},
    )


def read_frame(path: str | os.PathLike[str], scenario: Any) -> pd.DataFrame:
    """A population frame: a CSV with (at least) the scenario's declared demographic columns, read as text.

    Cells are read as written (text; an empty cell is ""), as the scenario's human rows are; extra columns are kept.

    Raises:
        TwinError: one line naming the file, when it cannot be read, is empty, or lacks declared columns.
        ScenarioError: the scenario declares no ``data.demographics``.
    """
    declared = declared_demographics(scenario)
    if not declared:
        raise no_demographics_error(scenario)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise TwinError(f"{path}: population frame not found; give the path of a CSV file") from None
    except pd.errors.EmptyDataError:
        raise TwinError(
            f"{path}: the population frame is empty; write a header with {', '.join(declared)} and one row per person"
        ) from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TwinError(f"{path}: cannot read the population frame as CSV ({first}); save it as UTF-8 CSV") from None
    missing = [c for c in declared if c not in df.columns]
    if missing:
        raise TwinError(
            f"{path}: the population frame lacks demographic columns {missing} of {scenario.name}; add them "
            f"(it has {list(df.columns)})"
        )
    if len(df) == 0:
        raise TwinError(f"{path}: the population frame has a header but no rows; add one row per person")
    return df
