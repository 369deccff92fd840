"""Shared test doubles for the builder tests: a fake scenario of the Scenario protocol, a crafter that writes its
target into the prompt, a respondent peaked there, and a noisy crafter with realistic failures."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from populace_lm.fakes import KnownDistributionModel, ScriptedModel
from populace_lm.types import GenerationRequest, IntegerAnswers, stable_seed
from scenarios.question import Question

TARGET = re.compile(r"about (\d+(?:\.\d+)?)")
PERSONA = re.compile(r"answer about (\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class FakeScenario:
    """A one-question decision task on the integers ``low..high`` (the Scenario protocol, nothing else)."""

    name: str = "fake_gift"
    low: int = 0
    high: int = 100
    label: str = "amount given"
    ordered: bool = True
    dimensions: tuple[str, ...] = ("gift",)

    @property
    def support(self) -> np.ndarray:
        return np.arange(self.low, self.high + 1, dtype=float)

    def questions(self) -> tuple[Question, ...]:
        return (
            Question(
                id="gift",
                prompt=f"How much do you give, from {self.low} to {self.high}?",
                answers=IntegerAnswers(low=self.low, high=self.high),
            ),
        )

    def pmfs(self, item_probs) -> np.ndarray:
        return np.asarray(item_probs, dtype=float)[:, 0, :]

    def describe(self) -> str:
        return "The person will decide how much of an endowment to give to a stranger."

    def describe_target(self, value: float) -> str:
        return f"they give about {value:g}"


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


def noisy_crafter(*, noise: float = 4.0, p_fail: float = 0.15, p_wild: float = 0.1, low: int = 0, high: int = 100):
    """A seeded crafter that aims at the asked target with Gaussian noise, sometimes far off, sometimes unusable.

    Per request (seeded by the request seed, so reruns repeat): with probability ``p_fail`` an unusable reply (a
    refusal, no prompt, or a prompt naming its number), with ``p_wild`` a prompt for a uniformly random value, else a
    prompt for ``target + N(0, noise)`` rounded and clipped to ``low..high``.
    """

    def reply(request: GenerationRequest) -> str:
        x = float(TARGET.findall(request.messages[-1].content)[-1])
        rng = np.random.default_rng(stable_seed("noisy-crafter", request.seed, request.sample_index))
        u = rng.random()
        if u < p_fail:
            return (
                "You are asking for something I can't write.",
                "This person is generous.",
                f"You are {x:g} years old.",
            )[int(rng.integers(3))]
        if u < p_fail + p_wild:
            aim = float(rng.integers(low, high + 1))
        else:
            aim = float(np.clip(np.rint(x + rng.normal(0.0, noise)), low, high))
        return f"You are a person who would answer about {aim:g}."

    return ScriptedModel(reply, model_id="noisy-crafter")


def bimodal(n: int, seed: int = 1) -> np.ndarray:
    """Integer answers 0..100 from a 60/40 mixture of N(25, 6) and N(75, 8)."""
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(n) < 0.6, rng.normal(25, 6, n), rng.normal(75, 8, n))
    return np.clip(np.rint(x), 0, 100)
