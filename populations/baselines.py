"""Baseline population constructions (scikit-learn estimator contract through :class:`~populations.base.BaseBuilder`).

Each ``fit`` returns self and sets ``population_``; ``sample``, ``to_population``, ``to_dict`` and
``get_params``/``set_params`` come from the base.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from populations.base import BaseBuilder
from populations.persona import Persona, Population

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "DemographicPersonaBuilder",
    "FixedPromptBuilder",
    "RandomPersonaBuilder",
    "demographic_persona_text",
]

DEFAULT_SYSTEM_PROMPT = "You are a person taking part in a research study. Answer honestly as yourself."


class FixedPromptBuilder(BaseBuilder):
    """Every agent answers with the same system prompt: the "average person" baseline.

    Args:
        system_prompt: the one system prompt.

    Attributes:
        population_: the fitted one-component :class:`Population` (after :meth:`fit`).
    """

    kind: ClassVar[str] = "populace.fixed_prompt"

    def __init__(self, system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> None:
        self.system_prompt = system_prompt

    def fit(self, *_args: object, **_kwargs: object) -> FixedPromptBuilder:
        """Build the population (data arguments are accepted for a uniform builder API and ignored)."""
        self.population_ = Population(
            personas=(Persona(id="fixed", text=self.system_prompt),),
            weights=np.ones(1),
            construction="fixed_prompt",
            metadata={"system_prompt": self.system_prompt},
        )
        return self


class RandomPersonaBuilder(BaseBuilder):
    """Personas drawn uniformly at random from a public pool (``personahub``, ``personachat``, …), equal weights.

    Args:
        pool: pool name (folder in ``../shared/personas``) or path to a JSONL pool.
        n_personas: how many personas to draw (without replacement).
        prefix: text put before the pool's description to make it a system prompt.
        random_state: seed of the draw.

    Attributes:
        population_: the :class:`Population` (construction ``"random_persona"``).
    """

    kind: ClassVar[str] = "populace.random_persona"

    def __init__(
        self,
        pool: str = "personahub",
        n_personas: int = 50,
        *,
        prefix: str = "You are the following person. ",
        random_state: int = 0,
    ) -> None:
        self.pool = pool
        self.n_personas = n_personas
        self.prefix = prefix
        self.random_state = random_state

    def fit(self, *_args: object, **_kwargs: object) -> RandomPersonaBuilder:
        """Draw the personas (data arguments are accepted for a uniform builder API and ignored).

        Raises:
            ValueError: ``n_personas`` < 1 or larger than the pool.
            PoolError: the pool is missing or malformed.
        """
        from populations.pools import load_pool

        personas = load_pool(self.pool)
        if not 1 <= self.n_personas <= len(personas):
            raise ValueError(
                f"n_personas={self.n_personas} must be between 1 and the pool size {len(personas)} ({self.pool!r})"
            )
        rng = np.random.default_rng(self.random_state)
        idx = np.sort(rng.choice(len(personas), size=self.n_personas, replace=False))
        chosen = tuple(
            Persona(id=personas[i].id, text=self.prefix + personas[i].text, attributes=personas[i].attributes)
            for i in idx
        )
        self.population_ = Population(
            personas=chosen,
            weights=np.full(len(chosen), 1.0 / len(chosen)),
            construction="random_persona",
            metadata={"pool": str(self.pool), "n_personas": self.n_personas, "random_state": self.random_state},
        )
        return self


# BIG5 codebook (big5_osp/codebook.txt): gender 1=Male, 2=Female, 3=Other; engnat 1=yes, 2=no.
_GENDER_WORDS = {1: "man", 2: "woman", 3: "person"}
_COUNTRY_NAMES = {
    "US": "the United States",
    "GB": "the United Kingdom",
    "IN": "India",
    "AU": "Australia",
    "CA": "Canada",
    "PH": "the Philippines",
    "DE": "Germany",
    "NZ": "New Zealand",
    "MY": "Malaysia",
    "SE": "Sweden",
    "NL": "the Netherlands",
    "SG": "Singapore",
    "ZA": "South Africa",
    "IE": "Ireland",
    "PK": "Pakistan",
    "BR": "Brazil",
    "FR": "France",
    "NO": "Norway",
    "ID": "Indonesia",
    "MX": "Mexico",
    "IT": "Italy",
    "RO": "Romania",
    "FI": "Finland",
    "DK": "Denmark",
    "BE": "Belgium",
    "ES": "Spain",
    "PL": "Poland",
    "CN": "China",
    "JP": "Japan",
    "HK": "Hong Kong",
    "AE": "the United Arab Emirates",
    "NG": "Nigeria",
    "EG": "Egypt",
    "TR": "Turkey",
    "GR": "Greece",
    "PT": "Portugal",
    "CH": "Switzerland",
    "AT": "Austria",
}


def demographic_persona_text(
    age: float | None, gender: float | None, country: str | None, engnat: float | None = None
) -> str:
    """A template persona from one respondent's demographics (OASIS-style, our own wording).

    Missing fields are left out, never invented.
    """
    who = _GENDER_WORDS.get(int(gender), "person") if gender is not None and np.isfinite(gender) else "person"
    words = [f"{int(age)}-year-old"] if age is not None and np.isfinite(age) else []
    words.append(who)
    article = "an" if words[0][0] in "aeiou8" or words[0][:2] in ("11", "18") else "a"
    text = f"You are {article} " + " ".join(words)
    if country:
        text += f" from {_COUNTRY_NAMES.get(country, f'the country with code {country}')}"
    text += "."
    if engnat is not None and np.isfinite(engnat):
        text += " English is your native language." if int(engnat) == 1 else " English is not your native language."
    return text + " Answer every question as yourself."


class DemographicPersonaBuilder(BaseBuilder):
    """Personas written from BIG5 respondents' demographics (age, gender, country, native language) by template.

    The OASIS-style baseline: agents carry real respondents' demographic profiles, nothing else.

    Args:
        n_personas: respondents to draw (those with age, gender and country all present).
        source: human data directory or URL (None = default).
        random_state: seed of the draw.

    Attributes:
        population_: the :class:`Population` (construction ``"demographic_persona"``); each persona's attributes
            hold the respondent's row and demographics.
    """

    kind: ClassVar[str] = "populace.demographic_persona"

    def __init__(self, n_personas: int = 50, *, source: str | None = None, random_state: int = 0) -> None:
        self.n_personas = n_personas
        self.source = source
        self.random_state = random_state

    def fit(self, *_args: object, **_kwargs: object) -> DemographicPersonaBuilder:
        """Draw respondents and write their personas.

        Raises:
            ValueError: ``n_personas`` < 1 or more than the respondents with complete demographics.
            DataError: the BIG5 data cannot be read.
        """
        from scenarios.big5 import load_big5

        demo = load_big5(self.source).demographics
        complete = demo.dropna(subset=["age", "gender", "country"])
        if not 1 <= self.n_personas <= len(complete):
            raise ValueError(
                f"n_personas={self.n_personas} must be between 1 and the {len(complete)} BIG5 respondents with "
                "complete demographics"
            )
        rng = np.random.default_rng(self.random_state)
        rows = np.sort(rng.choice(complete.index.to_numpy(), size=self.n_personas, replace=False))
        personas = []
        for r in rows:
            row = complete.loc[r]
            engnat = row.get("engnat")
            attrs = {
                "row": int(r),
                "age": float(row["age"]),
                "gender": float(row["gender"]),
                "country": str(row["country"]),
            }
            if engnat is not None and np.isfinite(engnat):
                attrs["engnat"] = float(engnat)
            personas.append(
                Persona(
                    id=f"big5-{int(r)}",
                    text=demographic_persona_text(row["age"], row["gender"], row["country"], engnat),
                    attributes=attrs,
                )
            )
        self.population_ = Population(
            personas=tuple(personas),
            weights=np.full(len(personas), 1.0 / len(personas)),
            construction="demographic_persona",
            metadata={"n_personas": self.n_personas, "random_state": self.random_state, "source": "big5_osp"},
        )
        return self
