"""A fake language model that revises like DeGroot with a known weight α (test helper, never for results)."""

from __future__ import annotations

import re

import numpy as np

from populace_lm.fakes import KnownDistributionModel
from populations.persona import Persona, Population

_OWN = re.compile(r"Your last estimate was ([\d,\.]+)\.")
_LIST = re.compile(r"estimates of [^:]+ were: ([\d,\. ]+)\.")
_MEAN = re.compile(r"was ([\d,\.]+)\.\s*$", re.MULTILINE)


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _values(prompt: str) -> list[float]:
    m = _LIST.search(prompt)
    if not m:
        return []
    return [_num(v) for v in re.split(r",\s+", m.group(1).strip())]


def degroot_answers(alpha: float, *, first: float = 300.0, spread: float = 0.0):
    """``dist_fn`` of a model that, on the exact integer answers, moves its log estimate by ``α`` towards the
    geometric mean of the listed estimates (rule ``all``/``neighbours`` with ``show = "all"``).

    Round 1: the answer is ``first`` times a persona factor (personas ``"low"``, ``"mid"``, ``"high"``), so groups
    start spread out. The result is a point mass on the nearest valid integer.
    """

    def dist(messages, answers):
        system = messages[0].content if messages[0].role == "system" else ""
        prompt = messages[-1].content
        values = np.asarray(answers.values, dtype=float)
        own = _OWN.search(prompt)
        if own is None:
            factor = {"low": 0.25, "mid": 1.0, "high": 3.0}.get(system.split()[-1].strip("."), 1.0)
            target = first * factor
        else:
            x = _num(own.group(1))
            seen = _values(prompt)
            g = float(np.exp(np.mean(np.log(seen)))) if seen else x
            target = float(np.exp(np.log(x) + alpha * (np.log(g) - np.log(x))))
        w = np.zeros(values.size)
        w[int(np.argmin(np.abs(values - target)))] = 1.0
        return w

    return dist


def fake_degroot_model(alpha: float) -> KnownDistributionModel:
    """The fake model with known revision weight ``alpha``."""
    return KnownDistributionModel(degroot_answers(alpha), valid_mass=0.95)


def three_personas() -> Population:
    """Personas whose first answers differ by a known factor."""
    return Population(
        personas=tuple(Persona(id=k, text=f"You are {k}.") for k in ("low", "mid", "high")),
        weights=np.array([1 / 3, 1 / 3, 1 / 3]),
        construction="test",
    )
