"""A survey what-if's intervention: a message added to the question or to the persona's system prompt."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from scenarios.question import Question

__all__ = ["Treatment"]


@dataclass(frozen=True, kw_only=True)
class Treatment:
    r"""An intervention message shown to every agent of the treated condition.

    Attributes:
        text: the message (e.g. a framing, a piece of information); must not be blank.
        where: ``"question"`` puts it before each question's text (the same user message);
            ``"system"`` appends it to the persona's system prompt.

    >>> Treatment(text="Most people in your town recycle.").question_text("Do you recycle?")
    'Most people in your town recycle.\n\nDo you recycle?'
    """

    text: str
    where: Literal["question", "system"] = "question"

    def __post_init__(self) -> None:
        from simulator.errors import SimulationError

        if not isinstance(self.text, str) or not self.text.strip():
            raise SimulationError('the treatment text is empty; give the message to add, e.g. --treatment "..."')
        if self.where not in ("question", "system"):
            raise ValueError(f"treatment where={self.where!r} is not 'question' or 'system'")
        object.__setattr__(self, "text", self.text.strip())

    def question_text(self, prompt: str) -> str:
        """The question's user message with the treatment before it (``where="question"``)."""
        return f"{self.text}\n\n{prompt}" if self.where == "question" else prompt

    def system_prompt(self, persona_text: str) -> str:
        """The persona's system prompt with the treatment after it (``where="system"``)."""
        if self.where != "system":
            return persona_text
        return f"{persona_text}\n\n{self.text}" if persona_text else self.text

    def apply(self, question: Question) -> Question:
        """The question as the treated condition asks it."""
        if self.where != "question":
            return question
        return replace(question, prompt=self.question_text(question.prompt))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"text": self.text, "where": self.where}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Treatment:
        """Inverse of :meth:`to_dict`."""
        return cls(text=d["text"], where=d.get("where", "question"))
