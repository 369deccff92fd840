"""World Values Survey 1995–97 poverty-policy item by country (``wvs_poverty/WVS.csv``, see its SOURCE.md).

One ordered three-option item — is what the government does for people in poverty too little, about right or
too much — answered by respondents in Australia, Norway, Sweden and the USA, with age, gender, degree and
religion. Answers are coded 1 = too little, 2 = about right, 3 = too much. The question below is our own wording.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from populace_lm.types import IntegerAnswers
from scenarios.errors import DataError
from scenarios.question import Question
from scenarios.sources import find_dataset_file

POVERTY_CODES = {"Too Little": 1, "About Right": 2, "Too Much": 3}
COUNTRIES = ("Australia", "Norway", "Sweden", "USA")
_COLUMNS = ("poverty", "religion", "degree", "country", "age", "gender")


@dataclass(frozen=True, kw_only=True)
class WVSData:
    """WVS respondents.

    Attributes:
        poverty: coded answers 1..3, shape ``(n,)``.
        demographics: ``country``, ``age``, ``gender``, ``degree`` (bool), ``religion`` (bool), length n.
        path: the file read.
    """

    poverty: np.ndarray
    demographics: pd.DataFrame
    path: str

    def by_country(self, country: str) -> np.ndarray:
        """Coded answers of one country, shape ``(n_c,)``.

        Raises:
            DataError: an unknown country, listing the known ones.
        """
        if country not in COUNTRIES:
            raise DataError(f"unknown WVS country {country!r}; countries: {list(COUNTRIES)}")
        return self.poverty[(self.demographics["country"] == country).to_numpy()]


def load_wvs_poverty(source: str | os.PathLike[str] | None = None) -> WVSData:
    """Load ``wvs_poverty/WVS.csv`` (comma-separated).

    Raises:
        DataError: missing file or columns, or a cell outside its categories (naming file, row and column).
    """
    path = str(find_dataset_file(source, "wvs_poverty", "WVS.csv"))
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse as comma-separated text: {exc}") from exc
    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing} (expected the carData WVS.csv)")
    checks = {
        "poverty": set(POVERTY_CODES),
        "country": set(COUNTRIES),
        "gender": {"male", "female"},
        "degree": {"yes", "no"},
        "religion": {"yes", "no"},
    }
    for col, allowed in checks.items():
        bad = ~df[col].isin(allowed)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}: row {i + 2}, column {col!r}: value {df[col].iloc[i]!r} not in {sorted(allowed)}")
    age = pd.to_numeric(df["age"], errors="coerce")
    if age.isna().any():
        i = int(np.flatnonzero(age.isna().to_numpy())[0])
        raise DataError(f"{path}: row {i + 2}, column 'age': value {df['age'].iloc[i]!r} is not a number")
    demo = pd.DataFrame(
        {
            "country": df["country"],
            "age": age,
            "gender": df["gender"],
            "degree": df["degree"] == "yes",
            "religion": df["religion"] == "yes",
        }
    )
    return WVSData(poverty=df["poverty"].map(POVERTY_CODES).to_numpy(dtype=float), demographics=demo, path=path)


def poverty_question() -> Question:
    """The poverty-policy item as a question with answers 1..3 (our wording)."""
    return Question(
        id="wvs_poverty",
        prompt=(
            "Think about what the government of your country is doing for people who live in poverty. "
            "Is it doing too little, about the right amount, or too much? "
            "Answer 1 for too little, 2 for about the right amount, 3 for too much. Reply with the number only."
        ),
        answers=IntegerAnswers(low=1, high=3),
    )
