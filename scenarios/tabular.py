"""Read the human answers a scenario file declares: one row per respondent, one column per item.

Reading is *counted*, never silent (issue 12, "Bad input"):

* missing codes (``data.missing``) and empty cells become missing answers, counted per column;
* a number outside an integer range (or a fraction on it) is an out-of-scale answer: counted per column and set
  missing — never clipped to the scale;
* a decision answer with a fraction (54.5) is rounded to the integer answer grid and counted as ``rounded``;
* a category code the file does not declare, a text in a numeric column, a missing column or a bad weight raises
  :class:`~scenarios.errors.ScenarioFileError` naming the file, the row or column, the key and the fix.

The counts are kept in :attr:`HumanRows.report`.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scenarios.errors import DataError, ScenarioFileError
from scenarios.loader import open_source
from scenarios.scales import Scale
from scenarios.spec import DataSpec, ScenarioSpec, SurveySpec

__all__ = ["HumanRows", "read_human_rows", "read_table"]


@dataclass(frozen=True, kw_only=True)
class HumanRows:
    """Respondents of a scenario file after filters and cleaning.

    Attributes:
        columns: item ids (a survey) or the task name (a decision), length Q.
        answers: shape ``(n, Q)``: option numbers ``1..C`` of each item's scale (range scales: the answer itself),
            or the decision; NaN = missing.
        weights: survey weights, shape ``(n,)``, or None (unweighted).
        groups: the ``data.group`` column as text, shape ``(n,)``, or None.
        demographics: the ``data.demographics`` columns, n rows (text; empty = missing).
        path: the data file read.
        report: counts: ``rows_read``, ``rows_filtered_out``, ``rows_all_missing``, ``rows_weight_missing``,
            ``rows_kept`` and per column ``{"missing", "out_of_scale", "rounded"}``.
    """

    columns: tuple[str, ...]
    answers: np.ndarray
    weights: np.ndarray | None
    groups: np.ndarray | None
    demographics: pd.DataFrame
    path: str
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of respondents."""
        return int(self.answers.shape[0])

    def take(self, index: np.ndarray) -> HumanRows:
        """The rows at ``index`` (shape ``(m,)``), same report."""
        idx = np.asarray(index, dtype=int)
        return HumanRows(
            columns=self.columns,
            answers=self.answers[idx],
            weights=None if self.weights is None else self.weights[idx],
            groups=None if self.groups is None else self.groups[idx],
            demographics=self.demographics.iloc[idx].reset_index(drop=True),
            path=self.path,
            report=self.report,
        )


_CACHE: dict[tuple[str, str], HumanRows] = {}  # (spec, data file and its mtime) → rows


def read_table(data: DataSpec, path: Path, origin: str, *, key: str = "data") -> pd.DataFrame:
    """A data file as text cells (empty string = empty cell), read as ``data`` says.

    Raises:
        ScenarioFileError: a missing or unreadable file, naming ``key`` and the fix.
    """
    fmt = data.format or {".parquet": "parquet", ".pq": "parquet", ".tsv": "tsv", ".tab": "tsv"}.get(
        path.suffix.lower(), "csv"
    )
    try:
        if fmt == "parquet":
            df = pd.read_parquet(path)
            return df.astype(object).where(df.notna(), "").astype(str)
        sep = data.separator or ("\t" if fmt == "tsv" else ",")
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ScenarioFileError(f"{origin}: key {key!r}: the file {path} does not exist; fix {key}.path") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise ScenarioFileError(
            f"{origin}: key {key!r}: cannot read {path} as {fmt} ({exc}); set {key}.format or {key}.separator"
        ) from None


def _is_missing(raw: pd.Series, codes: tuple[str, ...]) -> np.ndarray:
    text = raw.str.strip()
    miss = (text == "").to_numpy().copy()
    if codes:
        miss |= text.isin(codes).to_numpy()
        numeric_codes = pd.to_numeric(pd.Series(codes), errors="coerce").dropna().to_numpy()
        if numeric_codes.size:
            miss |= np.isin(pd.to_numeric(text, errors="coerce").to_numpy(), numeric_codes)
    return miss


def _require(df: pd.DataFrame, column: str, key: str, origin: str, path: Path) -> None:
    if column not in df.columns:
        shown = list(df.columns[:12]) + (["…"] if len(df.columns) > 12 else [])
        raise ScenarioFileError(
            f"{origin}: key {key!r}: column {column!r} is not in {path} (columns: {shown}); "
            f"set {key} to one of its columns"
        )


def _row(df: pd.DataFrame, i: int) -> int:
    """File line of frame row ``i`` (header = line 1)."""
    return int(df.index[i]) + 2


def _numeric(df: pd.DataFrame, col: str, miss: np.ndarray, key: str, origin: str, path: Path) -> np.ndarray:
    num = pd.to_numeric(df[col].str.strip(), errors="coerce").to_numpy(dtype=float, copy=True)
    bad = np.isnan(num) & ~miss
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ScenarioFileError(
            f"{origin}: {path} row {_row(df, i)}, column {col!r} (key {key!r}): value {df[col].iloc[i]!r} is not "
            "a number; add it to data.missing if it means no answer"
        )
    num[miss] = np.nan
    return num


def _scale_column(
    df: pd.DataFrame, col: str, scale: Scale, data: DataSpec, key: str, origin: str, path: Path
) -> tuple[np.ndarray, dict[str, int]]:
    """Option numbers (range: answers) of one item column, and its counts."""
    miss = _is_missing(df[col], data.missing)
    counts = {"missing": int(miss.sum()), "out_of_scale": 0, "rounded": 0}
    if scale.kind == "range":
        num = _numeric(df, col, miss, key, origin, path)
        ok = np.isnan(num) | (np.isin(num, np.arange(scale.low, scale.high + 1)))
        counts["out_of_scale"] = int((~ok).sum())
        num[~ok] = np.nan
        return num, counts
    text = df[col].str.strip()
    by_code = {c.code: i + 1 for i, c in enumerate(scale.categories)}
    by_number: dict[float, int] = {}
    for c, opt in by_code.items():
        with contextlib.suppress(ValueError):
            by_number[float(c)] = opt
    out = np.full(len(df), np.nan)
    for value in pd.unique(text[~miss]):
        opt = by_code.get(value)
        if opt is None:
            try:
                opt = by_number.get(float(value))
            except ValueError:
                opt = None
        if opt is None:
            i = int(np.flatnonzero((text == value).to_numpy() & ~miss)[0])
            raise ScenarioFileError(
                f"{origin}: {path} row {_row(df, i)}, column {col!r} (key {key!r}): category {value!r} is not "
                f"declared; add it to the scale's categories (codes: {sorted(by_code)}) or to data.missing"
            )
        out[(text == value).to_numpy() & ~miss] = opt
    return out, counts


def _read_files(spec: ScenarioSpec, source: str | os.PathLike[str] | None) -> HumanRows:
    """The rows of every file of ``data.files``, each read and cleaned alone, then stacked with its group."""
    from dataclasses import replace

    assert spec.data is not None
    parts = [(f["group"], read_human_rows(replace(spec, data=spec.data.single(f)), source)) for f in spec.data.files]
    weights = [r.weights for _, r in parts]
    report: dict[str, Any] = {
        "file": ", ".join(r.path for _, r in parts),
        "files": {g: r.report for g, r in parts},
        "columns": {},
    }
    for k in ("rows_read", "rows_filtered_out", "rows_all_missing", "rows_weight_missing", "rows_kept"):
        if any(k in r.report for _, r in parts):
            report[k] = sum(int(r.report.get(k, 0)) for _, r in parts)
    for _, r in parts:
        for col, counts in r.report.get("columns", {}).items():
            acc = report["columns"].setdefault(col, {})
            for name, v in counts.items():
                acc[name] = acc.get(name, 0) + int(v)
    return HumanRows(
        columns=parts[0][1].columns,
        answers=np.concatenate([r.answers for _, r in parts]),
        weights=None if weights[0] is None else np.concatenate(weights),  # type: ignore[arg-type]
        groups=np.concatenate([np.full(r.n, g, dtype=object) for g, r in parts]).astype(str),
        demographics=pd.concat([r.demographics for _, r in parts], ignore_index=True),
        path=report["file"],
        report=report,
    )


def read_human_rows(spec: ScenarioSpec, source: str | os.PathLike[str] | None = None) -> HumanRows:
    """Read, filter and clean the human answers a spec declares (memoised per spec and source).

    Args:
        spec: a survey or decision spec with ``data``.
        source: data source for ``dataset`` references (default ``$POPULACE_DATA``).

    Raises:
        ScenarioFileError: the spec has no data, a column is missing, an undeclared category, a text in a
            numeric column or a bad weight (one line: file, row or key, fix).
    """
    origin = spec.origin or spec.name
    if spec.data is None:
        raise ScenarioFileError(f"{origin}: key 'data': the scenario declares no human data; add a [data] table")
    data = spec.data
    if data.files:
        return _read_files(spec, source)
    try:
        path = open_source(data.to_dict(), source)
    except DataError as exc:
        raise ScenarioFileError(f"{origin}: key 'data': {exc}") from None
    stamp = os.stat(path).st_mtime_ns if os.path.exists(path) else 0
    key = (json.dumps(spec.to_dict(), sort_keys=True, default=str), f"{path}:{stamp}")
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    df = read_table(data, Path(path), origin)
    report: dict[str, Any] = {"file": str(path), "rows_read": len(df)}
    for col in data.filters:
        _require(df, col, f"data.filters.{col}", origin, Path(path))
    keep = np.ones(len(df), dtype=bool)
    for col, accepted in data.filters.items():
        text = df[col].str.strip()
        ok = text.isin(accepted).to_numpy()
        nums = pd.to_numeric(pd.Series(accepted), errors="coerce").dropna().to_numpy()
        if nums.size:
            ok |= np.isin(pd.to_numeric(text, errors="coerce").to_numpy(), nums)
        keep &= ok
    report["rows_filtered_out"] = int((~keep).sum())
    df = df.loc[keep]

    columns: list[str] = []
    blocks: list[np.ndarray] = []
    per_col: dict[str, dict[str, int]] = {}
    if isinstance(spec, SurveySpec):
        for i, it in enumerate(spec.items):
            k = f"items[{i}].column"
            _require(df, it.column, k, origin, Path(path))
            values, counts = _scale_column(df, it.column, spec.scales[it.scale], data, k, origin, Path(path))
            columns.append(it.id)
            blocks.append(values)
            per_col[it.column] = counts
    else:
        col = data.column or spec.name
        _require(df, col, "data.column", origin, Path(path))
        miss = _is_missing(df[col], data.missing)
        num = _numeric(df, col, miss, "data.column", origin, Path(path))
        outside = ~np.isnan(num) & ((num < spec.low) | (num > spec.high))
        num[outside] = np.nan
        frac = ~np.isnan(num) & (num != np.rint(num))
        num = np.rint(num)
        binned = spec.bin_of(num)  # human values recorded in bins stay; others go to their bin (counted)
        moved = ~np.isnan(num) & (binned != num)
        columns.append(spec.name)
        blocks.append(binned)
        per_col[col] = {"missing": int(miss.sum()), "out_of_scale": int(outside.sum()), "rounded": int(frac.sum())}
        if spec.bins:
            per_col[col]["binned"] = int(moved.sum())
    answers = np.column_stack(blocks)
    report["columns"] = per_col

    keep = np.ones(len(df), dtype=bool)
    if data.drop_empty_rows:
        keep = ~np.isnan(answers).all(axis=1)
    report["rows_all_missing"] = int((~keep).sum())
    weights = None
    if data.weight:
        _require(df, data.weight, "data.weight", origin, Path(path))
        miss = _is_missing(df[data.weight], data.missing)
        w = _numeric(df, data.weight, miss, "data.weight", origin, Path(path))
        neg = ~np.isnan(w) & (w < 0)
        if neg.any():
            i = int(np.flatnonzero(neg)[0])
            raise ScenarioFileError(
                f"{origin}: {path} row {_row(df, i)}, column {data.weight!r} (key 'data.weight'): weight "
                f"{w[i]:g} is negative; survey weights must be >= 0"
            )
        report["rows_weight_missing"] = int((np.isnan(w) & keep).sum())
        keep &= ~np.isnan(w)
        weights = w[keep]
    for i, col in enumerate(data.demographics):
        _require(df, col, f"data.demographics[{i}]", origin, Path(path))
    groups = None
    if data.group:
        _require(df, data.group, "data.group", origin, Path(path))
        groups = df[data.group].str.strip().to_numpy(dtype=str)[keep]
    demo = (
        df.loc[keep, list(data.demographics)].reset_index(drop=True)
        if data.demographics
        else pd.DataFrame(index=range(int(keep.sum())))
    )
    report["rows_kept"] = int(keep.sum())
    rows = HumanRows(
        columns=tuple(columns),
        answers=answers[keep],
        weights=weights,
        groups=groups,
        demographics=demo,
        path=str(path),
        report=report,
    )
    _CACHE[key] = rows
    return rows
