"""Request and response types shared by every language-model backend.

All specs are frozen, keyword-only dataclasses that validate themselves and round-trip through
``to_dict``/``from_dict`` (plain JSON types), so they can be hashed into cache keys and stored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True, kw_only=True)
class Message:
    """One chat message.

    Attributes:
        role: ``"system"``, ``"user"`` or ``"assistant"``.
        content: the message text.
    """

    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise ValueError(f"Message.role must be one of {_ROLES}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise TypeError(f"Message.content must be str, got {type(self.content).__name__}")


def messages_from_dicts(items: list[dict[str, str]] | tuple[Message, ...]) -> tuple[Message, ...]:
    """Turn ``[{"role":..., "content":...}, ...]`` (or Messages) into a tuple of :class:`Message`."""
    return tuple(m if isinstance(m, Message) else Message(role=m["role"], content=m["content"]) for m in items)


@dataclass(frozen=True, kw_only=True)
class IntegerAnswers:
    """A finite answer set: the integers ``low..high`` written in decimal.

    A Likert item is ``IntegerAnswers(low=1, high=5)``; a dictator-game gift is ``IntegerAnswers(low=0, high=100)``.
    """

    low: int
    high: int

    def __post_init__(self) -> None:
        if not (isinstance(self.low, int) and isinstance(self.high, int)):
            raise TypeError("IntegerAnswers bounds must be integers")
        if self.low < 0 or self.high < self.low:
            raise ValueError(f"IntegerAnswers needs 0 <= low <= high, got low={self.low}, high={self.high}")

    @property
    def size(self) -> int:
        """Number of valid answers."""
        return self.high - self.low + 1

    @property
    def values(self) -> tuple[int, ...]:
        """The valid answers in increasing order, shape ``(size,)``."""
        return tuple(range(self.low, self.high + 1))

    @property
    def single_digit(self) -> bool:
        """True when every answer is one decimal digit (one forward pass suffices)."""
        return self.high <= 9

    @classmethod
    def parse(cls, text: str) -> IntegerAnswers:
        """Parse a scale name: ``likert5`` → 1..5, ``likertK`` → 1..K, ``int:0-100`` → 0..100.

        Raises:
            ValueError: naming the accepted forms.
        """
        t = text.strip().lower()
        if t.startswith("likert") and t[6:].isdigit() and int(t[6:]) >= 2:
            return cls(low=1, high=int(t[6:]))
        if t.startswith("int:") and "-" in t[4:]:
            lo, hi = t[4:].split("-", 1)
            if lo.isdigit() and hi.isdigit():
                return cls(low=int(lo), high=int(hi))
        raise ValueError(f"unknown scale {text!r}: use likertK (e.g. likert5) or int:LOW-HIGH (e.g. int:0-100)")


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    """A request for free text.

    Attributes:
        messages: the chat, oldest first.
        temperature: sampling temperature (0 = greedy).
        max_tokens: completion length limit.
        seed: backend sampling seed (derived from stable keys by the caller).
        stop: stop strings.
        sample_index: which of several repeated samples this is; part of the cache key so repeated samples
            with the same seed never collapse into one cached answer.
    """

    messages: tuple[Message, ...]
    temperature: float = 0.0
    max_tokens: int = 256
    seed: int = 0
    stop: tuple[str, ...] = ()
    sample_index: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", messages_from_dicts(self.messages))
        object.__setattr__(self, "stop", tuple(self.stop))
        if not self.messages:
            raise ValueError("GenerationRequest.messages is empty")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (also the canonical form hashed into cache keys)."""
        d = asdict(self)
        d["messages"] = [asdict(m) for m in self.messages]
        d["stop"] = list(self.stop)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GenerationRequest:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "messages": messages_from_dicts(d["messages"]), "stop": tuple(d.get("stop", ()))})


@dataclass(frozen=True, kw_only=True)
class DistributionRequest:
    """A request for the probability of every answer in a finite answer set.

    The chat is rendered with the generation prompt, then ``answer_prefix`` (e.g. ``"I give $"``) is prefilled
    as the start of the assistant's reply, and the backend reads the probability of each valid answer written
    next as a decimal integer.

    Attributes:
        messages: the chat, oldest first (last message usually from the user).
        answers: the valid answers.
        answer_prefix: text prefilled before the number in the assistant turn.
        seed: used only by sampling fallbacks.
        n_samples: number of samples for backends that must sample (no log-probabilities).
        temperature: temperature of the distribution (1.0 = the model's own distribution).
    """

    messages: tuple[Message, ...]
    answers: IntegerAnswers
    answer_prefix: str = ""
    seed: int = 0
    n_samples: int = 20
    temperature: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", messages_from_dicts(self.messages))
        if not self.messages:
            raise ValueError("DistributionRequest.messages is empty")
        if self.n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {self.n_samples}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 for a distribution, got {self.temperature}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (also the canonical form hashed into cache keys)."""
        d = asdict(self)
        d["messages"] = [asdict(m) for m in self.messages]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DistributionRequest:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "messages": messages_from_dicts(d["messages"]), "answers": IntegerAnswers(**d["answers"])})


@dataclass(frozen=True, kw_only=True)
class Usage:
    """Token accounting of one backend call (zeros for cache hits)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    backend_calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            backend_calls=self.backend_calls + other.backend_calls,
        )


@dataclass(frozen=True, kw_only=True)
class Generation:
    """A free-text reply."""

    text: str
    usage: Usage = field(default_factory=Usage)
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"text": self.text, "usage": asdict(self.usage)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, cached: bool = False) -> Generation:
        """Inverse of :meth:`to_dict`."""
        return cls(text=d["text"], usage=Usage(**d["usage"]), cached=cached)


@dataclass(frozen=True, kw_only=True)
class AnswerDistribution:
    """Probabilities of the valid answers, renormalised, plus the mass that fell on them.

    Attributes:
        values: the answers, shape ``(S,)`` (``IntegerAnswers.values``).
        probs: probability of each answer given that the answer is valid, shape ``(S,)``, sums to 1.
        valid_mass: probability mass the model put on valid answers before renormalising (in [0, 1]).
        method: ``"exact"`` (from log-probabilities) or ``"sampled"`` (from ``n_samples`` replies).
        n_samples: number of samples behind a sampled distribution (0 for exact).
        n_unparsed: sampled replies that held no valid answer (they count against ``valid_mass``).
        missing_mass_bound: for an exact distribution read from top-k log-probabilities, an upper bound on the
            probability of valid answers that were not among the k alternatives (each such answer is below the
            k-th probability); those answers get probability 0, so ``valid_mass`` is a lower bound and the true
            valid mass lies in ``[valid_mass, valid_mass + missing_mass_bound]``. 0 when nothing was missed.
        degraded: why a distribution that could have been read exactly was obtained in a lesser mode (e.g.
            ``"no_logprobs"``: the server's replies lacked the log-probabilities asked for, so it was sampled); None
            for a normal answer. A response cache stores a degraded answer under a key that says so, so a rerun on a
            healthy server asks again (:class:`populace_lm.cache.CachedModel`).
    """

    values: tuple[int, ...]
    probs: tuple[float, ...]
    valid_mass: float
    method: Literal["exact", "sampled"] = "exact"
    n_samples: int = 0
    n_unparsed: int = 0
    missing_mass_bound: float = 0.0
    usage: Usage = field(default_factory=Usage)
    cached: bool = False
    degraded: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(int(v) for v in self.values))
        if not 0.0 <= self.missing_mass_bound <= 1.0:
            raise ValueError(f"missing_mass_bound must be in [0, 1], got {self.missing_mass_bound}")
        object.__setattr__(self, "probs", tuple(float(p) for p in self.probs))
        if len(self.values) != len(self.probs):
            raise ValueError(f"values ({len(self.values)}) and probs ({len(self.probs)}) differ in length")
        if not -1e-9 <= self.valid_mass <= 1 + 1e-9:
            raise ValueError(f"valid_mass must be in [0, 1], got {self.valid_mass}")
        total = sum(self.probs)
        if self.valid_mass > 0 and abs(total - 1.0) > 1e-6:
            raise ValueError(f"probs must sum to 1, got {total}")

    @property
    def mean(self) -> float:
        """Expected answer."""
        return sum(v * p for v, p in zip(self.values, self.probs, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        d = asdict(self)
        d.pop("cached")
        if d["degraded"] is None:  # a normal answer's form is as it always was
            d.pop("degraded")
        d["values"] = list(self.values)
        d["probs"] = list(self.probs)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, cached: bool = False) -> AnswerDistribution:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "usage": Usage(**d["usage"]), "cached": cached})


def sampling_request(
    request: DistributionRequest,
    index: int,
    *,
    messages: tuple[Message, ...] | None = None,
    max_tokens: int = 16,
) -> GenerationRequest:
    """The ``index``-th sampled reply of a distribution request, as a generation request of its own.

    Its seed is ``stable_seed(request.seed, index)`` and its ``sample_index`` is ``index``, so each sample has its
    own cache key: a retry or a rerun asks only for the samples that are missing.

    Args:
        request: the distribution request being sampled.
        index: which sample, ``0 <= index < request.n_samples`` (or a backend's own sample count).
        messages: the chat as sent (with the answer stem placed as the backend needs); default: the request's
            messages plus the stem as a final assistant message when there is one.
        max_tokens: completion limit of the reply.
    """
    if messages is None:
        messages = request.messages
        if request.answer_prefix:
            messages = (*messages, Message(role="assistant", content=request.answer_prefix))
    return GenerationRequest(
        messages=messages,
        temperature=request.temperature,
        max_tokens=max_tokens,
        seed=stable_seed(request.seed, index),
        sample_index=index,
    )


def stable_seed(*keys: object) -> int:
    """A 31-bit seed derived with sha256 from stable keys (replicate, persona id, item id, sample index).

    Unlike ``hash()``, the value is the same in every process, so results do not depend on thread order.

    >>> stable_seed("persona-1", "E1", 0) == stable_seed("persona-1", "E1", 0)
    True
    """
    blob = json.dumps([str(k) for k in keys]).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF
