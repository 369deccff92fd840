"""Shared test helpers for the simulator tests (fakes only)."""

from __future__ import annotations

import numpy as np

from populace_lm.fakes import KnownDistributionModel
from populations.persona import Persona, Population


def persona_weights(messages, answers):
    """A known distribution depending on the system prompt and on the game text."""
    system = messages[0].content if messages[0].role == "system" else ""
    user = messages[-1].content
    x = np.linspace(0.0, 1.0, answers.size)
    if "generous" in system:
        w = 0.2 + x
    elif "stingy" in system:
        w = 1.2 - x
    else:
        w = np.ones(answers.size)
    if "multiplied by 3" in user or "multiplied by 2.4" in user:
        w = w * (0.5 + x)  # a larger return shifts answers up
    if "Your most recent rounds" in user:
        w = w * (1.0 + 0.5 * x)
    return w


def fake_model():
    return KnownDistributionModel(persona_weights, valid_mass=0.9)


def two_personas() -> Population:
    return Population(
        personas=(Persona(id="gen", text="You are generous."), Persona(id="sting", text="You are stingy.")),
        weights=np.array([0.5, 0.5]),
        construction="test",
    )
