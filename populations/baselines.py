"""Baseline population constructions (scikit-learn estimator contract: ``fit`` returns self)."""

from __future__ import annotations

import numpy as np

from populations.persona import Persona, Population

DEFAULT_SYSTEM_PROMPT = "You are a person taking part in a research study. Answer honestly as yourself."


class FixedPromptBuilder:
    """Every agent answers with the same system prompt: the "average person" baseline.

    Args:
        system_prompt: the one system prompt.

    Attributes:
        population_: the fitted one-component :class:`Population` (after :meth:`fit`).
    """

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

    def sample(self, n: int, *, rng: np.random.Generator | int | None = None) -> Population:
        """An empirical population of ``n`` draws (here always the one prompt with weight 1)."""
        if not hasattr(self, "population_"):
            raise RuntimeError("FixedPromptBuilder is not fitted: call fit() first")
        return self.population_.resample(n, rng=rng)
