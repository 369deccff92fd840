"""Loaders for the human Big Five data: ``big5_osp`` (with demographics) and ``ipip_ffm_sample`` (items only).

The instrument (item texts, keying, prompts) is the built-in file ``scenarios/builtin/bigfive.toml``; these loaders
give the cleaned respondents (recoded ages, countries) that demographic personas and the paper reproductions use.

Cleaning follows each dataset's SOURCE.md and is *counted*, never silent: item value 0 = missing; rows with every
item missing are dropped; ages typed as birth years (1900–2010) are recoded relative to the 2012 collection year,
other ages above 99 are set missing; the country pseudo-codes ``(nu``, ``A1``, ``A2`` and empty are set missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scenarios.errors import DataError
from scenarios.sources import find_dataset_file

__all__ = ["COLLECTION_YEAR", "ITEM_IDS", "Big5Data", "load_big5", "load_ipip_ffm_sample"]

ITEM_IDS = tuple(f"{t}{i}" for t in "ENACO" for i in range(1, 11))
"""The 50 IPIP item columns of the BIG5 ``data.csv``, in file order (E1..E10, N1..N10, A…, C…, O…)."""
COLLECTION_YEAR = 2012
_BAD_COUNTRIES = {"(nu", "A1", "A2", "", "(null)"}
_FFM_PREFIX = {"EXT": "E", "EST": "N", "AGR": "A", "CSN": "C", "OPN": "O"}


@dataclass(frozen=True, kw_only=True)
class Big5Data:
    """Cleaned human Big Five responses.

    Attributes:
        items: raw item answers 1..5, shape ``(n, 50)`` in ``ITEM_IDS`` order; NaN = missing.
        demographics: one row per respondent (``age``, ``gender``, ``country``, … ; missing = NaN/None), length n.
        path: the file read.
        cleaning: counts of what cleaning changed (dropped rows, recoded ages, missing countries, …).
    """

    items: np.ndarray
    demographics: pd.DataFrame
    path: str
    cleaning: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of respondents."""
        return int(self.items.shape[0])


def _numeric_block(df: pd.DataFrame, columns: list[str], path: str, *, header_lines: int = 1) -> np.ndarray:
    """Columns as floats; a non-numeric cell raises ``DataError`` naming file, row and column."""
    out = np.empty((len(df), len(columns)))
    for j, col in enumerate(columns):
        raw = df[col]
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() & raw.notna() & (raw.astype(str).str.strip() != "NA")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{path}: row {i + header_lines + 1}, column {col!r}: value {raw.iloc[i]!r} is not a number"
            )
        out[:, j] = num.to_numpy(dtype=float)
    return out


def _check_items(items: np.ndarray, columns: list[str], path: str) -> np.ndarray:
    valid = np.isnan(items) | np.isin(items, [0, 1, 2, 3, 4, 5])
    if not valid.all():
        i, j = (int(x[0]) for x in np.nonzero(~valid))
        raise DataError(f"{path}: row {i + 2}, column {columns[j]!r}: value {items[i, j]:g} is not in 0..5")
    items = items.copy()
    items[items == 0] = np.nan
    return items


def load_big5(source: str | os.PathLike[str] | None = None) -> Big5Data:
    """Load ``big5_osp/data.csv`` (tab-separated, 0 = missing) from a directory or URL.

    Raises:
        DataError: missing file, missing columns, or a malformed cell (naming file, row and column).
    """
    path = str(find_dataset_file(source, "big5_osp", "data.csv"))
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse as tab-separated text: {exc}") from exc
    missing = [c for c in ("age", "gender", "country", *ITEM_IDS) if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing} (is it the BIG5 data.csv, tab-separated?)")
    items = _check_items(_numeric_block(df, list(ITEM_IDS), path), list(ITEM_IDS), path)
    keep = ~np.isnan(items).all(axis=1)
    cleaning = {"rows_read": len(df), "rows_all_items_missing": int((~keep).sum())}

    demo = pd.DataFrame(index=df.index)
    for col in ("race", "engnat", "gender", "hand", "source"):
        if col in df.columns:
            v = pd.to_numeric(df[col], errors="coerce")
            demo[col] = v.where(v != 0)
    age = pd.to_numeric(df["age"], errors="coerce")
    birth_year = age.between(1900, 2010)
    cleaning["age_birth_year_recoded"] = int(birth_year.sum())
    age = age.where(~birth_year, COLLECTION_YEAR - age)
    junk = age.notna() & ((age > 99) | (age < 13))
    cleaning["age_junk_set_missing"] = int(junk.sum())
    demo["age"] = age.where(~junk)
    country = df["country"].str.strip()
    bad_country = country.isin(_BAD_COUNTRIES)
    cleaning["country_set_missing"] = int(bad_country.sum())
    demo["country"] = country.where(~bad_country, None)

    return Big5Data(
        items=items[keep],
        demographics=demo.loc[keep].reset_index(drop=True),
        path=path,
        cleaning=cleaning,
    )


def load_ipip_ffm_sample(source: str | os.PathLike[str] | None = None) -> Big5Data:
    """Load ``ipip_ffm_sample/BFPT.csv.gz`` (semicolon-separated, ``NA``/0 = missing; EST = Neuroticism items).

    Returns items in ``ITEM_IDS`` order (EXT1 → E1, EST1 → N1, …) and an empty demographics frame.
    """
    path = str(find_dataset_file(source, "ipip_ffm_sample", "BFPT.csv.gz"))
    try:
        df = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"{path}: cannot parse as semicolon-separated gzip text: {exc}") from exc
    rename = {c: _FFM_PREFIX[c[:3]] + c[3:] for c in df.columns if c[:3] in _FFM_PREFIX}
    df = df.rename(columns=rename)
    missing = [c for c in ITEM_IDS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing item columns {missing}")
    df = df.replace({"NA": None})
    items = _check_items(_numeric_block(df, list(ITEM_IDS), path), list(ITEM_IDS), path)
    keep = ~np.isnan(items).all(axis=1)
    return Big5Data(
        items=items[keep],
        demographics=pd.DataFrame(index=range(int(keep.sum()))),
        path=path,
        cleaning={"rows_read": len(df), "rows_all_items_missing": int((~keep).sum())},
    )
