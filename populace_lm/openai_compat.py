"""Backend for any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp servers, Ollama, ...).

Transport: the official ``openai`` client with its own retries switched off (``max_retries=0``); every transient
fault is retried once per attempt in the single loop of :mod:`populace_lm.retry` — HTTP 408/409/429/5xx,
connection errors and resets, timeouts, and a 200 whose body is not a usable chat completion (garbage or
truncated JSON, no ``choices``, log-probabilities asked for and missing). Each attempt is counted by a
:class:`~populace_lm.accounting.TransportMeter` (``self.meter``); budgets gate attempts there. Non-transient errors
(401/403, 404, 400/422) fail at once with one line naming the flag to fix. Optional client-side limits: at most
``concurrency`` requests in flight, and ``rpm``/``tpm`` token buckets (:mod:`populace_lm.ratelimit`). The ``seed``
sent with a request is best effort on most servers: reproducibility comes from :mod:`populace_lm.cache`.

Answer distributions (:meth:`OpenAICompatible.answer_distribution`):

* **exact** — single-digit answer sets (Likert): one request with ``max_tokens=1``, ``logprobs=True`` and
  ``top_logprobs=k`` reads the probability of each answer's tokens (``"3"``, ``" 3"``, ``"3."`` summed). This is
  exact only when the answers are *covered*: every answer is among the k alternatives, or the mass of the absent
  ones is provably small (:func:`exact_from_top_logprobs`: each absent spelling is below the k-th probability; the
  bound is reported as ``missing_mass_bound``). Sent at temperature 1; a request temperature ``T`` reshapes the
  answer probabilities as ``p_i^(1/T)`` and leaves ``valid_mass`` at the model's own value.
* **sampled** — when the answers are not covered, need several tokens (0–100), or the server gives no
  log-probabilities: ``n`` separate requests (the llama.cpp servers ignore ``n``), sample ``i`` with seed
  ``stable_seed(request.seed, i)`` and ``sample_index=i`` (:func:`~populace_lm.types.sampling_request`). Each sample
  is stored in the response cache under its own key as soon as it arrives (when a
  :class:`~populace_lm.cache.CachedModel` wraps this backend), so a retry or a rerun asks only for the missing
  ones. The first integer of each reply is the answer; a reply without one in range counts as unparsed.
  ``samples=0`` turns sampling off: an uncovered answer set then raises :class:`~populace_lm.errors.CoverageError`.

Answer stems (``answer_prefix``) are continued where the server can (vLLM) and folded into the instruction
elsewhere (:mod:`populace_lm.servers`); :meth:`OpenAICompatible.describe` says which, for the run manifest.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import math
import os
import re
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import openai

from populace_lm.accounting import TransportMeter
from populace_lm.endpoints import Endpoint, EndpointPool, EndpointSpec, parse_endpoints
from populace_lm.errors import (
    AuthenticationError,
    BackendUnavailableError,
    BadResponseError,
    CoverageError,
    LLMError,
    RequestRejectedError,
)
from populace_lm.parsing import distribution_from_replies
from populace_lm.ratelimit import RateLimiter, estimate_tokens
from populace_lm.retry import RetryPolicy, TransientFault, call_with_retries, retry_after_seconds
from populace_lm.servers import SERVER_KINDS, continue_extra_body, detect_server_kind, fold_stem, stem_mode
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

__all__ = ["MODEL_ID_PREFIX", "RATE_SCOPES", "OpenAICompatible", "exact_from_top_logprobs"]

RATE_SCOPES = ("global", "endpoint")
"""Accepted ``--rate-scope`` values: ``--rpm``/``--tpm`` bound the whole fleet, or each endpoint."""

_TRUNCATED = ("complete message body", "incomplete chunked read")  # h11's words for a body cut off mid-transfer

MODEL_ID_PREFIX = "openai-compatible/v2"
"""Start of every model id of this backend. ``v2``: stems folded or continued and top-k coverage checked, so
distributions cached by the earlier adapter (stem sent as an unanswered assistant turn) never match."""

_ANSWER_TOKEN = re.compile(r"^(\d+)(\D.*)?$", re.DOTALL)
_SPELLINGS_PER_ANSWER = 2  # the bound assumes an absent answer has at most two spellings ("3" and " 3")


def exact_from_top_logprobs(
    top: Sequence[tuple[str, float]],
    answers: IntegerAnswers,
    *,
    temperature: float = 1.0,
    max_missing_mass: float = 0.01,
    usage: Usage | None = None,
) -> tuple[AnswerDistribution | None, float, float]:
    """An exact single-digit answer distribution from one token's top-k alternatives, if they cover the answers.

    A token counts for answer ``a`` when, with leading whitespace removed, it is ``a``'s digits, optionally
    followed by a non-digit (``"3"``, ``" 3"``, ``"3."``). An answer absent from the k alternatives has, per
    spelling, less probability than the least likely alternative ``p_k``; with at most two spellings per answer the
    absent mass is at most ``B = min(1 - sum(top), 2 * n_absent * p_k)``. The answers are *covered* when none is
    absent, or when ``B <= max_missing_mass * (valid + B)`` (the renormalised probabilities are then off by at most
    ``max_missing_mass``).

    Args:
        top: ``(token, logprob)`` alternatives of the first generated token, shape ``(k,)``.
        answers: a single-digit answer set.
        temperature: reshapes the answer probabilities as ``p_i^(1/T)`` (renormalised).
        max_missing_mass: tolerated relative share of the bound (see above).
        usage: usage to attach.

    Returns:
        ``(distribution or None when not covered, valid mass, bound B)``.

    >>> import math
    >>> top = [("4", math.log(0.5)), ("3", math.log(0.3)), (" 5", math.log(0.1)), ("Sure", math.log(0.09)),
    ...        ("2", math.log(0.005)), ("1", math.log(0.005))]
    >>> d, valid, bound = exact_from_top_logprobs(top, IntegerAnswers(low=1, high=5))
    >>> round(valid, 3), bound, d.method
    (0.91, 0.0, 'exact')
    """
    if not answers.single_digit:
        raise ValueError(f"top-k reading needs single-digit answers, got {answers.low}..{answers.high}")
    raw = [0.0] * answers.size
    probs_top = [math.exp(lp) for _, lp in top]
    for (token, _), p in zip(top, probs_top, strict=True):
        m = _ANSWER_TOKEN.match(token.lstrip())
        if m and answers.low <= int(m.group(1)) <= answers.high and (m.group(1) == "0" or m.group(1)[0] != "0"):
            raw[int(m.group(1)) - answers.low] += p
    valid = min(sum(raw), 1.0)
    absent = sum(1 for r in raw if r <= 0.0)
    unseen = max(0.0, 1.0 - sum(probs_top))
    bound = min(unseen, _SPELLINGS_PER_ANSWER * absent * min(probs_top)) if absent and probs_top else 0.0
    if valid <= 0.0 or (absent and bound > max_missing_mass * (valid + bound)):
        return None, valid, bound
    peak = max(raw)  # divide by the largest first: no underflow at small T
    tempered = [(p / peak) ** (1.0 / temperature) if p > 0 else 0.0 for p in raw]
    total = sum(tempered)
    dist = AnswerDistribution(
        values=answers.values,
        probs=[p / total for p in tempered],
        valid_mass=valid,
        method="exact",
        missing_mass_bound=min(bound, 1.0),
        usage=usage or Usage(),
    )
    return dist, valid, bound


@dataclass(frozen=True)
class _Reply:
    text: str
    top: list[tuple[str, float]] | None
    usage: Usage


def _announce(message: str) -> None:
    """A loud one-line warning on the terminal (stderr), whatever the progress settings."""
    print(f"populace: warning: {message}", file=sys.stderr, flush=True)


def _truncated(exc: BaseException) -> bool:
    """Whether a connection error is a body cut off mid-transfer (the status line and headers had arrived)."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 8:
        if any(words in str(cause) for words in _TRUNCATED):
            return True
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return False


class OpenAICompatible:
    """A :class:`~populace_lm.base.LanguageModel` backed by an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: the model name the server knows (``--model``).
        base_url: e.g. ``"http://127.0.0.1:8080/v1"`` (``--base-url``); ``None`` uses ``OPENAI_BASE_URL`` or the
            OpenAI API. Several endpoints serving the same model: comma-separated URLs or a file of URLs
            (:func:`populace_lm.endpoints.parse_endpoints`); each attempt goes to the least-loaded healthy one.
        api_key_env: environment variable holding the key (``--api-key-env``).
        api_key: the key itself (wins over ``api_key_env``). Local servers that need no key: pass
            ``api_key="none"`` (or set the variable to any value).
        max_retries: most retries of a transient fault per request (``--max-retries``); ``None`` = no count limit,
            the time budget decides.
        retry_budget: seconds from a request's first attempt within which it is retried (``--retry-budget``).
        timeout: seconds per HTTP attempt (``--timeout``).
        concurrency: most attempts in flight at once (``--concurrency``); ``None`` = unbounded here.
        rpm: requests per minute (``--rpm``); ``None`` = unlimited.
        tpm: tokens per minute (``--tpm``); ``None`` = unlimited.
        rate_scope: ``"global"`` (``--rpm``/``--tpm`` bound the whole fleet) or ``"endpoint"`` (each endpoint)
            (``--rate-scope``); a URL file's own ``rpm=``/``tpm=`` always bound their endpoint.
        server_kind: ``"auto"``, ``"openai"``, ``"vllm"``, ``"llamacpp"`` or ``"ollama"`` (``--server-kind``).
        top_logprobs: alternatives requested per token for exact distributions (``--top-logprobs``; the OpenAI API
            allows at most 20); 0 = never ask for log-probabilities (always sample).
        samples: replies per sampled distribution (``--samples``); ``None`` = the request's ``n_samples``;
            0 = never sample (an uncovered answer set raises).
        sample_max_tokens: completion limit of each sampled reply.
        max_missing_mass: coverage tolerance of :func:`exact_from_top_logprobs`.
        initial_backoff: seconds before the first retry (doubles per retry, jittered).
        max_backoff: cap of the backoff, seconds.
        chat_template: the model's chat template (an object with ``render(messages, add_generation_prompt=True)``,
            see :func:`populace_lm.templates.load_chat_template`; ``--chat-template``). With it, a chat that ends
            with an assistant message (an answer stem) is continued on any server through the raw
            ``/completions`` endpoint: the prompt is the rendered chat plus the stem.

    Raises:
        AuthenticationError: no key found.
        ValueError: a setting out of range, naming its flag.

    """

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        api_key: str | None = None,
        max_retries: int | None = None,
        retry_budget: float = 300.0,
        timeout: float = 60.0,
        concurrency: int | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        rate_scope: str = "global",
        server_kind: str = "auto",
        top_logprobs: int = 20,
        samples: int | None = None,
        sample_max_tokens: int = 16,
        max_missing_mass: float = 0.01,
        initial_backoff: float = 0.25,
        max_backoff: float = 20.0,
        chat_template: Any = None,
    ) -> None:
        spec = base_url or os.environ.get("OPENAI_BASE_URL") or None
        specs = parse_endpoints(spec) if spec else ()
        self.base_url = specs[0].url if len(specs) == 1 else None
        self.base_urls = tuple(e.url for e in specs)
        self.where = (
            self.base_url
            if len(specs) == 1
            else f"the {len(specs)} endpoints {', '.join(self.base_urls)}"
            if specs
            else "the OpenAI API"
        )
        key = api_key if api_key is not None else os.environ.get(api_key_env)
        if not key:
            raise AuthenticationError(
                f"no API key for {self.where}: set the environment variable {api_key_env}, or name another one with "
                f"--api-key-env (a local server that needs no key: set {api_key_env}=none)"
            )
        if server_kind not in SERVER_KINDS:
            raise ValueError(f"unknown server kind {server_kind!r}: use one of {SERVER_KINDS} (--server-kind)")
        if not isinstance(top_logprobs, int) or top_logprobs < 0:
            raise ValueError(f"top_logprobs must be an integer >= 0, got {top_logprobs!r}: fix --top-logprobs")
        if samples is not None and (not isinstance(samples, int) or samples < 0):
            raise ValueError(f"samples must be an integer >= 0, got {samples!r}: fix --samples")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}: fix --timeout")
        if concurrency is not None and concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency!r}: fix --concurrency")
        if rate_scope not in RATE_SCOPES:
            raise ValueError(f"unknown rate scope {rate_scope!r}: use one of {RATE_SCOPES} (--rate-scope)")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.concurrency = concurrency
        self.server_kind = server_kind
        self.top_logprobs = top_logprobs
        self.samples = samples
        self.sample_max_tokens = sample_max_tokens
        self.max_missing_mass = max_missing_mass
        self.retry = RetryPolicy(
            max_retries=max_retries, budget_s=retry_budget, initial_backoff=initial_backoff, max_backoff=max_backoff
        )
        self.meter = TransportMeter()
        self.detect_meter = TransportMeter()
        self.rate_scope = rate_scope
        self._rate = RateLimiter(rpm=rpm, tpm=tpm) if rate_scope == "global" else RateLimiter()
        self._rate_limits = (rpm, tpm)
        self._slots = threading.BoundedSemaphore(concurrency) if concurrency else None
        suffix = ("" if top_logprobs == 20 else f":top{top_logprobs}") + ("" if samples is None else f":n{samples}")
        if chat_template is not None:  # stems continued through /completions: other prompts, other answers
            suffix += f":template-{getattr(chat_template, 'digest', 'custom')}"
        # one URL: its model id as ever; a fleet of replicas of one model: the same id whatever the URLs, so an
        # endpoint added or replaced keeps the cache
        where_id = self.base_url or ("fleet" if specs else "api.openai.com")
        self.model_id = f"{MODEL_ID_PREFIX}:{where_id}:{model}{suffix}"

        def make_client(url: str) -> openai.OpenAI:
            return openai.OpenAI(base_url=url or None, api_key=key, max_retries=0, timeout=self.timeout)

        per_endpoint = (rpm, tpm) if rate_scope == "endpoint" else (None, None)
        self.pool = EndpointPool(
            specs or (EndpointSpec(url=""),),  # "" = the client's default (the OpenAI API)
            make_client,
            rpm=per_endpoint[0],
            tpm=per_endpoint[1],
        )
        self._lock = threading.Lock()
        self._kind: str | None = None if server_kind == "auto" else server_kind
        self._logprobs_ok: bool | None = None if top_logprobs else False  # True once any reply carried them
        self._downgrades = {"exact_to_sampled": 0}
        self._logprobs_missing = 0  # requests whose replies (twice) lacked the log-probabilities asked for
        self._sample_cache: Any = None
        self._sample_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.chat_template = chat_template
        self._uses = {"continued": 0, "folded": 0, "none": 0}
        self._methods = {"exact": 0, "exact_partial": 0, "sampled": 0, "sampled_after_topk": 0}

    # -- protocol -------------------------------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> Generation:
        """Return a free-text reply (``temperature``, ``max_tokens``, ``seed`` and ``stop`` are sent).

        A chat that ends with an assistant message is continued where the server can (vLLM).
        """
        extra = continue_extra_body(self.kind) if request.messages[-1].role == "assistant" else {}
        reply = self._complete(
            request.messages,
            extra_body=extra,
            want_logprobs=False,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            seed=request.seed,
            **({"stop": list(request.stop)} if request.stop else {}),  # omitted, not null, when empty
        )
        return Generation(text=reply.text, usage=reply.usage)

    def answer_distribution(self, request: DistributionRequest) -> AnswerDistribution:
        """Return the answer distribution: exact from covering top-k log-probabilities, else sampled."""
        spent = Usage()
        after_topk = False
        degraded = None
        if request.answers.single_digit and self.top_logprobs:
            exact, spent, valid, bound, got_top = self._exact(request)
            if exact is not None:
                self._count("exact_partial" if exact.missing_mass_bound > 0 else "exact")
                return exact
            after_topk = got_top
            if not got_top:  # this request's replies lacked the log-probabilities asked for: exact -> sampled
                degraded = "no_logprobs"
            if after_topk and self.samples == 0:
                raise CoverageError(
                    f"the top-{self.top_logprobs} log-probabilities from {self.where} do not cover the answers "
                    f"{request.answers.low}..{request.answers.high} (valid mass {valid:.3f}, absent mass up to "
                    f"{bound:.3f}) and sampling is off: raise --top-logprobs, or allow sampling with --samples N"
                )
        if self.samples == 0:
            raise CoverageError(
                f"{self.where} gives no exact distribution for answers {request.answers.low}..{request.answers.high} "
                "(multi-digit answers or no log-probabilities) and sampling is off: allow it with --samples N"
            )
        if degraded is not None and self.samples != 0:
            self._downgrade(request)
        sampled = self._sampled(request)
        self._count("sampled_after_topk" if after_topk else "sampled")
        return dataclasses.replace(sampled, usage=sampled.usage + spent, degraded=degraded)

    def _downgrade(self, request: DistributionRequest) -> None:
        """Count (and announce the first) exact -> sampled downgrade."""
        with self._lock:
            self._downgrades["exact_to_sampled"] += 1
            first = self._downgrades["exact_to_sampled"] == 1
        if first:
            _announce(
                f"{self.where} sent no log-probabilities for an answer that could be read exactly (answers "
                f"{request.answers.low}..{request.answers.high}): it is SAMPLED instead (exact -> sampled), counted "
                "in run.json (backend.downgrades) and the report, and cached under a 'degraded' key so a rerun on a "
                "healthy server asks again; if the server never gives log-probabilities, pass --top-logprobs 0"
            )

    # -- server kind and stems ------------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """The server kind in use (``--server-kind``, or detected once from ``GET /models`` when ``auto``)."""
        if self._kind is None:
            with self._lock:
                if self._kind is None:
                    self._kind = self._detect()
        return self._kind

    def _detect(self) -> str:
        """The server kind from ``GET /models``: a probe that a transient fault cannot fool.

        Only a definitive answer decides — a JSON body, or a 4xx status (a server without ``/models``: the safe
        folded stems). A 429, a 5xx, a refused connection, a timeout or a body that is not JSON is retried (on
        another endpoint of a fleet, if any) within the retry budget; if none comes, the error is raised and the
        kind stays undecided, so a later request probes again instead of folding stems for the rest of the run.
        """

        def attempt() -> tuple[Any, Any, str]:
            endpoint = self.pool.acquire(detect=True)
            where = self._where(endpoint)
            outcome = "interrupted"
            try:
                try:
                    raw = endpoint.client.models.with_raw_response.list()
                except openai.APIStatusError as exc:
                    status = exc.status_code
                    if status == 429 or status >= 500 or status in (408, 409):
                        cause = "429" if status == 429 else "5xx" if status >= 500 else "408_409"
                        outcome = cause
                        raise TransientFault(
                            cause,
                            lambda n, t: BackendUnavailableError(
                                f"{where} kept failing GET /models (HTTP {status}, {n} times over "
                                f"{t:.0f} s), so its server kind is unknown: retry later, raise --retry-budget, or "
                                "name it with --server-kind"
                            ),
                            retry_after_seconds(exc.response.headers),
                        ) from exc
                    outcome = "ok"
                    return None, exc.response.headers, endpoint.url  # e.g. 404: a server without /models
                except openai.APIConnectionError as exc:
                    outcome = "timeout" if isinstance(exc, openai.APITimeoutError) else "connection"
                    raise TransientFault(
                        outcome,
                        lambda n, t: BackendUnavailableError(
                            f"{where} is unreachable ({n} times over {t:.0f} s): start the server, fix --base-url, "
                            "or raise --retry-budget"
                        ),
                    ) from exc
                try:
                    models = json.loads(raw.text)
                except ValueError as exc:
                    outcome = "bad_body"
                    raise self._bad_body("a GET /models body that is not JSON", where) from exc
                outcome = "ok"
                return models, raw.headers, endpoint.url
            finally:
                self.pool.release(endpoint, outcome, detect=True)

        models, headers, url = call_with_retries(attempt, policy=self.retry, meter=self.detect_meter)
        return detect_server_kind(models, headers, url or None)

    def stem_mode(self, stem: str) -> str:
        """``"continued"`` (vLLM's switch, or a raw completion with the chat template), ``"folded"`` or ``"none"``."""
        if stem and self.chat_template is not None:
            return "continued"
        return stem_mode(self.kind, stem)

    def _stemmed(self, request: DistributionRequest) -> tuple[tuple[Message, ...], dict[str, Any]]:
        """The chat as sent for a distribution request, and the extra body fields that go with it."""
        mode = self.stem_mode(request.answer_prefix)
        with self._lock:
            self._uses[mode] += 1
        if mode == "continued":
            return (*request.messages, Message(role="assistant", content=request.answer_prefix)), continue_extra_body(
                self.kind
            )
        if mode == "folded":
            return fold_stem(request.messages, request.answer_prefix), {}
        return request.messages, {}

    # -- distributions --------------------------------------------------------------------------------------

    def _exact(self, request: DistributionRequest) -> tuple[AnswerDistribution | None, Usage, float, float, bool]:
        """One forward pass: ``(exact or None, usage, valid, bound, whether log-probabilities came)``.

        ``None`` when the answers are not covered, or when this request's replies carried no log-probabilities.
        """
        messages, extra = self._stemmed(request)
        reply = self._complete(
            messages,
            extra_body=extra,
            want_logprobs=True,
            temperature=1.0,
            max_tokens=1,
            seed=request.seed,
            logprobs=True,
            top_logprobs=self.top_logprobs,
        )
        if reply.top is None:
            return None, reply.usage, 0.0, 0.0, False
        exact, valid, bound = exact_from_top_logprobs(
            reply.top,
            request.answers,
            temperature=request.temperature,
            max_missing_mass=self.max_missing_mass,
            usage=reply.usage,
        )
        return exact, reply.usage, valid, bound, True

    def _sampled(self, request: DistributionRequest) -> AnswerDistribution:
        """``n`` seeded samples; the missing ones are fetched in parallel (up to ``concurrency``), each stored at once.

        The result depends only on the request (samples are ordered by index), not on which finished first. When a
        sample fails for good, the samples still in flight finish and are stored before the error is raised.
        """
        n = request.n_samples if self.samples is None else self.samples
        messages, _ = self._stemmed(request)
        cache = self._sample_cache
        subs = [sampling_request(request, i, messages=messages, max_tokens=self.sample_max_tokens) for i in range(n)]
        texts: list[str | None] = [None] * n
        for i, sub in enumerate(subs):
            hit = cache.cached_generation(sub) if cache is not None else None
            texts[i] = None if hit is None else hit.text
        missing = [i for i in range(n) if texts[i] is None]

        def fetch(i: int) -> Generation:
            reply = self.generate(subs[i])
            if cache is not None:
                cache.store_generation(subs[i], reply)
            return reply

        usage = Usage()
        if len(missing) > 1 and (self.concurrency or 1) > 1:
            futures = [self._pool().submit(fetch, i) for i in missing]
            concurrent.futures.wait(futures)
            replies = [f.result() for f in futures]  # raises the first failure, after every sample has finished
        else:
            replies = [fetch(i) for i in missing]
        for i, reply in zip(missing, replies, strict=True):
            texts[i] = reply.text
            usage = usage + reply.usage
        stem = request.answer_prefix.strip()
        if stem and self.stem_mode(stem) == "folded":  # the reply often repeats the stem: read what follows it
            texts = [t.split(stem, 1)[1] if stem in t else t for t in texts]
        return distribution_from_replies([t or "" for t in texts], request.answers, usage=usage)

    # -- one request through the retry loop -----------------------------------------------------------------

    def _complete(
        self, messages: Sequence[Message], *, extra_body: dict[str, Any], want_logprobs: bool, **params: Any
    ) -> _Reply:
        raw = self.chat_template is not None and messages[-1].role == "assistant"
        if raw:  # continue the final assistant message through /completions
            head = tuple(messages[:-1])
            chat: Any = self.chat_template.render(head, add_generation_prompt=True) + messages[-1].content
            params = dict(params)
            if params.pop("logprobs", None):
                params["logprobs"] = params.pop("top_logprobs")
            extra_body = {}
        else:
            chat = [{"role": m.role, "content": m.content} for m in messages]
        estimate = estimate_tokens([m.content for m in messages], int(params.get("max_tokens", 1)))
        attempts = [0, 0]  # attempts made, replies without logprobs

        def attempt() -> _Reply:
            attempts[0] += 1
            if self._rate.active:
                self.meter.waited_for_rate(self._rate.acquire(estimate))
            with self._slots or contextlib.nullcontext():
                endpoint = self.pool.acquire()  # least outstanding in rotation: a retry may move elsewhere
                outcome = "interrupted"
                try:
                    if endpoint.rate.active:
                        self.meter.waited_for_rate(endpoint.rate.acquire(estimate))
                    response = self._send(endpoint, chat, extra_body, want_logprobs, params)
                    reply = self._read(endpoint, response, want_logprobs, attempts, raw=raw)
                    outcome = "ok"
                except TransientFault as fault:
                    outcome = fault.cause
                    raise
                except LLMError:
                    outcome = "rejected"
                    raise
                finally:
                    self.pool.release(endpoint, outcome)
            used = reply.usage.prompt_tokens + reply.usage.completion_tokens
            self._rate.settle(estimate, used)
            endpoint.rate.settle(estimate, used)
            return reply

        return call_with_retries(
            attempt,
            policy=self.retry,
            meter=self.meter,
            tokens=lambda r: (r.usage.prompt_tokens, r.usage.completion_tokens),
        )

    def _where(self, endpoint: Endpoint) -> str:
        """How messages name the endpoint of an attempt (and the fleet it belongs to)."""
        if len(self.pool) == 1:
            return self.where
        return f"{endpoint.url} (1 of {self.where})"

    def _send(
        self, endpoint: Endpoint, chat: Any, extra_body: dict[str, Any], want_logprobs: bool, params: dict
    ) -> Any:
        """One HTTP attempt; transient faults become :class:`TransientFault`, the rest one-line errors.

        ``chat`` is a message list (``/chat/completions``) or a prompt string (``/completions``). A body cut off
        mid-transfer (the connection closed before ``Content-Length`` bytes came) is a ``bad_body``, not a
        ``connection`` fault: the server answered, its answer was broken.
        """
        where = self._where(endpoint)
        client = endpoint.client
        try:
            if isinstance(chat, str):
                return client.completions.create(model=self.model, prompt=chat, **params)
            return client.chat.completions.create(
                model=self.model, messages=chat, **({"extra_body": extra_body} if extra_body else {}), **params
            )
        except openai.APITimeoutError as exc:
            raise TransientFault(
                "timeout",
                lambda n, t: BackendUnavailableError(
                    f"{where} did not answer within {self.timeout:g} s, {n} times over {t:.0f} s: check the "
                    "server, or raise --timeout / --retry-budget"
                ),
            ) from exc
        except openai.APIConnectionError as exc:
            if _truncated(exc):
                raise self._bad_body(f"a body cut off mid-transfer ({exc.__cause__ or exc})", where) from exc
            raise TransientFault(
                "connection",
                lambda n, t: BackendUnavailableError(
                    f"{where} is unreachable (connection refused or reset, {n} times over {t:.0f} s): start the "
                    "server, fix --base-url, or raise --retry-budget"
                ),
            ) from exc
        except openai.APIStatusError as exc:
            raise self._status_error(exc, want_logprobs, bool(extra_body), where) from exc
        except (openai.APIResponseValidationError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            raise self._bad_body(f"a body that is not JSON ({exc})", where) from exc

    def _status_error(
        self, exc: openai.APIStatusError, want_logprobs: bool, continued: bool, where: str | None = None
    ) -> Exception:
        status = exc.status_code
        where = where or self.where
        message = " ".join(str(getattr(exc, "message", "") or "").split())[:200]
        wait = retry_after_seconds(exc.response.headers)
        if status == 429:
            return TransientFault(
                "429",
                lambda n, t: BackendUnavailableError(
                    f"{where} kept answering HTTP 429 (rate limited) after {n - 1} retries over {t:.0f} s: lower "
                    "--concurrency, set --rpm/--tpm, or raise --retry-budget (or --max-retries)"
                ),
                wait,
            )
        if status >= 500 or status in (408, 409):
            return TransientFault(
                "5xx" if status >= 500 else "408_409",
                lambda n, t: BackendUnavailableError(
                    f"{where} kept failing with HTTP {status} after {n - 1} retries over {t:.0f} s: retry later or "
                    "raise --retry-budget (or --max-retries)"
                ),
                wait,
            )
        if status in (401, 403):
            return AuthenticationError(
                f"{where} rejected the API key (HTTP {status}): put the right key in {self.api_key_env}, or "
                "name the variable that holds it with --api-key-env"
            )
        if status == 404:
            return RequestRejectedError(
                f"{where} answered HTTP 404 for model {self.model!r} ({message}): check --base-url (it usually "
                "ends in /v1) and --model"
            )
        hints = ["--model"]
        if want_logprobs:
            hints.append("--top-logprobs (the OpenAI API allows at most 20)")
        if continued:
            hints.append("--server-kind")
        return RequestRejectedError(
            f"{where} refused the request for model {self.model!r} (HTTP {status}: {message}): check "
            + ", ".join(hints)
        )

    def _bad_body(self, what: str, where: str | None = None) -> TransientFault:
        where = where or self.where
        return TransientFault(
            "bad_body",
            lambda n, t: BadResponseError(
                f"{where} sent {what}, {n} times over {t:.0f} s: check the server (or a proxy in between), or "
                "raise --retry-budget (or --max-retries)"
            ),
        )

    def _read(
        self, endpoint: Endpoint, response: Any, want_logprobs: bool, attempts: list[int], *, raw: bool = False
    ) -> _Reply:
        """Check one response body; anything unusable is a transient ``bad_body`` fault.

        Log-probabilities are decided per request, never for the whole run from a few replies: once any reply
        has carried them, a reply without them is a ``bad_body`` (retried); before that, a request whose reply
        lacks them is asked once more, and if the second reply lacks them too, this request alone is read
        without them (the caller samples it, as a loud, separately cached downgrade).
        """
        where = self._where(endpoint)
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices or not hasattr(choices[0], "text" if raw else "message"):
            raise self._bad_body("a chat completion without choices", where)
        content = getattr(choices[0], "text", None) if raw else getattr(choices[0].message, "content", None)
        if content is not None and not isinstance(content, str):
            raise self._bad_body("a chat completion whose message is not text", where)
        usage = getattr(response, "usage", None)
        try:
            spent = Usage(
                prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                backend_calls=1,
            )
        except (TypeError, ValueError) as exc:
            raise self._bad_body("a chat completion with malformed usage", where) from exc
        top = (self._top_raw(choices[0]) if raw else self._top(choices[0])) if want_logprobs else None
        if want_logprobs and top is None:
            attempts[1] += 1
            if self._logprobs_ok is True:
                raise self._bad_body("a chat completion without the log-probabilities asked for", where)
            # Not known yet whether this server gives log-probabilities: one confirming attempt for this request.
            if attempts[1] < 2 and (self.retry.max_retries is None or attempts[0] <= self.retry.max_retries):
                raise self._bad_body("a chat completion without the log-probabilities asked for", where)
            with self._lock:
                self._logprobs_missing += 1
        elif want_logprobs:
            with self._lock:
                self._logprobs_ok = True
        return _Reply(text=content or "", top=top, usage=spent)

    @staticmethod
    def _top_raw(choice: Any) -> list[tuple[str, float]] | None:
        """The first token's alternatives of a ``/completions`` choice (``logprobs.top_logprobs[0]``, a dict)."""
        tops = getattr(getattr(choice, "logprobs", None), "top_logprobs", None)
        if not isinstance(tops, list) or not tops or not isinstance(tops[0], dict) or not tops[0]:
            return None
        out = []
        for token, logprob in tops[0].items():
            if not isinstance(token, str) or not isinstance(logprob, int | float) or not logprob <= 0:
                return None
            out.append((token, float(logprob)))
        return out

    def _top(self, choice: Any) -> list[tuple[str, float]] | None:
        """``(token, logprob)`` alternatives for the first generated token; None when absent or malformed."""
        content = getattr(getattr(choice, "logprobs", None), "content", None)
        if not isinstance(content, list) or not content:
            return None
        top = getattr(content[0], "top_logprobs", None)
        if not isinstance(top, list) or not top:
            return None
        out = []
        for alt in top:
            token, logprob = getattr(alt, "token", None), getattr(alt, "logprob", None)
            if not isinstance(token, str) or not isinstance(logprob, int | float) or not logprob <= 0:
                return None
            out.append((token, float(logprob)))
        return out

    # -- bookkeeping ----------------------------------------------------------------------------------------

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """One shared pool for sampled replies (``concurrency`` threads), so nested requests never multiply threads."""
        with self._lock:
            if self._sample_pool is None:
                self._sample_pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.concurrency or 1, thread_name_prefix="llm-samples"
                )
            return self._sample_pool

    def _count(self, method: str) -> None:
        with self._lock:
            self._methods[method] += 1

    def attach_sample_cache(self, cache: Any) -> None:
        """Store each sampled reply in ``cache`` (``cached_generation``/``store_generation``) under its own key."""
        self._sample_cache = cache

    def describe(self) -> dict[str, Any]:
        """How this backend talks to its server, for a run manifest (plain JSON, never the key).

        ``answer_stem`` is ``"continued"`` or ``"folded"`` for this server kind; ``stem_uses`` counts the
        distribution reads made each way; ``distributions`` counts how each distribution was read (``exact_partial``: exact with a
        reported ``missing_mass_bound``; ``sampled_after_topk``: the top-k did not cover the answers).
        """
        with self._lock:
            kind = self._kind
            info = {
                "endpoint": self.where,
                "model": self.model,
                "server_kind": kind or "auto (not detected yet)",
                "server_kind_option": self.server_kind,
                "answer_stem": None if kind is None and self.chat_template is None else self.stem_mode("stem"),
                "stem_via": (
                    "raw completion with the chat template"
                    if self.chat_template is not None
                    else None
                    if kind is None
                    else {"continued": "extra_body continue_final_message", "folded": "instruction"}[
                        stem_mode(kind, "stem")
                    ]
                ),
                "stem_uses": dict(self._uses),
                "distributions": dict(self._methods),
                "logprobs_supported": self._logprobs_ok,
                "logprobs_missing_requests": self._logprobs_missing,
                "downgrades": dict(self._downgrades),
                "top_logprobs": self.top_logprobs,
                "samples": self.samples,
                "timeout_s": self.timeout,
                "max_retries": self.retry.max_retries,
                "retry_budget_s": self.retry.budget_s,
                "concurrency": self.concurrency,
                "rpm": self._rate_limits[0],
                "tpm": self._rate_limits[1],
                "rate_scope": self.rate_scope,
            }
        info["endpoints"] = self.pool.snapshot()
        info["detect"] = self.detect_meter.snapshot()["requests_sent"]
        return info

    def close(self) -> None:
        """Close the HTTP client (its connection pool)."""
        with self._lock:
            pool, self._sample_pool = self._sample_pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self.pool.close()
