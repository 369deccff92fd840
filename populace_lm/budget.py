"""Budgets, accounting and bounded concurrency around any language model.

Order matters: ``CachedModel(AccountingModel(BudgetedModel(backend)))`` (what :func:`populace_lm.config.build_model`
returns). The budget and the accounting sit *inside* the cache, so cache hits are free and uncounted, and
a run stopped by a budget resumes from the cache.

A budget never fabricates an answer (unlike Concordia's budget wrapper, whose stand-in answers bias
distributions): when it runs out it raises :class:`~populace_lm.errors.BudgetExceededError`.

Over HTTP a *call* is one attempt, retries included: a backend with a
:class:`~populace_lm.accounting.TransportMeter` (``.meter``) runs the budget as a gate before each attempt. The
embedded backend makes no retries, so there a call is one request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from populace_lm.accounting import TransportMeter
from populace_lm.base import LanguageModel
from populace_lm.errors import BudgetExceededError
from populace_lm.types import AnswerDistribution, DistributionRequest, Generation, GenerationRequest, Usage

__all__ = ["AccountingModel", "BudgetedModel", "ConcurrencyLimiter", "find_layer", "find_transport", "map_concurrent"]

Request = GenerationRequest | DistributionRequest
Response = Generation | AnswerDistribution


def find_transport(model: Any) -> Any | None:
    """The first layer in a chain linked by ``.inner`` that counts HTTP attempts (has a ``meter``), or None."""
    seen = 0
    while model is not None and seen < 64:
        if isinstance(getattr(model, "meter", None), TransportMeter):
            return model
        model = getattr(model, "inner", None)
        seen += 1
    return None


class BudgetedModel:
    """Stop a run with an error when a call or token budget runs out.

    A *call* is one HTTP attempt for a remote backend (retries included: every attempt costs), and one
    :meth:`generate` or :meth:`answer_distribution` request for a backend without a transport meter (the
    embedded model). The call budget is checked *before* each call, so at most ``max_calls`` calls are ever
    made, even from several threads; a call that raises still counts. The token budget (prompt + completion
    tokens) is checked before each call too: the call that crosses it returns its answer (already paid for),
    and the next call raises.

    Args:
        inner: the model to call.
        max_calls: call limit (``None`` = unlimited).
        max_tokens: token limit (``None`` = unlimited).

    """

    def __init__(self, inner: LanguageModel, *, max_calls: int | None = None, max_tokens: int | None = None):
        for name, value in (("max_calls", max_calls), ("max_tokens", max_tokens)):
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 or None, got {value}")
        self.inner = inner
        self.model_id = inner.model_id
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.calls = 0
        self.tokens = 0
        self._lock = threading.Lock()
        transport = find_transport(inner)
        self.counts_attempts = transport is not None
        if transport is not None:
            transport.meter.add_gate(self._reserve)

    def generate(self, request: GenerationRequest) -> Generation:
        """Check the budget, then call :meth:`~populace_lm.base.LanguageModel.generate`."""
        if not self.counts_attempts:
            self._reserve()
        result = self.inner.generate(request)
        self._spend(result.usage)
        return result

    def answer_distribution(self, request: DistributionRequest) -> AnswerDistribution:
        """Check the budget, then call :meth:`~populace_lm.base.LanguageModel.answer_distribution`."""
        if not self.counts_attempts:
            self._reserve()
        result = self.inner.answer_distribution(request)
        self._spend(result.usage)
        return result

    def remaining(self) -> dict[str, int | None]:
        """Return the calls and tokens left (``None`` = unlimited)."""
        with self._lock:
            return {
                "calls": None if self.max_calls is None else max(self.max_calls - self.calls, 0),
                "tokens": None if self.max_tokens is None else max(self.max_tokens - self.tokens, 0),
            }

    def _reserve(self) -> None:
        fix = "everything computed so far is in the response cache: raise the budget and re-run to resume"
        what = "HTTP requests, retries included" if self.counts_attempts else "backend calls"
        with self._lock:
            if self.max_calls is not None and self.calls >= self.max_calls:
                raise BudgetExceededError(f"call budget of {self.max_calls} ({what}) used up; {fix} (--max-calls)")
            if self.max_tokens is not None and self.tokens >= self.max_tokens:
                raise BudgetExceededError(
                    f"token budget of {self.max_tokens} tokens used up ({self.tokens} spent); {fix}"
                )
            self.calls += 1

    def _spend(self, usage: Usage) -> None:
        with self._lock:
            self.tokens += usage.prompt_tokens + usage.completion_tokens


class AccountingModel:
    """Record calls, tokens and latency per method of the wrapped model, and the run's attempt counts.

    Placed inside the cache it sees only calls that reach the backend; the cache that wraps it reports its
    hits here (``attach_cache``), and a remote backend below it reports every HTTP attempt (its ``meter``).
    """

    _METHODS = ("generate", "answer_distribution")

    def __init__(self, inner: LanguageModel) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] = {m: self._empty() for m in self._METHODS}
        self._caches: list[Any] = []
        self._started = time.perf_counter()

    @staticmethod
    def _empty() -> dict[str, Any]:
        return {
            "calls": 0,
            "errors": 0,
            "backend_calls": 0,
            "cached": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "latency_s": 0.0,
            "latencies_s": [],
        }

    def generate(self, request: GenerationRequest) -> Generation:
        """Time and count :meth:`~populace_lm.base.LanguageModel.generate`."""
        return self._timed("generate", self.inner.generate, request)

    def answer_distribution(self, request: DistributionRequest) -> AnswerDistribution:
        """Time and count :meth:`~populace_lm.base.LanguageModel.answer_distribution`."""
        return self._timed("answer_distribution", self.inner.answer_distribution, request)

    def attach_cache(self, cache: Any) -> None:
        """Report ``cache.stats()`` (hits, misses, stores) in :meth:`summary` (called by the cache wrapping this)."""
        with self._lock:
            if all(c is not cache for c in self._caches):
                self._caches.append(cache)

    def summary(self) -> dict[str, Any]:
        """Return the run's counts as plain JSON (written into a command's ``run.json``).

        Keys:
            ``generate``, ``answer_distribution``, ``total``: per-method records of the requests that reached
            this layer — ``calls``, ``errors``, ``backend_calls``, ``cached`` (answers the inner model served from
            a cache), ``prompt_tokens``, ``completion_tokens``, ``latency_s`` (sum) and ``latencies_s`` (one entry
            per call, in completion order).
            ``transport``: the remote backend's attempt counts (:meth:`TransportMeter.snapshot`), or None.
            ``backend``: how the remote backend talks to its server (``describe()``: server kind, answer stem
            continued or folded, how distributions were read), or None.
            ``cache``: the wrapping cache's ``stats()``, or None.
            ``run``: the flat summary — ``requests_sent``, ``successes``, ``retries`` (by cause),
            ``failures``, ``cache_hits`` (answers plus stored samples), ``prompt_tokens``, ``completion_tokens``,
            ``wall_s`` (since this layer was built). Over HTTP the first four count attempts; for the embedded
            model, requests (it makes no retries).
        """
        with self._lock:
            out: dict[str, Any] = {m: {**r, "latencies_s": list(r["latencies_s"])} for m, r in self._records.items()}
            caches = list(self._caches)
        total = self._empty()
        for record in out.values():
            for k, v in record.items():
                total[k] = total[k] + v
        out["total"] = total
        transport = find_transport(self.inner)
        out["transport"] = transport.meter.snapshot() if transport is not None else None
        out["backend"] = transport.describe() if transport is not None and hasattr(transport, "describe") else None
        cache_stats: dict[str, int] | None = None
        for cache in caches:
            stats = cache.stats()
            cache_stats = stats if cache_stats is None else {k: cache_stats.get(k, 0) + v for k, v in stats.items()}
        out["cache"] = cache_stats
        hits = 0 if cache_stats is None else cache_stats.get("hits", 0) + cache_stats.get("sample_hits", 0)
        if out["transport"] is not None:
            t = out["transport"]
            run = {
                "requests_sent": t["requests_sent"],
                "successes": t["successes"],
                "retries": dict(t["retries"]),
                "failures": t["failures_total"],
                "prompt_tokens": t["prompt_tokens"],
                "completion_tokens": t["completion_tokens"],
            }
        else:
            run = {
                "requests_sent": total["calls"] - total["cached"],
                "successes": total["calls"] - total["cached"] - total["errors"],
                "retries": {},
                "failures": total["errors"],
                "prompt_tokens": total["prompt_tokens"],
                "completion_tokens": total["completion_tokens"],
            }
        run["cache_hits"] = hits
        run["wall_s"] = round(time.perf_counter() - self._started, 6)
        out["run"] = run
        return out

    def _timed(self, method: str, fn: Any, request: Request) -> Any:
        start = time.perf_counter()
        try:
            result = fn(request)
        except Exception:
            elapsed = time.perf_counter() - start
            with self._lock:
                rec = self._records[method]
                rec["calls"] += 1
                rec["errors"] += 1
                rec["latency_s"] += elapsed
                rec["latencies_s"].append(elapsed)
            raise
        elapsed = time.perf_counter() - start
        with self._lock:
            rec = self._records[method]
            rec["calls"] += 1
            rec["cached"] += int(result.cached)
            rec["backend_calls"] += result.usage.backend_calls
            rec["prompt_tokens"] += result.usage.prompt_tokens
            rec["completion_tokens"] += result.usage.completion_tokens
            rec["latency_s"] += elapsed
            rec["latencies_s"].append(elapsed)
        return result


class ConcurrencyLimiter:
    """Allow at most ``max_concurrent`` calls in flight to ``inner`` at once, whatever the number of threads.

    Args:
        inner: the model to call (typically a remote endpoint).
        max_concurrent: the bound.

    """

    def __init__(self, inner: LanguageModel, *, max_concurrent: int) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
        self.inner = inner
        self.model_id = inner.model_id
        self.max_concurrent = max_concurrent
        self._slots = threading.BoundedSemaphore(max_concurrent)

    def generate(self, request: GenerationRequest) -> Generation:
        """Wait for a free slot, then call :meth:`~populace_lm.base.LanguageModel.generate`."""
        with self._slots:
            return self.inner.generate(request)

    def answer_distribution(self, request: DistributionRequest) -> AnswerDistribution:
        """Wait for a free slot, then call :meth:`~populace_lm.base.LanguageModel.answer_distribution`."""
        with self._slots:
            return self.inner.answer_distribution(request)


def _call(model: LanguageModel, request: Request) -> Response:
    if isinstance(request, GenerationRequest):
        return model.generate(request)
    if isinstance(request, DistributionRequest):
        return model.answer_distribution(request)
    raise TypeError(f"expected GenerationRequest or DistributionRequest, got {type(request).__name__}")


def map_concurrent(model: LanguageModel, requests: Iterable[Request], *, max_workers: int = 4) -> list[Any]:
    """Run requests through ``model`` on at most ``max_workers`` threads; results come back in input order.

    Each :class:`~populace_lm.types.GenerationRequest` goes to ``generate`` and each
    :class:`~populace_lm.types.DistributionRequest` to ``answer_distribution``. On the first error (in input order)
    the requests not yet started are cancelled, those in flight finish (and are cached if ``model`` caches),
    and the error is raised.

    Args:
        model: any language model; it must be safe to call from several threads (all of ``populace_lm`` is).
        requests: the requests.
        max_workers: the concurrency bound.

    Returns:
        One :class:`~populace_lm.types.Generation` or :class:`~populace_lm.types.AnswerDistribution` per request.

    """
    if max_workers < 1:
        raise ValueError(f"max_workers must be >= 1, got {max_workers}")
    items: Sequence[Request] = list(requests)
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="llm") as pool:
        futures: list[Future] = [pool.submit(_call, model, r) for r in items]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def find_layer(model: Any, cls: type) -> Any | None:
    """Return the first wrapper of type ``cls`` in a chain linked by ``.inner``, or ``None``.

    Example: ``find_layer(build_model(config), AccountingModel).summary()`` reports the backend calls.
    """
    seen = 0
    while model is not None and seen < 64:
        if isinstance(model, cls):
            return model
        model = getattr(model, "inner", None)
        seen += 1
    return None
