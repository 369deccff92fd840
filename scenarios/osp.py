"""Out-of-domain surveys from the Open-Source Psychometrics Project: CFCS (``osp_cfcs``) and Grit (``osp_grit``).

Both are 12-item, 1..5 scales. Loaders read the tab-separated ``data.csv`` (0 = missing, per each dataset's
SOURCE.md; -1, found in one CFCS row, too) and return the raw item answers (NaN = missing) with demographics; the survey specs take item texts
and keying from the codebooks.

* **CFCS** (Strathman et al. 1994, CFC-12): item texts from ``osp_cfcs/codebook.txt`` (lines ``Q1. text``);
  answers 1 = extremely uncharacteristic … 5 = extremely characteristic; reverse-keyed (6 − x) Q3, Q4, Q5, Q9,
  Q10, Q11, Q12; higher = more future-oriented.
* **Grit-O** (Duckworth et al. 2007): the codebook only abbreviates the items ("GS1 I have…") and points to the
  author's page, so the statements below are our own paraphrases of the published items, each starting with the
  codebook's abbreviation. Answers as in the codebook: 1 = very much like me … 5 = not like me at all. With this
  coding GS1, GS4, GS6, GS9, GS10, GS12 are scored 6 − x (``reverse=True``) and the others as-is, so the keyed
  sum (12..60) is higher for grittier respondents (Grit = sum / 12).

The IPIP-50 block of ``osp_grit`` (columns E1..O10) is returned too, for subgroup checks on Big Five traits.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from populace_lm.types import IntegerAnswers
from scenarios.errors import DataError
from scenarios.ipip50 import ITEM_IDS
from scenarios.sources import find_dataset_file
from scenarios.survey import Survey, SurveyItem

CFCS_ITEMS = tuple(f"Q{i}" for i in range(1, 13))
CFCS_REVERSE = frozenset(["Q3", "Q4", "Q5", "Q9", "Q10", "Q11", "Q12"])
GRIT_ITEMS = tuple(f"GS{i}" for i in range(1, 13))
GRIT_REVERSE = frozenset(["GS1", "GS4", "GS6", "GS9", "GS10", "GS12"])

# Our own paraphrases of the Grit-O statements (the codebook gives only the first words, shown first here).
GRIT_TEXTS = {
    "GS1": "I have overcome a setback in order to master an important challenge.",
    "GS2": "New ideas and projects sometimes pull me away from the ones I was working on.",
    "GS3": "My interests change from one year to the next.",
    "GS4": "Setbacks don't discourage me.",
    "GS5": "I have been fixated on an idea or project for a short while and then lost interest in it.",
    "GS6": "I am a hard worker.",
    "GS7": "I often set a goal and later decide to chase a different one.",
    "GS8": "I have trouble keeping my focus on projects that take more than a few months to finish.",
    "GS9": "I finish whatever I start.",
    "GS10": "I have reached a goal that took years of work.",
    "GS11": "I become interested in new pursuits every few months.",
    "GS12": "I am diligent.",
}
_CFCS_LINE = re.compile(r"^(Q(?:1[0-2]|[1-9]))\.\s+(.+?)\s*$")
_GRIT_LINE = re.compile(r"^(GS(?:1[0-2]|[1-9]))\t+(.+?)\s*$")


@dataclass(frozen=True, kw_only=True)
class SurveyData:
    """Cleaned human answers of one survey.

    Attributes:
        items: raw answers 1..5, shape ``(n, n_items)`` in the survey's item order; NaN = missing.
        item_ids: column names of ``items``.
        demographics: one row per respondent (``age``, ``gender``, ``country``, …), length n.
        path: the file read.
        cleaning: counts of what cleaning changed.
        ipip: the IPIP-50 answers of the same respondents, shape ``(n, 50)`` (``osp_grit`` only).
    """

    items: np.ndarray
    item_ids: tuple[str, ...]
    demographics: pd.DataFrame
    path: str
    cleaning: dict[str, int] = field(default_factory=dict)
    ipip: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of respondents."""
        return int(self.items.shape[0])

    def complete(self) -> np.ndarray:
        """Boolean mask of respondents with every item answered, shape ``(n,)``."""
        return ~np.isnan(self.items).any(axis=1)


def _read_codebook(path: str | os.PathLike[str], pattern: re.Pattern[str], ids: tuple[str, ...]) -> dict[str, str]:
    texts: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = pattern.match(line.rstrip("\r\n"))
            if m and m.group(1) not in texts:
                texts[m.group(1)] = m.group(2)
    missing = [i for i in ids if i not in texts]
    if missing:
        raise DataError(f"{path}: codebook lacks item lines for {missing}")
    return texts


def cfcs_survey(source: str | os.PathLike[str] | None = None) -> Survey:
    """The CFC-12 survey with item texts from ``osp_cfcs/codebook.txt``.

    Raises:
        DataError: the codebook is missing or lacks an item (naming the file and the items).
    """
    texts = _read_codebook(find_dataset_file(source, "osp_cfcs", "codebook.txt"), _CFCS_LINE, CFCS_ITEMS)
    items = tuple(SurveyItem(id=i, text=texts[i], dimension="CFC", reverse=i in CFCS_REVERSE) for i in CFCS_ITEMS)
    return Survey(
        name="cfcs",
        items=items,
        answers=IntegerAnswers(low=1, high=5),
        anchors={
            1: "extremely uncharacteristic",
            2: "somewhat uncharacteristic",
            3: "uncertain",
            4: "somewhat characteristic",
            5: "extremely characteristic",
        },
        dimension_names={"CFC": "Consideration of future consequences"},
    )


def grit_survey(source: str | os.PathLike[str] | None = None) -> Survey:
    """The 12-item Grit survey; keying and scale from ``osp_grit/codebook.txt``, statements paraphrased.

    The codebook is read to check that it lists GS1..GS12 and that each abbreviation (e.g. ``"Setbacks
    don't..."``) begins our paraphrase, so a different item order in another copy of the data is caught.

    Raises:
        DataError: the codebook is missing, lacks an item, or its abbreviation does not match.
    """
    path = find_dataset_file(source, "osp_grit", "codebook.txt")
    abbrev = _read_codebook(path, _GRIT_LINE, GRIT_ITEMS)
    for item_id, short in abbrev.items():
        stem = short.rstrip(".… ").strip()
        if not GRIT_TEXTS[item_id].lower().startswith(stem.lower()):
            raise DataError(
                f"{path}: item {item_id} is abbreviated {short!r}, which does not begin our statement "
                f"{GRIT_TEXTS[item_id]!r}; the item order differs from Duckworth's Grit-O"
            )
    items = tuple(SurveyItem(id=i, text=GRIT_TEXTS[i], dimension="GRIT", reverse=i in GRIT_REVERSE) for i in GRIT_ITEMS)
    return Survey(
        name="grit",
        items=items,
        answers=IntegerAnswers(low=1, high=5),
        anchors={
            1: "very much like me",
            2: "mostly like me",
            3: "somewhat like me",
            4: "not much like me",
            5: "not like me at all",
        },
        dimension_names={"GRIT": "Grit"},
    )


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

    ``-1`` is not in the codebooks but one ``osp_cfcs`` row (file row 10920) has it in every item; it is read as
    missing and counted by the loaders (``cleaning["cells_coded_minus_one"]``).
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


def load_cfcs(source: str | os.PathLike[str] | None = None) -> SurveyData:
    """Load ``osp_cfcs/data.csv``: items Q1..Q12 (0 → NaN), age, gender (1 male, 2 female, 3 other), country.

    Ages outside 13..99 and the junk ``accuracy`` values above 100 are set missing (counted in ``cleaning``).

    Raises:
        DataError: missing file or columns, or a cell outside 0..5 (naming file, row and column).
    """
    path = str(find_dataset_file(source, "osp_cfcs", "data.csv"))
    df = _read_tsv(path, (*CFCS_ITEMS, "age", "gender", "country"))
    items = _items(df, CFCS_ITEMS, path)
    cleaning = {
        "rows_read": len(df),
        "rows_with_missing_item": int(np.isnan(items).any(axis=1).sum()),
        "cells_coded_minus_one": _minus_one(df, CFCS_ITEMS),
    }
    demo = pd.DataFrame({"age": _age(df, cleaning), "gender": _coded(df, "gender"), "country": _country(df, cleaning)})
    if "accuracy" in df.columns:
        acc = pd.to_numeric(df["accuracy"], errors="coerce")
        junk = acc > 100
        cleaning["accuracy_junk_set_missing"] = int(junk.sum())
        demo["accuracy"] = acc.where(~junk)
    return SurveyData(items=items, item_ids=CFCS_ITEMS, demographics=demo, path=path, cleaning=cleaning)


def load_grit(source: str | os.PathLike[str] | None = None) -> SurveyData:
    """Load ``osp_grit/data.csv``: Grit items GS1..GS12, the IPIP-50 block and demographics (0 → missing).

    ``demographics`` has age (13..99, else missing), gender, country, education, urban, religion, race, married,
    engnat and ``attentive`` (False when a fake word VCL6/9/12 was ticked).

    Raises:
        DataError: missing file or columns, or a cell outside 0..5 (naming file, row and column).
    """
    path = str(find_dataset_file(source, "osp_grit", "data.csv"))
    df = _read_tsv(path, (*GRIT_ITEMS, *ITEM_IDS, "age", "gender", "country", "education"))
    items = _items(df, GRIT_ITEMS, path)
    ipip = _items(df, ITEM_IDS, path)
    cleaning = {
        "rows_read": len(df),
        "rows_with_missing_item": int(np.isnan(items).any(axis=1).sum()),
        "cells_coded_minus_one": _minus_one(df, (*GRIT_ITEMS, *ITEM_IDS)),
    }
    demo = pd.DataFrame({"age": _age(df, cleaning), "country": _country(df, cleaning)})
    for col in ("gender", "education", "urban", "religion", "race", "married", "engnat"):
        if col in df.columns:
            demo[col] = _coded(df, col)
    fake = [c for c in ("VCL6", "VCL9", "VCL12") if c in df.columns]
    if fake:
        demo["attentive"] = ~(df[fake].apply(pd.to_numeric, errors="coerce").fillna(0) > 0).any(axis=1)
    return SurveyData(items=items, item_ids=GRIT_ITEMS, demographics=demo, path=path, cleaning=cleaning, ipip=ipip)


OSP_SURVEYS = {"osp_cfcs": (cfcs_survey, load_cfcs), "osp_grit": (grit_survey, load_grit)}


def osp_survey_and_data(name: str, source: str | os.PathLike[str] | None = None) -> tuple[Survey, SurveyData]:
    """The survey spec and human data of ``"osp_cfcs"`` or ``"osp_grit"``.

    Raises:
        DataError: for an unknown name, listing the known ones.
    """
    if name not in OSP_SURVEYS:
        raise DataError(f"unknown OSP survey {name!r}; known: {sorted(OSP_SURVEYS)}")
    spec, loader = OSP_SURVEYS[name]
    return spec(source), loader(source)
