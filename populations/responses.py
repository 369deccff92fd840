"""Answer distributions of personas for questions: the one place populations call the LLM for a scenario.

Work is shared: each distinct (system prompt, question) pair is requested once, however many personas or agents
carry that prompt, and the request goes through whatever cache wraps the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from populace_lm.base import LanguageModel
from populace_lm.executor import run_requests
from populace_lm.types import AnswerDistribution, Usage
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


def answer_distributions(
    model: LanguageModel,
    personas: Sequence[Persona],
    questions: Sequence[Question],
    *,
    progress: bool = True,
    desc: str = "answers",
    max_workers: int | None = None,
) -> ResponseTensor:
    """Ask every persona every question, sharing identical (prompt, question) requests.

    Args:
        model: any :class:`~populace_lm.base.LanguageModel` (usually cache-wrapped).
        personas: K personas; ``persona.text`` is the system prompt.
        questions: Q questions with one common answer set.
        progress: show a labelled progress bar with an ETA when the batch takes more than 2 s (off under
            ``--quiet``, see :mod:`populace_lm.progress`).
        desc: progress-bar label (e.g. the scenario and construction).
        max_workers: requests in flight at once in this process; None = the model's own concurrency
            (:func:`populace_lm.config.concurrency_of`: ``--concurrency`` for a remote endpoint, 1 for the serial
            embedded model). The batch runs on the model's executor (:func:`populace_lm.executor.run_requests`:
            this process, or Ray actors under ``--executor ray``).

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
    keys = [(personas[k].text, q) for k in range(K) for q in range(Q)]
    distinct = list(dict.fromkeys(keys))
    requests = [questions[q].distribution_request(text) for text, q in distinct]
    results = run_requests(model, requests, progress=progress, desc=desc, max_workers=max_workers)
    done: dict[tuple[str, int], AnswerDistribution] = dict(zip(distinct, results, strict=True))
    usage = Usage()
    for dist in results:
        usage = usage + dist.usage
    for i, key in enumerate(keys):
        k, q = divmod(i, Q)
        dist = done[key]
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
        n_cached=sum(int(d.cached) for d in results),
    )
