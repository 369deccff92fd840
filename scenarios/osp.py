"""The ``osp_grit`` respondents, cleaned: the Grit answers and the demographics the respondent personas come from.

The instrument itself (item texts, keying, prompts) is the built-in file ``scenarios/builtin/osp_grit.toml``, read
by the one scenario loader; this module only reads ``osp_grit/data.csv`` (tab-separated) for
:func:`populations.pool_builders.grit_respondent_pool`, with the cleaning of the dataset's SOURCE.md: item value
0 (and -1) = missing, ages outside 13..99 and the country pseudo-codes set missing, every change counted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scenarios.errors import DataError
from scenarios.sources import find_dataset_file

__all__ = ["GRIT_ITEMS", "GritData", "load_grit"]

GRIT_ITEMS = tuple(f"GS{i}" for i in range(1, 13))


@dataclass(frozen=True, kw_only=True)
class GritData:
    """Cleaned ``osp_grit`` respondents, one per row of ``data.csv``.

    Attributes:
        items: raw Grit answers 1..5, shape ``(n, 12)`` in :data:`GRIT_ITEMS` order; NaN = missing.
        demographics: one row per respondent (``age``, ``gender``, ``country``, ``education``, …), length n.
        path: the file read.
        cleaning: counts of what cleaning changed.
    """

    items: np.ndarray
    demographics: pd.DataFrame
    path: str
    cleaning: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of respondents."""
        return int(self.items.shape[0])

    def complete(self) -> np.ndarray:
        """Boolean mask of respondents with every item answered, shape ``(n,)``."""
        return ~np.isnan(self.items).any(axis=1)


def _read_tsv(path: str, required: tuple[str, ...]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse as tab-separated text: {exc}") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing} (expected the OSP tab-separated data.csv)")
    return df


def _items(df: pd.DataFrame, columns: tuple[str, ...], path: str) -> np.ndarray:
    """Item columns as floats in 1..5 with 0 and -1 → NaN; any other value raises naming file, row and column.

    ``-1`` is not in the codebook; it is read as missing and counted (``cleaning["cells_coded_minus_one"]``).
    """
    out = np.empty((len(df), len(columns)))
    for j, col in enumerate(columns):
        raw = df[col].str.strip()
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() | ~num.isin([-1, 0, 1, 2, 3, 4, 5])
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}: row {i + 2}, column {col!r}: value {df[col].iloc[i]!r} is not in 0..5")
        out[:, j] = num.to_numpy(dtype=float)
    out[out <= 0] = np.nan
    return out


def _minus_one(df: pd.DataFrame, columns: tuple[str, ...]) -> int:
    return int((df[list(columns)].apply(lambda c: c.str.strip()) == "-1").to_numpy().sum())


def _coded(df: pd.DataFrame, col: str) -> pd.Series:
    v = pd.to_numeric(df[col], errors="coerce")
    return v.where(v != 0)


def _age(df: pd.DataFrame, cleaning: dict[str, int]) -> pd.Series:
    age = pd.to_numeric(df["age"], errors="coerce")
    junk = age.notna() & ((age > 99) | (age < 13))
    cleaning["age_junk_set_missing"] = int(junk.sum())
    return age.where(~junk)


def _country(df: pd.DataFrame, cleaning: dict[str, int]) -> pd.Series:
    c = df["country"].str.strip()
    empty = c.isin(["", "(nu", "(null)", "A1", "A2"])
    cleaning["country_set_missing"] = int(empty.sum())
    return c.where(~empty, None)


def load_grit(source: str | os.PathLike[str] | None = None) -> GritData:
    """Load ``osp_grit/data.csv``: Grit items GS1..GS12 and demographics (0 → missing).

    ``demographics`` has age (13..99, else missing), gender, country, education, urban, religion, race, married,
    engnat and ``attentive`` (False when a fake word VCL6/9/12 was ticked).

    Raises:
        DataError: missing file or columns, or a cell outside 0..5 (naming file, row and column).
    """
    path = str(find_dataset_file(source, "osp_grit", "data.csv"))
    df = _read_tsv(path, (*GRIT_ITEMS, "age", "gender", "country", "education"))
    items = _items(df, GRIT_ITEMS, path)
    cleaning = {
        "rows_read": len(df),
        "rows_with_missing_item": int(np.isnan(items).any(axis=1).sum()),
        "cells_coded_minus_one": _minus_one(df, GRIT_ITEMS),
    }
    demo = pd.DataFrame({"age": _age(df, cleaning), "country": _country(df, cleaning)})
    for col in ("gender", "education", "urban", "religion", "race", "married", "engnat"):
        if col in df.columns:
            demo[col] = _coded(df, col)
    fake = [c for c in ("VCL6", "VCL9", "VCL12") if c in df.columns]
    if fake:
        demo["attentive"] = ~(df[fake].apply(pd.to_numeric, errors="coerce").fillna(0) > 0).any(axis=1)
    return GritData(items=items, demographics=demo, path=path, cleaning=cleaning)
