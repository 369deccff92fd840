"""Persona pools built from demographic records, and pool specs.

* :func:`big5_respondent_pool` / :func:`grit_respondent_pool`: one persona per survey respondent of
  ``big5_osp`` / ``osp_grit``, rendered from the respondent's *demographics only* (never their answers) into a
  short second-person narrative by a template. The persona keeps the raw fields in ``attributes`` (country,
  age, …), so subgroups can be checked against the same respondents' group.
* :func:`gss_narrative_pool`: the GenAgents GSS bank (``"Label: value"`` lines) rendered into a short narrative.
* :func:`load_pool_spec`: one pool from a ``"personahub:700"``-style spec (a shared pool or one built here).

The templates are ours; country codes are spelled out from a small table (other codes are kept as codes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from populations.persona import Persona
from populations.pools import PoolError, load_pool

COUNTRY_NAMES = {
    "US": "the United States",
    "GB": "the United Kingdom",
    "CA": "Canada",
    "AU": "Australia",
    "IN": "India",
    "PH": "the Philippines",
    "NZ": "New Zealand",
    "DE": "Germany",
    "MY": "Malaysia",
    "SG": "Singapore",
    "ZA": "South Africa",
    "PK": "Pakistan",
    "IE": "Ireland",
    "NL": "the Netherlands",
    "SE": "Sweden",
    "NO": "Norway",
    "FR": "France",
    "BR": "Brazil",
    "MX": "Mexico",
    "ID": "Indonesia",
    "RO": "Romania",
    "IT": "Italy",
    "ES": "Spain",
    "PL": "Poland",
    "DK": "Denmark",
    "FI": "Finland",
    "BE": "Belgium",
    "HK": "Hong Kong",
    "JP": "Japan",
    "CN": "China",
    "NG": "Nigeria",
    "KE": "Kenya",
    "AE": "the United Arab Emirates",
}
_GENDER = {1: "man", 2: "woman", 3: "person"}
_EDUCATION = {
    1: "did not finish high school",
    2: "finished high school",
    3: "have a university degree",
    4: "have a graduate degree",
}
_URBAN = {1: "in the countryside", 2: "in a suburb", 3: "in a town or city"}
_RELIGION = {
    1: "agnostic",
    2: "atheist",
    3: "Buddhist",
    4: "Catholic",
    5: "Mormon",
    6: "Protestant",
    7: "Christian",
    8: "Hindu",
    9: "Jewish",
    10: "Muslim",
    11: "Sikh",
}
_MARRIED = {1: "have never married", 2: "are married", 3: "were married before"}


def country_name(code: Any) -> str | None:
    """Readable country for an ISO code (``None`` for missing)."""
    if code is None or (isinstance(code, float) and np.isnan(code)) or not str(code).strip():
        return None
    return COUNTRY_NAMES.get(str(code).strip().upper(), str(code).strip())


def _a(age: int) -> str:
    """``"a"`` or ``"an"`` before a spoken age (8, 11, 18, 80–89 start with a vowel sound)."""
    return "an" if age in (8, 11, 18) or 80 <= age <= 89 else "a"


def _num(v: Any) -> int | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(f) else int(f)


def respondent_narrative(record: Mapping[str, Any]) -> str:
    """A short second-person narrative from one respondent's demographics (template; missing fields skipped).

    Examples:
        >>> respondent_narrative({"age": 34, "gender": 2, "country": "IN", "engnat": 2})
        'You are a 34-year-old woman living in India. English is not your first language.'
    """
    age, gender = _num(record.get("age")), _num(record.get("gender"))
    who = _GENDER.get(gender or 0, "person")
    head = f"You are {_a(age)} {age}-year-old {who}" if age else f"You are a {who}"
    country = country_name(record.get("country"))
    parts = [head + (f" living in {country}." if country else ".")]
    extras = []
    if (e := _num(record.get("education"))) in _EDUCATION:
        extras.append(f"you {_EDUCATION[e]}")
    if (u := _num(record.get("urban"))) in _URBAN:
        extras.append(f"you grew up {_URBAN[u]}")
    if (r := _num(record.get("religion"))) in _RELIGION:
        extras.append(f"you are {_RELIGION[r]}")
    if (m := _num(record.get("married"))) in _MARRIED:
        extras.append(f"you {_MARRIED[m]}")
    if extras:
        s = ", ".join(extras)
        parts.append(s[0].upper() + s[1:] + ".")
    eng = _num(record.get("engnat"))
    if eng == 1:
        parts.append("English is your first language.")
    elif eng == 2:
        parts.append("English is not your first language.")
    return " ".join(parts)


def _respondent_pool(
    demo: pd.DataFrame, prefix: str, n: int | None, rng: np.random.Generator | int | None, rows: np.ndarray | None
) -> tuple[Persona, ...]:
    idx = np.arange(len(demo)) if rows is None else np.asarray(rows)
    if n is not None:
        if n > idx.size:
            raise PoolError(f"requested {n} respondents but only {idx.size} are available")
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        idx = np.sort(gen.choice(idx, size=n, replace=False))
    if idx.size == 0:
        raise PoolError(f"{prefix}: no respondents to build a pool from")
    out = []
    for i in idx:
        rec = {k: (None if pd.isna(v) else v) for k, v in demo.iloc[int(i)].items()}
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()}
        out.append(
            Persona(
                id=f"{prefix}-{int(i):06d}",
                text=respondent_narrative(rec),
                attributes={**attrs, "row": int(i), "pool": prefix},
            )
        )
    return tuple(out)


def big5_respondent_pool(
    source: str | os.PathLike[str] | None = None,
    *,
    n: int | None = None,
    rng: np.random.Generator | int | None = 0,
    rows: np.ndarray | None = None,
) -> tuple[Persona, ...]:
    """Personas from ``big5_osp`` respondents' demographics (age, gender, country, native English).

    Args:
        source: data source (see :mod:`scenarios.sources`).
        n: draw this many respondents uniformly without replacement (all when ``None``).
        rng: generator or seed of that draw.
        rows: restrict to these respondent rows (e.g. a training split), shape ``(r,)``.
    """
    from scenarios.big5 import load_big5

    data = load_big5(source)
    cols = [c for c in ("age", "gender", "country", "engnat") if c in data.demographics.columns]
    return _respondent_pool(data.demographics[cols], "big5", n, rng, rows)


def grit_respondent_pool(
    source: str | os.PathLike[str] | None = None,
    *,
    n: int | None = None,
    rng: np.random.Generator | int | None = 0,
    rows: np.ndarray | None = None,
) -> tuple[Persona, ...]:
    """Personas from ``osp_grit`` respondents' demographics.

    Fields: age, gender, country, education, urban, religion, marital status, native English; arguments as in
    :func:`big5_respondent_pool`.
    """
    from scenarios.osp import load_grit

    data = load_grit(source)
    cols = [
        c
        for c in ("age", "gender", "country", "education", "urban", "religion", "married", "engnat")
        if c in data.demographics.columns
    ]
    return _respondent_pool(data.demographics[cols], "grit", n, rng, rows)


_GSS_FIELDS = (
    "age",
    "sex",
    "race",
    "city",
    "state",
    "marital_status",
    "highest_degree_received",
    "work_status",
    "religion",
    "political_views",
)


def gss_narrative(record: Mapping[str, Any]) -> str:
    """A short narrative from one GenAgents GSS record (its structured fields; name omitted).

    Examples:
        >>> gss_narrative({"age": 25, "sex": "Male", "city": "Little Rock", "state": "AR",
        ...                "highest_degree_received": "High school", "political_views": "Slightly liberal"})
        'You are a 25-year-old man from Little Rock, AR. Your highest degree: high school. Politically you are slightly liberal.'
    """
    sex = str(record.get("sex") or "").lower()
    who = {"male": "man", "female": "woman"}.get(sex, "person")
    age = _num(record.get("age"))
    s = f"You are {_a(age)} {age}-year-old {who}" if age else f"You are a {who}"
    place = ", ".join(str(record[k]) for k in ("city", "state") if record.get(k))
    parts = [s + (f" from {place}." if place else ".")]
    for key, label in (
        ("race", "Race"),
        ("marital_status", "Marital status"),
        ("highest_degree_received", "Your highest degree"),
        ("work_status", "Work"),
        ("religion", "Religion"),
    ):
        if record.get(key):
            val = str(record[key])
            parts.append(f"{label}: {val[0].lower() + val[1:] if key != 'race' else val}.")
    if record.get("political_views"):
        parts.append(f"Politically you are {str(record['political_views']).lower()}.")
    text = " ".join(parts)
    return text if len(parts) > 1 else text


def gss_narrative_pool(
    pool: str | os.PathLike[str] = "genagents_gss",
    *,
    limit: int | None = None,
    fields: Sequence[str] = ("age", "sex", "city", "state", "highest_degree_received", "political_views"),
) -> tuple[Persona, ...]:
    """The GSS persona bank with each ``"Label: value"`` profile re-rendered as a short narrative.

    Args:
        pool: the GenAgents GSS pool (name or path).
        limit: first ``limit`` records.
        fields: which structured fields enter the narrative (fewer = shorter prompts).

    Raises:
        PoolError: the pool lacks the structured fields.
    """
    out = []
    for p in load_pool(pool, limit=limit):
        if "age" not in p.attributes and "sex" not in p.attributes:
            raise PoolError(f"{pool}: persona {p.id!r} has no structured 'age'/'sex' fields to render")
        rec = {k: p.attributes.get(k) for k in fields}
        out.append(Persona(id=p.id, text=gss_narrative(rec), attributes={**p.attributes, "pool": "gss_narrative"}))
    return tuple(out)


def parse_pool_spec(spec: str) -> tuple[str, int | None]:
    """``"personahub:700"`` → ``("personahub", 700)``; ``"personahub"`` → ``("personahub", None)``.

    Raises:
        PoolError: a non-integer or non-positive count.
    """
    name, _, count = spec.partition(":")
    if not count:
        return name, None
    try:
        n = int(count)
    except ValueError as exc:
        raise PoolError(f"pool spec {spec!r}: count {count!r} is not an integer (use NAME:COUNT)") from exc
    if n < 1:
        raise PoolError(f"pool spec {spec!r}: count must be >= 1")
    return name, n


def load_pool_spec(spec: str, *, source: str | os.PathLike[str] | None = None) -> tuple[Persona, ...]:
    """One pool from a spec.

    A shared pool name/path, or ``gss_narrative`` / ``big5_respondents`` / ``grit_respondents`` (built here),
    each with an optional ``:COUNT`` (first COUNT, or a seeded draw of COUNT respondents).
    """
    name, n = parse_pool_spec(spec)
    if name == "gss_narrative":
        return gss_narrative_pool(limit=n)
    if name == "big5_respondents":
        return big5_respondent_pool(source, n=n)
    if name == "grit_respondents":
        return grit_respondent_pool(source, n=n)
    return load_pool(name, limit=n)


def shuffled(personas: Sequence[Persona], seed: int | np.random.SeedSequence) -> tuple[Persona, ...]:
    """The pool in a seeded random order (so any prefix of it is a uniform mixture of its sources)."""
    order = np.random.default_rng(seed).permutation(len(personas))
    return tuple(personas[i] for i in order)
