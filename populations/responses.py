"""Answer distributions of personas for questions: the one place populations call the LLM for a scenario.

Work is shared: each distinct (system prompt, question) pair is requested once, however many personas or agents
carry that prompt, and the request goes through whatever cache wraps the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from llm.base import LanguageModel
from llm.types import AnswerDistribution, Usage
from populations.persona import Persona
from scenarios.question import Question


@dataclass(frozen=True, kw_only=True)
class ResponseTensor:
    """Answer distributions of K personas for Q questions sharing one answer support.

    Attributes:
        persona_ids: length K.
        question_ids: length Q.
        support: the answer values, shape ``(S,)``.
        probs: renormalised answer distributions, shape ``(K, Q, S)``.
        valid_mass: probability mass on valid answers before renormalising, shape ``(K, Q)``.
        methods: ``"exact"`` or ``"sampled"`` per distribution, shape ``(K, Q)``.
        usage: backend usage of the calls made (zero for cache hits).
        n_requests: distinct requests made (after sharing).
        n_cached: of those, answered from the cache.
    """

    persona_ids: tuple[str, ...]
    question_ids: tuple[str, ...]
    support: np.ndarray
    probs: np.ndarray
    valid_mass: np.ndarray
    methods: np.ndarray
    usage: Usage
    n_requests: int
    n_cached: int

    def expected(self) -> np.ndarray:
        """Expected answer per persona and question, shape ``(K, Q)``."""
        return self.probs @ self.support

    def question_index(self, question_id: str) -> int:
        """Column of a question id."""
        return self.question_ids.index(question_id)


def answer_distributions(
    model: LanguageModel,
    personas: Sequence[Persona],
    questions: Sequence[Question],
    *,
    progress: bool = False,
    desc: str = "answers",
) -> ResponseTensor:
    """Ask every persona every question, sharing identical (prompt, question) requests.

    Args:
        model: any :class:`~llm.base.LanguageModel` (usually cache-wrapped).
        personas: K personas; ``persona.text`` is the system prompt.
        questions: Q questions with one common answer set.
        progress: show a progress bar.
        desc: progress-bar label.

    Returns:
        A :class:`ResponseTensor` with ``probs`` of shape ``(K, Q, S)``.
    """
    if not personas or not questions:
        raise ValueError(f"need at least one persona and one question, got {len(personas)} and {len(questions)}")
    answers = questions[0].answers
    if any(q.answers != answers for q in questions):
        raise ValueError("all questions must share one answer set")
    support = np.asarray(answers.values, dtype=float)
    K, Q, S = len(personas), len(questions), answers.size
    probs = np.zeros((K, Q, S))
    valid = np.zeros((K, Q))
    methods = np.empty((K, Q), dtype=object)
    done: dict[tuple[str, str], AnswerDistribution] = {}
    usage = Usage()
    n_cached = 0
    pairs = [(k, q) for k in range(K) for q in range(Q)]
    for k, q in tqdm(pairs, desc=desc, disable=not progress, mininterval=1.0):
        key = (personas[k].text, questions[q].id)
        dist = done.get(key)
        if dist is None:
            dist = model.answer_distribution(questions[q].distribution_request(personas[k].text))
            done[key] = dist
            usage = usage + dist.usage
            n_cached += int(dist.cached)
        probs[k, q] = dist.probs
        valid[k, q] = dist.valid_mass
        methods[k, q] = dist.method
    return ResponseTensor(
        persona_ids=tuple(p.id for p in personas),
        question_ids=tuple(q.id for q in questions),
        support=support,
        probs=probs,
        valid_mass=valid,
        methods=methods,
        usage=usage,
        n_requests=len(done),
        n_cached=n_cached,
    )
