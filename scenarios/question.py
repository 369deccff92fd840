"""A question with a finite integer answer set: the unit every scenario asks an LLM.

Surveys yield one :class:`Question` per item; games yield one per decision (a role's choice). A question turns
into a :class:`~populace_lm.types.DistributionRequest` for a given system prompt (persona), so agents that share a
prompt and a question share one request — and one cached answer distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

from populace_lm.types import DistributionRequest, GenerationRequest, IntegerAnswers, Message


@dataclass(frozen=True, kw_only=True)
class Question:
    """One question.

    Attributes:
        id: stable id within its scenario (e.g. ``"E1"``, ``"dictator"``).
        prompt: the user message text.
        answers: valid integer answers.
        answer_prefix: text prefilled in the assistant turn before the number (e.g. ``"I give $"``).
    """

    id: str
    prompt: str
    answers: IntegerAnswers
    answer_prefix: str = ""

    def __post_init__(self) -> None:
        if not self.id or not self.prompt.strip():
            raise ValueError(f"Question needs an id and a prompt (id={self.id!r})")

    def messages(self, system_prompt: str | None = None) -> tuple[Message, ...]:
        """The chat for a respondent with this system prompt (None/"" = no system message)."""
        head = (Message(role="system", content=system_prompt),) if system_prompt else ()
        return (*head, Message(role="user", content=self.prompt))

    def distribution_request(self, system_prompt: str | None = None, *, seed: int = 0) -> DistributionRequest:
        """The request for this question's answer distribution."""
        return DistributionRequest(
            messages=self.messages(system_prompt), answers=self.answers, answer_prefix=self.answer_prefix, seed=seed
        )

    def generation_request(
        self, system_prompt: str | None = None, *, seed: int = 0, sample_index: int = 0, temperature: float = 1.0
    ) -> GenerationRequest:
        """A free-text request for this question (for backends without log-probabilities)."""
        return GenerationRequest(
            messages=self.messages(system_prompt),
            temperature=temperature,
            max_tokens=48,
            seed=seed,
            sample_index=sample_index,
        )
