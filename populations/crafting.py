"""Crafting system prompts aimed at a target behaviour, and evaluating what a prompt produces.

The building blocks of the prompt-mixture builders of [1] (Algorithms 1–2, Appendix A):

* :class:`PromptEvaluator` — ``GenerateSamples`` of [1]: the respondent model's answer distribution for a system
  prompt on a one-dimensional scenario, read *exactly* (one distribution per question, combined by the scenario's
  ``pmfs`` into the scored distribution) instead of averaging 10 sampled answers; memoised per prompt.
* :class:`CraftSystemPrompt` — ``CraftSystemPrompt`` of [1]: a crafter LLM writes a "You are …" system prompt for a
  person who would answer near a target value, without naming the number; then up to ``max_rounds`` improve rounds
  show the crafter what its prompt produced (the respondent's mean and most likely answers) and ask for a better
  prompt. The draft closest to the target (smallest expected absolute distance) wins. The crafter and the respondent
  are separate models (craft with a large API model, respond with a local one).

Every crafter reply is recorded; a reply with no usable prompt is a recorded failure, retried with a new seed, and
after ``max_retries`` failures :class:`CraftingError` is raised — never a silent default prompt.

Requests are deterministic: seeds come from :func:`~populace_lm.types.stable_seed` of the caller's key, the round and the
attempt (also the ``sample_index``), so a cache-wrapped crafter answers a rerun from the cache.

References:
    [1] "Distributional Alignment for Social Simulation with LLMs: A Prompt Mixture Modeling Approach".
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from populace_lm.base import LanguageModel
from populace_lm.errors import BadResponseError
from populace_lm.types import (
    AnswerDistribution,
    DistributionRequest,
    Generation,
    GenerationRequest,
    Message,
    Usage,
    stable_seed,
)
from populations.persona import Persona
from populations.responses import answer_distributions

__all__ = [
    "CraftResult",
    "CraftSystemPrompt",
    "CraftingError",
    "MeteredModel",
    "PromptEvaluation",
    "PromptEvaluator",
    "FAILURE_DESCRIPTIONS",
    "FAILURE_REASONS",
    "craft_request_text",
    "extract_prompt",
    "failure_reason",
    "validate_target",
]


FAILURE_DESCRIPTIONS = {
    "no_prompt": "no 'You are …' prompt in the reply",
    "too_short": "the prompt was too short",
    "refusal": "the reply was a refusal",
    "names_target": "the prompt named the target number",
}
"""What each failure code means, in words for reports."""

FAILURE_REASONS = tuple(FAILURE_DESCRIPTIONS)
"""Short codes of why a crafter reply held no usable prompt (keys of a builder's ``failure_reasons_``)."""


def failure_reason(status: str) -> str:
    """The short code (one of :data:`FAILURE_REASONS`) of an :func:`extract_prompt` failure message.

    Raises:
        ValueError: ``status`` is not a failure message of :func:`extract_prompt`.
    """
    for prefix, code in (
        ("no 'You are", "no_prompt"),
        ("prompt too short", "too_short"),
        ("the reply is a refusal", "refusal"),
        ("the prompt names the target number", "names_target"),
    ):
        if status.startswith(prefix):
            return code
    raise ValueError(f"{status!r} is not a crafting failure message of extract_prompt")


class CraftingError(BadResponseError):
    """The crafter returned no usable system prompt after every retry (the failures are in ``history``).

    Attributes:
        history: every attempt (round, attempt, seed, raw reply, status).
        reason: the short code (:data:`FAILURE_REASONS`) of the last attempt's failure, ``"unknown"`` without one.
    """

    def __init__(self, message: str, history: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.history = list(history or [])
        status = self.history[-1].get("status", "") if self.history else ""
        self.reason = failure_reason(status) if status and status != "ok" else "unknown"


# --------------------------------------------------------------------------------------------- accounting
class MeteredModel:
    """A pass-through :class:`~populace_lm.base.LanguageModel` that counts requests, cache hits, backend calls and tokens.

    Args:
        inner: the model to wrap (usually cache-wrapped, so a hit costs 0 backend calls).

    Attributes:
        requests: requests sent through this wrapper.
        cached: of those, answered from a cache.
        usage: summed :class:`~populace_lm.types.Usage` (backend calls and tokens actually spent).
    """

    def __init__(self, inner: LanguageModel) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.requests = 0
        self.cached = 0
        self.usage = Usage()
        self._lock = threading.Lock()

    def _count(self, result: Generation | AnswerDistribution) -> None:
        with self._lock:
            self.requests += 1
            self.cached += int(result.cached)
            self.usage = self.usage + result.usage

    def generate(self, request: GenerationRequest) -> Generation:
        """Forward to ``inner`` and count."""
        out = self.inner.generate(request)
        self._count(out)
        return out

    def answer_distribution(self, request: DistributionRequest) -> AnswerDistribution:
        """Forward to ``inner`` and count."""
        out = self.inner.answer_distribution(request)
        self._count(out)
        return out

    def cost(self) -> dict[str, int]:
        """Counts as plain JSON: ``requests``, ``cached``, ``backend_calls``, ``prompt_tokens``, ``completion_tokens``."""
        return {
            "requests": self.requests,
            "cached": self.cached,
            "backend_calls": self.usage.backend_calls,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
        }


# --------------------------------------------------------------------------------------------- scenarios
def validate_target(scenario: Any, value: float) -> float:
    """Check that a target value lies in the scenario's answer range.

    Raises:
        ValueError: naming the value, the scenario and its range.
    """
    support = np.asarray(scenario.support, dtype=float)
    v = float(value)
    if not np.isfinite(v) or v < support[0] or v > support[-1]:
        raise ValueError(
            f"target {value!r} is outside the answer range [{support[0]:g}, {support[-1]:g}] of scenario "
            f"{scenario.name!r}; pass values on the scenario's scale"
        )
    return v


def craft_request_text(scenario: Any, value: float) -> str:
    """The crafter's task in words: the scenario's own situation text and target wording (the Scenario protocol).

    Crafting adds no wording about scales or kinds of task: ``scenario.describe()`` says what the respondent will
    be asked and ``scenario.describe_target(value)`` the behaviour wanted (it may name the number; the prompt
    must not).
    """
    v = validate_target(scenario, value)
    return (
        f"{scenario.describe()}\n\nWrite a system prompt for a person who would answer like this: "
        f"{scenario.describe_target(v)}. Do not mention the number."
    )


def _summarise(pmf: np.ndarray, support: np.ndarray) -> str:
    """A short text summary of an answer distribution for the crafter: mean and the most likely answers."""
    mean = float(pmf @ support)
    top = np.argsort(-pmf)[:4]
    likely = ", ".join(f"{support[i]:g} ({pmf[i]:.0%})" for i in top if pmf[i] >= 0.01)
    return f"average answer {mean:.1f}; most likely answers: {likely}"


# --------------------------------------------------------------------------------------------- evaluation
@dataclass(frozen=True, kw_only=True)
class PromptEvaluation:
    """What a system prompt produces on a scenario.

    Attributes:
        prompt: the system prompt.
        pmf: the respondent's answer (or trait-sum) distribution, shape ``(S,)``.
        valid_mass: mean probability mass on valid answers over the scenario's questions.
        mean: expected answer.
    """

    prompt: str
    pmf: np.ndarray
    valid_mass: float
    mean: float

    def expected_distance(self, support: np.ndarray, value: float) -> float:
        """Exact expected absolute distance ``E|X - value|`` under :attr:`pmf`."""
        return float(self.pmf @ np.abs(np.asarray(support, dtype=float) - value))


class PromptEvaluator:
    """The respondent's exact answer distribution for a system prompt on a scenario (memoised per prompt).

    Args:
        respondent: the answering model.
        scenario: a one-dimensional scenario (``support``, ``questions()``, ``pmfs()``).
    """

    def __init__(self, respondent: LanguageModel, scenario: Any) -> None:
        self.respondent = respondent
        self.scenario = scenario
        self.support = np.asarray(scenario.support, dtype=float)
        self._questions = scenario.questions()
        self._memo: dict[str, PromptEvaluation] = {}

    def __call__(self, prompt: str) -> PromptEvaluation:
        """Evaluate one prompt (one distribution request per question, shared with earlier identical prompts)."""
        hit = self._memo.get(prompt)
        if hit is not None:
            return hit
        tensor = answer_distributions(
            self.respondent,
            [Persona(id="candidate", text=prompt)],
            self._questions,
            desc=f"evaluate prompt ({self.scenario.name})",
        )
        pmf = np.asarray(self.scenario.pmfs(tensor.probs)[0], dtype=float)
        pmf = np.clip(pmf, 0.0, None)
        pmf = pmf / pmf.sum()
        ev = PromptEvaluation(
            prompt=prompt, pmf=pmf, valid_mass=float(tensor.valid_mass.mean()), mean=float(pmf @ self.support)
        )
        self._memo[prompt] = ev
        return ev


# --------------------------------------------------------------------------------------------- extraction
_START = re.compile(r"\b(you are|you're)\b", re.IGNORECASE)
_REFUSAL = re.compile(r"\b(i can(?:no|')t|i am unable|i'm unable|as an ai)\b", re.IGNORECASE)
MIN_PROMPT_CHARS = 20
MAX_PROMPT_CHARS = 1200


def extract_prompt(reply: str, *, forbidden_number: float | None = None) -> tuple[str | None, str]:
    """Pull a "You are …" system prompt out of a crafter reply and validate it.

    The prompt starts at the first "You are"/"You're" and runs to the end of the reply (code fences, quotes and
    trailing blank-line sections removed), cut to whole sentences within :data:`MAX_PROMPT_CHARS`.

    Args:
        reply: the crafter's raw text.
        forbidden_number: when given, a prompt that names this number (as a standalone number) is rejected.

    Returns:
        ``(prompt, "ok")`` or ``(None, reason)`` naming why the reply holds no usable prompt.
    """
    text = reply.replace("```", "\n").strip()
    match = _START.search(text)
    if match is None:
        return None, "no 'You are …' prompt in the reply"
    prompt = text[match.start() :]
    prompt = re.split(r"\n\s*\n", prompt, maxsplit=1)[0]  # the prompt is one paragraph
    prompt = " ".join(prompt.split()).strip().strip("\"'“”").strip()
    if prompt[:1].islower():
        prompt = prompt[0].upper() + prompt[1:]
    if len(prompt) > MAX_PROMPT_CHARS:
        cut = prompt[:MAX_PROMPT_CHARS]
        end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
        prompt = cut[: end + 1] if end > MIN_PROMPT_CHARS else cut
    if len(prompt) < MIN_PROMPT_CHARS:
        return None, f"prompt too short ({len(prompt)} characters, need {MIN_PROMPT_CHARS})"
    if _REFUSAL.search(prompt):
        return None, "the reply is a refusal"
    if forbidden_number is not None:
        number = f"{forbidden_number:g}"
        if re.search(rf"(?<![\d.]){re.escape(number)}(?![\d]|\.\d)", prompt):
            return None, f"the prompt names the target number {number}"
    return prompt, "ok"


# --------------------------------------------------------------------------------------------- crafting
_CRAFTER_SYSTEM = (
    "You write system prompts that make an AI assistant answer as one particular kind of person. A system prompt "
    'is one paragraph in the second person that starts with "You are". Describe the person\'s character, values, '
    "circumstances and habits so that their answers follow naturally. Never state numbers, scores or the answer "
    "itself, and never mention the questions the person will be asked. Reply with the system prompt only."
)


@dataclass(frozen=True, kw_only=True)
class CraftResult:
    """The outcome of crafting one prompt.

    Attributes:
        prompt: the best draft (smallest expected distance to the target).
        target: the target value.
        evaluation: what the best draft produces.
        distance: its expected absolute distance to the target.
        rounds: improve rounds run (0 = only the first draft).
        history: every attempt: round, attempt, seed, raw reply, extracted prompt or failure reason, mean, distance.
    """

    prompt: str
    target: float
    evaluation: PromptEvaluation
    distance: float
    rounds: int
    history: list[dict[str, Any]] = field(default_factory=list)


class CraftSystemPrompt:
    """An LLM writes a system prompt aimed at a target answer, then improves it from what it produced.

    Args:
        crafter: the model that writes prompts.
        respondent: the model that answers as the prompt (may be the same object).
        max_rounds: improve rounds after the first draft (R); 0 = first draft only.
        max_retries: extra attempts per draft when a reply holds no usable prompt.
        temperature: crafter sampling temperature (> 0; seeds make it reproducible).
        max_tokens: crafter reply length limit.
        tolerance: stop improving once the expected distance is at most this; None = 5% of the answer range.
        forbid_target_number: reject prompts that name the target number.
        random_state: root of the crafting seeds.

    Example:
        >>> # craft = CraftSystemPrompt(crafter=big_api_model, respondent=local_model)
        >>> # result = craft(40, get_scenario("dictator"), key="demo")
    """

    def __init__(
        self,
        crafter: LanguageModel,
        respondent: LanguageModel,
        *,
        max_rounds: int = 1,
        max_retries: int = 2,
        temperature: float = 0.8,
        max_tokens: int = 120,
        tolerance: float | None = None,
        forbid_target_number: bool = True,
        random_state: int = 0,
    ) -> None:
        if max_rounds < 0 or max_retries < 0:
            raise ValueError(f"max_rounds and max_retries must be >= 0, got {max_rounds} and {max_retries}")
        if temperature <= 0:
            raise ValueError(f"crafting temperature must be > 0 (seeded sampling), got {temperature}")
        self.crafter = crafter
        self.respondent = respondent
        self.max_rounds = max_rounds
        self.max_retries = max_retries
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.tolerance = tolerance
        self.forbid_target_number = forbid_target_number
        self.random_state = random_state
        self._evaluators: dict[str, PromptEvaluator] = {}

    def evaluator(self, scenario: Any) -> PromptEvaluator:
        """The (memoised) evaluator of prompts on ``scenario`` with the respondent model."""
        ev = self._evaluators.get(scenario.name)
        if ev is None:
            ev = self._evaluators[scenario.name] = PromptEvaluator(self.respondent, scenario)
        return ev

    def _draft(
        self, messages: list[Message], target: float, key: tuple[Any, ...], round_: int, history: list[dict]
    ) -> str:
        for attempt in range(self.max_retries + 1):
            seed = stable_seed(self.random_state, *key, round_, attempt)
            reply = self.crafter.generate(
                GenerationRequest(
                    messages=tuple(messages),
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                    seed=seed,
                    sample_index=attempt,
                )
            ).text
            prompt, reason = extract_prompt(reply, forbidden_number=target if self.forbid_target_number else None)
            entry = {"round": round_, "attempt": attempt, "seed": seed, "reply": reply, "status": reason}
            history.append(entry)
            if prompt is not None:
                entry["prompt"] = prompt
                return prompt
        raise CraftingError(
            f"the crafter {self.crafter.model_id!r} returned no usable system prompt for target {target:g} after "
            f"{self.max_retries + 1} attempts (last: {history[-1]['status']}); use a stronger crafter model or "
            "raise max_retries",
            history,
        )

    def __call__(self, target: float, scenario: Any, *, key: tuple[Any, ...] | str = ()) -> CraftResult:
        """Craft a prompt for ``target`` on ``scenario``.

        Args:
            target: the answer (or trait score) the prompted persona should give; in the scenario's range.
            scenario: a one-dimensional scenario.
            key: stable identifiers of this crafting job (component, iteration); enter the request seeds.

        Returns:
            The best draft and the full history.

        Raises:
            ValueError: the target is outside the scenario's answer range.
            CraftingError: the first draft never parsed (the failures are in ``error.history``).
        """
        t = validate_target(scenario, target)
        key = (key,) if isinstance(key, str) else tuple(key)
        key = (scenario.name, f"{t:g}", *key)
        evaluate = self.evaluator(scenario)
        support = evaluate.support
        tol = self.tolerance if self.tolerance is not None else 0.05 * float(support[-1] - support[0])
        messages = [
            Message(role="system", content=_CRAFTER_SYSTEM),
            Message(role="user", content=craft_request_text(scenario, t)),
        ]
        history: list[dict[str, Any]] = []
        prompt = self._draft(messages, t, key, 0, history)
        ev = evaluate(prompt)
        best, best_d = ev, ev.expected_distance(support, t)
        history[-1].update(mean=ev.mean, distance=best_d, valid_mass=ev.valid_mass)
        rounds = 0
        for round_ in range(1, self.max_rounds + 1):
            if best_d <= tol:
                break
            rounds = round_
            direction = "higher" if ev.mean < t else "lower"
            messages += [
                Message(role="assistant", content=prompt),
                Message(
                    role="user",
                    content=f"A person answering with that prompt gave: {_summarise(ev.pmf, support)}. The goal is "
                    f"{scenario.describe_target(t)}, so the answers should be {direction}. Write an improved system "
                    "prompt. Do not mention the number.",
                ),
            ]
            try:
                prompt = self._draft(messages, t, key, round_, history)
            except CraftingError:
                break  # the failures are recorded; keep the best earlier draft
            ev = evaluate(prompt)
            d = ev.expected_distance(support, t)
            history[-1].update(mean=ev.mean, distance=d, valid_mass=ev.valid_mass)
            if d < best_d:
                best, best_d = ev, d
        return CraftResult(
            prompt=best.prompt, target=t, evaluation=best, distance=best_d, rounds=rounds, history=history
        )
