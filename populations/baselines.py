"""Baseline population constructions (scikit-learn estimator contract through :class:`~populations.base.BaseBuilder`).

Each ``fit`` returns self and sets ``population_``; ``sample``, ``to_population``, ``to_dict`` and
``get_params``/``set_params`` come from the base.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from populations.base import BaseBuilder
from populations.persona import Persona, Population

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "DemographicPersonaBuilder",
    "FixedPromptBuilder",
    "RandomPersonaBuilder",
]

DEFAULT_SYSTEM_PROMPT = "You are a person taking part in a research study. Answer honestly as yourself."


class FixedPromptBuilder(BaseBuilder):
    """Every agent answers with the same system prompt: the "average person" baseline.

    Args:
        system_prompt: the one system prompt.

    Attributes:
        population_: the fitted one-component :class:`Population` (after :meth:`fit`).
    """

    kind: ClassVar[str] = "populace.fixed"

    def __init__(self, system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> None:
        self.system_prompt = system_prompt

    def fit(self, scenario: Any = None, values: Any = None, *, sample_weight: Any = None) -> FixedPromptBuilder:
        """Build the population (target-free: the one builder signature, with the data arguments ignored)."""
        self.population_ = Population(
            personas=(Persona(id="fixed", text=self.system_prompt),),
            weights=np.ones(1),
            construction="fixed",
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
        population_: the :class:`Population` (construction ``"pool"``).
    """

    kind: ClassVar[str] = "populace.pool"

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

    def fit(self, scenario: Any = None, values: Any = None, *, sample_weight: Any = None) -> RandomPersonaBuilder:
        """Draw the personas (target-free: the one builder signature, with the data arguments ignored).

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
            construction="pool",
            metadata={"pool": str(self.pool), "n_personas": self.n_personas, "random_state": self.random_state},
        )
        return self


class DemographicPersonaBuilder(BaseBuilder):
    """Personas written from BIG5 respondents' demographics (age, gender, country, native language) by template.

    The OASIS-style baseline: agents carry real respondents' demographic profiles, nothing else. The text is
    :func:`populations.pool_builders.respondent_narrative` (one template and one country table for every
    command).

    Args:
        n_personas: respondents to draw, uniformly without replacement.
        source: human data directory or URL (None = default).
        rows: restrict the draw to these BIG5 rows, shape ``(r,)`` (the fit half's respondents on a Big Five
            scenario: :func:`populations.constructions.baselines.big5_fit_rows`); None = every row.
        random_state: seed of the draw.

    Attributes:
        population_: the :class:`Population` (construction ``"demographic"``); each persona's attributes hold the
            respondent's row and demographics.
    """

    kind: ClassVar[str] = "populace.demographic"

    def __init__(
        self, n_personas: int = 50, *, source: str | None = None, rows: Any = None, random_state: int = 0
    ) -> None:
        self.n_personas = n_personas
        self.source = source
        self.rows = rows
        self.random_state = random_state

    def fit(self, scenario: Any = None, values: Any = None, *, sample_weight: Any = None) -> DemographicPersonaBuilder:
        """Draw respondents and write their personas (target-free: the data arguments are ignored).

        Raises:
            PoolError: ``n_personas`` < 1 or more than the respondents available.
            DataError: the BIG5 data cannot be read.
        """
        from populations.pool_builders import PoolError, big5_respondent_pool

        if self.n_personas < 1:
            raise PoolError(f"n_personas={self.n_personas} must be >= 1")
        rows = None if self.rows is None else np.asarray(self.rows)
        personas = big5_respondent_pool(self.source, n=self.n_personas, rng=self.random_state, rows=rows)
        self.population_ = Population(
            personas=personas,
            weights=np.full(len(personas), 1.0 / len(personas)),
            construction="demographic",
            metadata={
                "n_personas": self.n_personas,
                "random_state": self.random_state,
                "fit_half_only": rows is not None,
                "source": "big5_osp",
            },
        )
        return self
