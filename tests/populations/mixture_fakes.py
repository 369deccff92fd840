"""Shared test doubles for the prompt-mixture tests: a crafter that names its target, a respondent peaked there."""

from __future__ import annotations

import re

import numpy as np

from populace_lm.fakes import KnownDistributionModel, ScriptedModel
from populace_lm.types import GenerationRequest

TARGET = re.compile(r"about (\d+(?:\.\d+)?)")
PERSONA = re.compile(r"answer about (\d+(?:\.\d+)?)")


def crafter_reply(request: GenerationRequest) -> str:
    """Write "You are a person who would answer about X" for the last target X the crafter was shown."""
    x = float(TARGET.findall(request.messages[-1].content)[-1])
    return f"Sure! Here it is:\n\nYou are a person who would answer about {x:g}."


def peaked(sd: float = 3.0, default: float = 50.0):
    """A dist_fn peaked at the X of "answer about X" in the system prompt (``default`` without one)."""

    def dist(messages, answers):
        system = messages[0].content if messages and messages[0].role == "system" else ""
        m = PERSONA.search(system)
        centre = float(m.group(1)) if m else default
        v = np.asarray(answers.values, dtype=float)
        return np.exp(-0.5 * ((v - centre) / sd) ** 2) + 1e-12

    return dist


def make_models(sd: float = 3.0, default: float = 50.0) -> tuple[ScriptedModel, KnownDistributionModel]:
    """(crafter, respondent) pair whose respondent follows the crafted prompt exactly."""
    return ScriptedModel(crafter_reply), KnownDistributionModel(peaked(sd, default))


def bimodal(n: int, seed: int = 1) -> np.ndarray:
    """Integer answers 0..100 from a 60/40 mixture of N(25, 6) and N(75, 8)."""
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(n) < 0.6, rng.normal(25, 6, n), rng.normal(75, 8, n))
    return np.clip(np.rint(x), 0, 100)
