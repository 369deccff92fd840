"""Backend for any OpenAI-compatible chat endpoint (OpenAI, vLLM, the llama.cpp server, ...).

Uses the official ``openai`` client. Retries (408/409/429/5xx and connection errors, exponential backoff,
``Retry-After`` honoured) and timeouts are configured on the client; this module adds no retry loop.
The ``seed`` sent with a request is best effort on most servers: reproducibility comes from :mod:`populace_lm.cache`.

Answer distributions:

* **exact** — when every answer is a single digit, one request with ``max_tokens=1``, ``logprobs=True`` and
  ``top_logprobs=k`` reads the probability of each digit token (whitespace stripped, variants such as ``"3"``
  and ``" 3"`` summed). Digits outside the returned top ``k`` count as invalid, so ``valid_mass`` is a lower
  bound. The request is sent at temperature 1; a request temperature ``T`` reshapes the answer probabilities
  as ``p_i^(1/T)`` (renormalised) and leaves ``valid_mass`` at the model's own value.
* **sampled** — when the answers need several tokens, or the server returns no log-probabilities,
  ``n_samples`` separate requests with derived seeds ``stable_seed(request.seed, i)`` (separate requests
  because the llama.cpp server ignores ``n``); the first integer of each reply is the answer, and a reply
  without one in range counts as unparsed (``valid_mass = parsed / n``).

A non-empty ``answer_prefix`` is sent as a prefilled assistant message after the chat. Not every server
continues a prefilled assistant turn: the OpenAI API, for one, starts a new assistant message instead, which
changes what the first token means. Prefer an empty prefix there.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import openai

from populace_lm.errors import AuthenticationError, BackendUnavailableError, BadResponseError
from populace_lm.parsing import distribution_from_replies
from populace_lm.types import (
    AnswerDistribution,
    DistributionRequest,
    Generation,
    GenerationRequest,
    Message,
    Usage,
    stable_seed,
)

__all__ = ["OpenAICompatible"]


def _chat(messages: Sequence[Message], prefix: str = "") -> list[dict[str, str]]:
    chat = [{"role": m.role, "content": m.content} for m in messages]
    if prefix:
        chat.append({"role": "assistant", "content": prefix})
    return chat


class OpenAICompatible:
    """A :class:`~populace_lm.base.LanguageModel` backed by an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: the model name the server knows.
        base_url: e.g. ``"http://127.0.0.1:8080/v1"``; ``None`` uses ``OPENAI_BASE_URL`` or the OpenAI API.
        api_key_env: environment variable holding the key.
        api_key: the key itself (wins over ``api_key_env``). Local servers that need no key: pass
            ``api_key="none"`` explicitly.
        max_retries: retries done by the ``openai`` client (408/409/429/5xx, connection errors).
        timeout: seconds per HTTP request.
        top_logprobs: alternatives requested per token for exact distributions (OpenAI allows at most 20).
        sample_max_tokens: completion limit of each sampled reply in the sampling fallback.

    Raises:
        AuthenticationError: no key found.

    """

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        api_key: str | None = None,
        max_retries: int = 3,
        timeout: float = 60.0,
        top_logprobs: int = 20,
        sample_max_tokens: int = 16,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(api_key_env)
        if not key:
            raise AuthenticationError(
                f"no API key for {base_url or 'the OpenAI API'}: set {api_key_env} or pass api_key_env=... "
                "(a local server that needs no key: pass api_key='none')"
            )
        if not 1 <= top_logprobs <= 20:
            raise ValueError(f"top_logprobs must be in 1..20, got {top_logprobs}")
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.api_key_env = api_key_env
        self.top_logprobs = top_logprobs
        self.sample_max_tokens = sample_max_tokens
        self.model_id = f"openai-compatible:{self.base_url or 'api.openai.com'}:{model}"
        self._client = openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=max_retries, timeout=timeout)

    # -- protocol -----------------------------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> Generation:
        """Return a free-text reply (``temperature``, ``max_tokens``, ``seed`` and ``stop`` are sent)."""
        stop = {"stop": list(request.stop)} if request.stop else {}  # omitted, not null, when empty
        response = self._create(
            _chat(request.messages),
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            seed=request.seed,
            **stop,
        )
        return Generation(text=self._text(response), usage=self._usage(response))

    def answer_distribution(self, request: DistributionRequest) -> AnswerDistribution:
        """Return the answer distribution: exact from ``top_logprobs`` for single digits, else sampled."""
        wasted = Usage()
        if request.answers.single_digit:
            exact, wasted = self._exact(request)
            if exact is not None:
                return exact
        sampled = self._sampled(request)
        return dataclasses.replace(sampled, usage=sampled.usage + wasted)

    # -- distributions ------------------------------------------------------------------------------------

    def _exact(self, request: DistributionRequest) -> tuple[AnswerDistribution | None, Usage]:
        """One forward pass; ``(None, usage)`` when the server returned no log-probabilities.

        Sent at temperature 1 so that servers which temper their log-probabilities report the model's own;
        ``request.temperature`` is applied here.
        """
        response = self._create(
            _chat(request.messages, request.answer_prefix),
            temperature=1.0,
            max_tokens=1,
            seed=request.seed,
            logprobs=True,
            top_logprobs=self.top_logprobs,
        )
        top = self._top_logprobs(response)
        usage = self._usage(response)
        if not top:
            return None, usage
        answers = request.answers
        raw = [0.0] * answers.size
        for token, logprob in top:
            text = token.strip()
            if len(text) == 1 and text.isdigit() and answers.low <= int(text) <= answers.high:
                raw[int(text) - answers.low] += math.exp(logprob)
        valid_mass = min(sum(raw), 1.0)
        if valid_mass <= 0:
            probs = [0.0] * answers.size
        else:
            # Temperature T reshapes the answer distribution as p_i^(1/T); valid_mass stays the model's own.
            peak = max(raw)  # divide by the largest first: no underflow at small T
            tempered = [(p / peak) ** (1.0 / request.temperature) if p > 0 else 0.0 for p in raw]
            total = sum(tempered)
            probs = [p / total for p in tempered]
        exact = AnswerDistribution(
            values=answers.values, probs=probs, valid_mass=valid_mass, method="exact", usage=usage
        )
        return exact, usage

    def _sampled(self, request: DistributionRequest) -> AnswerDistribution:
        replies: list[str] = []
        usage = Usage()
        for i in range(request.n_samples):
            response = self._create(
                _chat(request.messages, request.answer_prefix),
                temperature=request.temperature,
                max_tokens=self.sample_max_tokens,
                seed=stable_seed(request.seed, i),
            )
            replies.append(self._text(response))
            usage = usage + self._usage(response)
        return distribution_from_replies(replies, request.answers, usage=usage)

    # -- HTTP and response parsing ------------------------------------------------------------------------

    def _create(self, messages: list[dict[str, str]], **params: Any) -> Any:
        """One ``chat.completions.create`` call with client errors mapped to :mod:`populace_lm.errors`."""
        where = self.base_url or "the OpenAI API"
        try:
            return self._client.chat.completions.create(model=self.model, messages=messages, **params)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise AuthenticationError(
                f"{where} rejected the API key (HTTP {exc.status_code}): check {self.api_key_env} "
                "or pass api_key_env=... naming the right variable"
            ) from exc
        except openai.APIConnectionError as exc:  # includes APITimeoutError
            kind = "timed out" if isinstance(exc, openai.APITimeoutError) else "is unreachable"
            raise BackendUnavailableError(
                f"{where} {kind} (after the client's retries): start the server or fix base_url (POPULACE_BASE_URL)"
            ) from exc
        except (openai.RateLimitError, openai.InternalServerError) as exc:
            raise BackendUnavailableError(
                f"{where} kept failing with HTTP {exc.status_code} after the client's retries: "
                "retry later or raise max_retries"
            ) from exc
        except openai.APIStatusError as exc:
            status = exc.status_code
            raise BadResponseError(
                f"{where} refused the request for model {self.model!r} (HTTP {status}): {exc.message}"
            ) from exc
        except (openai.APIResponseValidationError, json.JSONDecodeError) as exc:
            raise BadResponseError(f"{where} sent a body that is not a chat completion: {exc}") from exc

    def _bad(self, what: str) -> BadResponseError:
        return BadResponseError(f"{self.base_url or 'the OpenAI API'} sent a chat completion without {what}")

    def _choice(self, response: Any) -> Any:
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices or not hasattr(choices[0], "message"):
            raise self._bad("choices")
        return choices[0]

    def _text(self, response: Any) -> str:
        content = getattr(self._choice(response).message, "content", None)
        if content is not None and not isinstance(content, str):
            raise self._bad("a text message")
        return content or ""

    def _top_logprobs(self, response: Any) -> list[tuple[str, float]]:
        """``(token, logprob)`` alternatives for the first generated token; empty when absent."""
        logprobs = getattr(self._choice(response), "logprobs", None)
        content = getattr(logprobs, "content", None)
        if not content:
            return []
        top = getattr(content[0], "top_logprobs", None) or []
        out = []
        for alt in top:
            token, logprob = getattr(alt, "token", None), getattr(alt, "logprob", None)
            if not isinstance(token, str) or not isinstance(logprob, int | float):
                raise self._bad("well-formed top_logprobs")
            out.append((token, float(logprob)))
        return out

    @staticmethod
    def _usage(response: Any) -> Usage:
        usage = getattr(response, "usage", None)
        return Usage(
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            backend_calls=1,
        )
