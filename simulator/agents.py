"""An LLM-backed Mesa agent: a persona (system prompt) plus a short memory of its own past rounds."""

from __future__ import annotations

from collections import deque

import mesa

from simulator.errors import SimulationError

__all__ = ["LLMAgent"]


class LLMAgent(mesa.Agent):
    """An agent that answers as one persona of a population.

    The agent does not call the language model itself: in :meth:`step` it submits the questions its model
    assigns it (``model.tasks_for(agent)``) to the model's decision batch, which the model resolves in one
    go so that agents sharing a prompt and a question share one answer distribution.

    Args:
        model: the Mesa model (a :class:`simulator.base.SimulationModel`).
        index: position of the agent in the model's arrays (and its graph node), ``0..n-1``.
        persona_index: index of its persona in the population.
        persona_id: the persona's id.
        system_prompt: the persona's text, used as the system prompt.
        history_rounds: how many of its own past rounds the agent remembers (the bound on prompt variety).

    Attributes:
        history: one line per remembered round, oldest first (at most ``history_rounds``).
        payoff: the agent's payoff in the last round (NaN before any round).
    """

    def __init__(
        self,
        model: mesa.Model,
        *,
        index: int,
        persona_index: int,
        persona_id: str,
        system_prompt: str,
        history_rounds: int = 2,
    ) -> None:
        super().__init__(model)
        if history_rounds < 0:
            raise SimulationError(f"history_rounds must be >= 0, got {history_rounds}")
        self.index = index
        self.persona_index = persona_index
        self.persona_id = persona_id
        self.system_prompt = system_prompt
        self.history: deque[str] | tuple[()] = deque(maxlen=history_rounds) if history_rounds else ()
        self.payoff = float("nan")

    def remember(self, line: str) -> None:
        """Add one round's summary to the bounded history (the oldest line drops out)."""
        if self.history != ():
            self.history.append(line)

    def history_text(self) -> str:
        """The remembered rounds as prompt text ("" when nothing is remembered)."""
        if not self.history:
            return ""
        lines = "\n".join(f"- {line}" for line in self.history)
        return f"Your most recent rounds, oldest first:\n{lines}"

    def step(self) -> None:
        """Submit this step's decisions to the model's batch."""
        for question, tag in self.model.tasks_for(self):
            self.model.batch.submit(self, self.system_prompt, question, tag)
