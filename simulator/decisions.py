"""The cost-sharing decision service: many agents' answers from few answer distributions.

Agents that share a system prompt and a question share one answer distribution (the sharing idea of
AgentTorch, Chopra et al. 2024, "On the limits of agency in agent-based models"): a one-shot game for a million
agents drawn from a K-component population costs K distributions, not a million calls. Each agent's answer is then
an independent draw from its distribution with the Mesa model's generator. In repeated games the question carries
the agent's own short history, so the key is (prompt, history) and the LLM is called once per distinct key, through
whatever response cache wraps the model.

Answers are drawn from the distribution renormalised over valid answers; the probability mass the model put on
invalid text (``1 - valid_mass``) is reported beside every decision as the parse-failure rate, never replaced by a
default answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from populace_lm.base import LanguageModel
from populace_lm.executor import run_requests
from populace_lm.types import AnswerDistribution, Usage
from scenarios.question import Question

__all__ = ["DecisionBatch", "DecisionService", "DecisionStats", "Draws"]


@dataclass(frozen=True, kw_only=True)
class DecisionStats:
    """What a run cost.

    Attributes:
        agent_decisions: decisions drawn (agents × rounds × roles).
        distinct_prompts: distinct (system prompt, question) keys asked of the language model.
        backend_calls: calls that reached the backend (0 when everything came from the cache).
        cache_hits: distinct keys answered by the persistent response cache.
        prompt_tokens: backend prompt tokens.
        completion_tokens: backend completion tokens.
    """

    agent_decisions: int
    distinct_prompts: int
    backend_calls: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int

    def to_dict(self) -> dict[str, int]:
        """Plain-JSON form."""
        return dict(self.__dict__)


@dataclass(frozen=True, kw_only=True)
class Draws:
    """Answers drawn for a batch of submissions, in submission order.

    Attributes:
        values: drawn answers, shape ``(n,)`` (int64).
        valid_mass: valid mass of each answer's distribution, shape ``(n,)``.
        key_ids: index of each submission's distinct key in the service, shape ``(n,)``.
    """

    values: np.ndarray
    valid_mass: np.ndarray
    key_ids: np.ndarray


class DecisionService:
    """Answer distributions shared by key, and answers drawn from them.

    Args:
        model: any :class:`~populace_lm.base.LanguageModel` (usually cache-wrapped).
        progress: show a progress bar while new distributions are requested (also subject to
            :func:`populace_lm.progress.progress_enabled`, i.e. the CLI's ``--quiet``).

    The service memoises distributions for its lifetime, so one service per run (or per what-if study) shares
    work across rounds, replicates and conditions; the persistent cache shares it across runs.
    """

    def __init__(self, model: LanguageModel, *, progress: bool = False) -> None:
        self.model = model
        self.progress = progress
        self._keys: dict[tuple[str, str, str, int, int], int] = {}
        self._dists: list[AnswerDistribution] = []
        self._cdfs: list[np.ndarray] = []
        self._usage = Usage()
        self._cache_hits = 0
        self._decisions = 0

    # -- distributions ------------------------------------------------------------------------------------

    @staticmethod
    def key(system_prompt: str, question: Question) -> tuple[str, str, str, int, int]:
        """The sharing key: everything the request depends on."""
        a = question.answers
        return (system_prompt, question.prompt, question.answer_prefix, a.low, a.high)

    def key_id(self, system_prompt: str, question: Question) -> int:
        """Index of the distribution for (prompt, question), requesting it from the model on first use."""
        k = self.key(system_prompt, question)
        idx = self._keys.get(k)
        if idx is None:
            dist = self.model.answer_distribution(question.distribution_request(system_prompt))
            idx = self._register(k, question, dist)
        return idx

    def _register(self, k: tuple[str, str, str, int, int], question: Question, dist: AnswerDistribution) -> int:
        """Keep a new key's distribution and its CDF; the key's index."""
        if tuple(dist.values) != question.answers.values:
            raise ValueError(f"model returned answers {dist.values[:3]}… for question {question.id!r}")
        idx = len(self._dists)
        self._keys[k] = idx
        self._dists.append(dist)
        cdf = np.cumsum(np.asarray(dist.probs, dtype=float))
        if dist.valid_mass <= 0 or cdf[-1] < 0.5:
            raise ValueError(
                f"the model put no probability on a valid answer to question {question.id!r} "
                f"(valid answers {question.answers.low}..{question.answers.high}); check the prompt or model"
            )
        cdf[-1] = 1.0
        self._cdfs.append(cdf)
        self._usage = self._usage + dist.usage
        self._cache_hits += int(dist.cached)
        return idx

    def distribution(self, system_prompt: str, question: Question) -> AnswerDistribution:
        """The shared answer distribution of (prompt, question)."""
        return self._dists[self.key_id(system_prompt, question)]

    def prefetch(self, pairs: Sequence[tuple[str, Question]], *, desc: str = "distributions") -> list[int]:
        """Request the distributions of several (prompt, question) pairs in order, with a progress bar."""
        new = {self.key(p, q): (p, q) for p, q in pairs if self.key(p, q) not in self._keys}
        requests = [q.distribution_request(p) for p, q in new.values()]
        dists = run_requests(self.model, requests, progress=self.progress and len(new) >= 2, desc=desc)
        for (k, (_, q)), dist in zip(new.items(), dists, strict=True):
            self._register(k, q, dist)
        return [self.key_id(p, q) for p, q in pairs]

    # -- drawing ------------------------------------------------------------------------------------------

    def draw_keys(self, key_ids: np.ndarray, rng: np.random.Generator) -> Draws:
        """Draw one answer per entry of ``key_ids`` (shape ``(n,)``) from its key's distribution.

        One uniform number per entry, in order, then the inverse CDF of the entry's distribution: the draws
        depend only on the generator state and the order of entries, never on how keys are grouped.
        """
        ids = np.asarray(key_ids, dtype=np.int64)
        n = ids.size
        u = rng.random(n)
        values = np.empty(n, dtype=np.int64)
        mass = np.empty(n, dtype=float)
        if n == 0:
            return Draws(values=values, valid_mass=mass, key_ids=ids)
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        bounds = np.flatnonzero(np.diff(sorted_ids)) + 1
        for group in np.split(order, bounds):
            k = int(ids[group[0]])
            dist = self._dists[k]
            pos = np.searchsorted(self._cdfs[k], u[group], side="right")
            values[group] = np.asarray(dist.values, dtype=np.int64)[np.minimum(pos, len(dist.values) - 1)]
            mass[group] = dist.valid_mass
        self._decisions += n
        return Draws(values=values, valid_mass=mass, key_ids=ids)

    def draw(self, batch: DecisionBatch, rng: np.random.Generator, *, desc: str = "distributions") -> Draws:
        """Resolve a batch: request its distinct keys (in first-submission order), then draw every answer."""
        local: dict[tuple[int, int], int] = {}  # identity of (prompt, question) objects → position in `distinct`
        distinct: list[tuple[str, Question]] = []
        positions = np.empty(len(batch), dtype=np.int64)
        for i, (p, q) in enumerate(zip(batch.prompts, batch.questions, strict=True)):
            j = local.get((id(p), id(q)))
            if j is None:
                j = local[(id(p), id(q))] = len(distinct)
                distinct.append((p, q))
            positions[i] = j
        ids = np.asarray(self.prefetch(distinct, desc=desc), dtype=np.int64)
        return self.draw_keys(ids[positions], rng)

    # -- accounting -----------------------------------------------------------------------------------------

    def stats(self) -> DecisionStats:
        """Counts since construction."""
        return DecisionStats(
            agent_decisions=self._decisions,
            distinct_prompts=len(self._dists),
            backend_calls=self._usage.backend_calls,
            cache_hits=self._cache_hits,
            prompt_tokens=self._usage.prompt_tokens,
            completion_tokens=self._usage.completion_tokens,
        )

    def summary(self, n_agents: int | None = None) -> str:
        """One line for the end of a run: agents, decisions, distinct prompts, backend calls, cache hits."""
        s = self.stats()
        head = f"{n_agents} agents, " if n_agents is not None else ""
        return (
            f"{head}{s.agent_decisions} decisions from {s.distinct_prompts} distinct prompts: "
            f"{s.backend_calls} backend calls, {s.cache_hits} cache hits"
        )


class DecisionBatch:
    """Decisions submitted by agents during one step, resolved together by :meth:`DecisionService.draw`.

    Agents call :meth:`submit` from their ``step`` (activated with ``shuffle_do``), so submission order — and
    hence which uniform number each agent gets — follows the model's seeded activation order.
    """

    def __init__(self) -> None:
        self.agents: list[object] = []
        self.prompts: list[str] = []
        self.questions: list[Question] = []
        self.tags: list[object] = []

    def submit(self, agent: object, system_prompt: str, question: Question, tag: object = None) -> None:
        """Queue one decision of ``agent`` (``tag`` is returned with it, e.g. the role or partner)."""
        self.agents.append(agent)
        self.prompts.append(system_prompt)
        self.questions.append(question)
        self.tags.append(tag)

    def __len__(self) -> int:
        return len(self.agents)
