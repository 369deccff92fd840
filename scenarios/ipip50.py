"""The IPIP 50-item Big Five survey, built from the BIG5 dataset's codebook.

Item texts are read from ``big5_osp/codebook.txt`` (lines ``E1<TAB>I am the life of the party.``). Keying is the
standard IPIP scoring key (Goldberg 1992 markers; also stated in the dataset's SOURCE.md): the items below are
reverse-keyed, and Neuroticism is scored so that higher = more neurotic.
"""

from __future__ import annotations

import os
import re

from populace_lm.types import IntegerAnswers
from scenarios.errors import DataError
from scenarios.sources import find_dataset_file
from scenarios.survey import Survey, SurveyItem

TRAITS = ("E", "N", "A", "C", "O")
TRAIT_NAMES = {
    "E": "Extraversion",
    "N": "Neuroticism",
    "A": "Agreeableness",
    "C": "Conscientiousness",
    "O": "Openness",
}
ITEM_IDS = tuple(f"{t}{i}" for t in TRAITS for i in range(1, 11))
REVERSE_KEYED = frozenset(
    ["E2", "E4", "E6", "E8", "E10", "N2", "N4", "A1", "A3", "A5", "A7", "C2", "C4", "C6", "C8", "O2", "O4", "O6"]
)
# Prefilled start of the reply: without it the embedded model puts <20% of its mass on a digit.
ANSWER_PREFIX = "Rating: "
_ITEM_LINE = re.compile(r"^([ENACO](?:10|[1-9]))\t(.+?)\s*$")


def read_codebook_items(path: str | os.PathLike[str]) -> dict[str, str]:
    """Item id → text from a BIG5 ``codebook.txt``.

    Raises:
        DataError: naming the file and the missing item ids.
    """
    texts: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = _ITEM_LINE.match(line.rstrip("\r\n"))
            if m:
                texts[m.group(1)] = m.group(2)
    missing = [i for i in ITEM_IDS if i not in texts]
    if missing:
        raise DataError(f"{path}: codebook lacks item texts for {missing}")
    return texts


def ipip50_survey(source: str | os.PathLike[str] | None = None) -> Survey:
    """The IPIP-50 survey with item texts from the codebook found in ``source`` (see :mod:`scenarios.sources`)."""
    texts = read_codebook_items(find_dataset_file(source, "big5_osp", "codebook.txt"))
    items = tuple(
        SurveyItem(id=i, text=texts[i], dimension=i.rstrip("0123456789"), reverse=i in REVERSE_KEYED) for i in ITEM_IDS
    )
    return Survey(
        name="ipip50",
        items=items,
        answers=IntegerAnswers(low=1, high=5),
        anchors={1: "disagree", 3: "neutral", 5: "agree"},
        dimension_names=dict(TRAIT_NAMES),
        answer_prefix=ANSWER_PREFIX,
    )
