"""The language-model protocol: two methods with keyword-only knobs carried by request specs.

Modelled on Concordia's two-method ``LanguageModel`` interface: backends implement it, and wrappers
(:mod:`populace_lm.cache`, :mod:`populace_lm.budget`) compose around any backend because they implement it too.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from populace_lm.types import AnswerDistribution, DistributionRequest, Generation, GenerationRequest


@runtime_checkable
class LanguageModel(Protocol):
    """What every backend and wrapper provides.

    Attributes:
        model_id: a stable identity of the model behind the calls (file digest or endpoint + model name);
            part of every cache key.
    """

    model_id: str

    def generate(self, request: GenerationRequest) -> Generation:
        """Return a free-text reply to ``request.messages``."""
        ...

    def answer_distribution(self, request: DistributionRequest) -> AnswerDistribution:
        """Return the probability of each answer in ``request.answers`` (exact where the backend can)."""
        ...
