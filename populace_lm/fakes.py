"""Fake language models for unit tests only (never for results).

* :class:`ScriptedModel` replies with scripted text; its answer distributions are *sampled* from those
  replies and parsed like the sampling fallback of a remote backend.
* :class:`KnownDistributionModel` has an *exact* answer distribution that is a function you choose of the
  messages (for example of the system prompt), so algorithms can be checked against a known truth
  independently of any real model's quality.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from populace_lm.parsing import distribution_from_replies
from populace_lm.types import (
    AnswerDistribution,
    DistributionRequest,
    Generation,
    GenerationRequest,
    IntegerAnswers,
    Message,
    Usage,
    sampling_request,
)

__all__ = ["KnownDistributionModel", "ScriptedModel"]


def _words(messages: Sequence[Message]) -> int:
    return sum(len(m.content.split()) for m in messages)


def _sample_requests(request: DistributionRequest, max_tokens: int = 16) -> list[GenerationRequest]:
    """List the generation requests a sampling backend sends for ``request`` (derived seeds, prefill)."""
    return [sampling_request(request, i, max_tokens=max_tokens) for i in range(request.n_samples)]


class ScriptedModel:
    """A model that replies with scripted text.

    Args:
        replies: a list used in order and cycled (reply ``i`` is ``replies[i % len(replies)]``), or a function
            of the :class:`~populace_lm.types.GenerationRequest`.
        model_id: its identity (part of cache keys).

    Attributes:
        calls: number of :meth:`generate` and :meth:`answer_distribution` calls.
        requests: every generation request seen, including those made by :meth:`answer_distribution`.

    Usage counts one backend call per reply and whitespace-separated words as tokens.

    """

    def __init__(self, replies: list[str] | Callable[[GenerationRequest], str], *, model_id: str = "scripted"):
        if not callable(replies) and not replies:
            raise ValueError("ScriptedModel needs at least one reply")
        self.replies = replies
        self.model_id = model_id
        self.calls = 0
        self.requests: list[GenerationRequest] = []
        self._lock = threading.Lock()

    def _reply(self, request: GenerationRequest) -> str:
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
        if callable(self.replies):
            return self.replies(request)
        return self.replies[index % len(self.replies)]

    def generate(self, request: GenerationRequest) -> Generation:
        """Return the next scripted reply."""
        with self._lock:
            self.calls += 1
        text = self._reply(request)
        usage = Usage(prompt_tokens=_words(request.messages), completion_tokens=len(text.split()), backend_calls=1)
        return Generation(text=text, usage=usage)

    def answer_distribution(self, request: DistributionRequest) -> AnswerDistribution:
        """Sample ``n_samples`` scripted replies and parse them into a ``"sampled"`` distribution.

        A reply counts as its first integer if that is a valid answer, else as unparsed.
        """
        with self._lock:
            self.calls += 1
        subrequests = _sample_requests(request)
        texts = [self._reply(r) for r in subrequests]
        usage = Usage(
            prompt_tokens=sum(_words(r.messages) for r in subrequests),
            completion_tokens=sum(len(t.split()) for t in texts),
            backend_calls=len(texts),
        )
        return distribution_from_replies(texts, request.answers, usage=usage)


class KnownDistributionModel:
    """A model whose exact answer distribution is a function you control.

    Args:
        dist_fn: maps ``(messages, answers)`` to unnormalised weights of ``answers.values``, shape
            ``(answers.size,)``; it is normalised, then reshaped by temperature ``T`` as ``p_i^(1/T)``.
        model_id: its identity (part of cache keys).
        valid_mass: the probability mass reported on valid answers; :meth:`generate` writes an invalid reply
            with probability ``1 - valid_mass``.
        generate_fn: optional replacement for :meth:`generate` (a function of the request).
        answers: the answer set :meth:`generate` samples from (default Likert 1..5).

    Attributes:
        calls: number of :meth:`generate` and :meth:`answer_distribution` calls.

    :meth:`generate` at temperature 0 writes the most likely answer; at temperature > 0 it samples one with a
    generator seeded by ``(request.seed, request.sample_index)``, so results do not depend on call order.

    """

    INVALID_REPLY = "I would rather not say."

    def __init__(
        self,
        dist_fn: Callable[[tuple[Message, ...], IntegerAnswers], Sequence[float]],
        *,
        model_id: str = "known",
        valid_mass: float = 1.0,
        generate_fn: Callable[[GenerationRequest], str] | None = None,
        answers: IntegerAnswers | None = None,
    ) -> None:
        if not 0.0 <= valid_mass <= 1.0:
            raise ValueError(f"valid_mass must be in [0, 1], got {valid_mass}")
        self.dist_fn = dist_fn
        self.model_id = model_id
        self.valid_mass = valid_mass
        self.generate_fn = generate_fn
        self.answers = answers or IntegerAnswers(low=1, high=5)
        self.calls = 0
        self._lock = threading.Lock()

    def probs(self, messages: tuple[Message, ...], answers: IntegerAnswers, temperature: float = 1.0) -> np.ndarray:
        """Return the true answer distribution, shape ``(answers.size,)``, summing to 1.

        Raises:
            ValueError: ``dist_fn`` returned the wrong shape, a negative weight or an all-zero vector.

        """
        weights = np.asarray(self.dist_fn(tuple(messages), answers), dtype=float)
        if weights.shape != (answers.size,):
            raise ValueError(f"dist_fn returned shape {weights.shape}, expected ({answers.size},)")
        if (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("dist_fn must return non-negative weights with a positive sum")
        p = weights / weights.sum()
        if temperature != 1.0:
            p = np.where(p > 0, (p / p.max()) ** (1.0 / temperature), 0.0)
            p = p / p.sum()
        return p

    def answer_distribution(self, request: DistributionRequest) -> AnswerDistribution:
        """Return the exact distribution from ``dist_fn`` (``answer_prefix`` is ignored)."""
        with self._lock:
            self.calls += 1
        p = self.probs(request.messages, request.answers, request.temperature)
        return AnswerDistribution(
            values=request.answers.values,
            probs=tuple(p.tolist()),
            valid_mass=self.valid_mass,
            method="exact",
            usage=Usage(prompt_tokens=_words(request.messages), completion_tokens=1, backend_calls=1),
        )

    def generate(self, request: GenerationRequest) -> Generation:
        """Write one answer drawn from the known distribution (or ``generate_fn``), written as text."""
        with self._lock:
            self.calls += 1
        if self.generate_fn is not None:
            text = self.generate_fn(request)
        elif request.temperature == 0:
            p = self.probs(request.messages, self.answers)
            text = str(self.answers.values[int(np.argmax(p))]) if self.valid_mass >= 0.5 else self.INVALID_REPLY
        else:
            rng = np.random.default_rng([request.seed, request.sample_index])
            p = self.probs(request.messages, self.answers, request.temperature)
            if rng.random() >= self.valid_mass:
                text = self.INVALID_REPLY
            else:
                text = str(self.answers.values[int(rng.choice(self.answers.size, p=p))])
        usage = Usage(prompt_tokens=_words(request.messages), completion_tokens=len(text.split()), backend_calls=1)
        return Generation(text=text, usage=usage)
