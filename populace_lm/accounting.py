"""Counting every HTTP attempt a remote backend makes, and one-line run summaries.

A :class:`TransportMeter` belongs to one remote backend (:class:`~populace_lm.openai_compat.OpenAICompatible`). The
backend's single retry loop (:mod:`populace_lm.retry`) reports each attempt to it: sent, succeeded, failed with a
transient cause and retried, or failed for good. So the counts answer "how many requests did the server see, and
why were some repeated?" and can be checked against a server's own counters:

    ``requests_sent == successes + sum(retries.values()) + failures``

Budgets hook in as *gates*: callables run before each attempt (:meth:`TransportMeter.add_gate`), so a call
budget counts attempts, retries included (:class:`~populace_lm.budget.BudgetedModel`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["RETRY_CAUSES", "TransportMeter", "format_summary"]

RETRY_CAUSES = ("429", "5xx", "408_409", "timeout", "connection", "bad_body")
"""Why an attempt was retried: HTTP 429; HTTP 5xx; HTTP 408/409; a client timeout; a refused or reset connection;
a 200 whose body is not a usable chat completion (garbage or truncated JSON, no ``choices``, missing logprobs)."""


class TransportMeter:
    """Thread-safe counts of the HTTP attempts of one backend.

    Attributes (read them through :meth:`snapshot`):
        requests_sent: attempts sent (a retry is a new attempt).
        successes: attempts that returned a usable chat completion.
        retries: transient failures that were retried, by cause (:data:`RETRY_CAUSES`).
        failures: requests given up (the last attempt of each), by cause; non-transient errors are ``"rejected"``.
        prompt_tokens, completion_tokens: tokens reported by successful attempts.
        backoff_s: seconds slept between attempts; rate_wait_s: seconds waited for the rate limiter.
        detect_requests: ``GET /models`` requests made to detect the server kind (not chat attempts).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gates: list[Callable[[], None]] = []
        self._c: dict[str, Any] = {
            "requests_sent": 0,
            "successes": 0,
            "retries": dict.fromkeys(RETRY_CAUSES, 0),
            "failures": {},
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "backoff_s": 0.0,
            "rate_wait_s": 0.0,
            "detect_requests": 0,
        }

    # -- gates ----------------------------------------------------------------------------------------------

    def add_gate(self, gate: Callable[[], None]) -> None:
        """Run ``gate()`` before every attempt; it may raise (e.g. a budget error) to stop the attempt."""
        with self._lock:
            self._gates.append(gate)

    def check_gates(self) -> None:
        """Run every gate (called by the retry loop right before an attempt is sent)."""
        for gate in list(self._gates):
            gate()

    # -- events ---------------------------------------------------------------------------------------------

    def sent(self) -> None:
        """One attempt went out."""
        with self._lock:
            self._c["requests_sent"] += 1

    def succeeded(self, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        """The attempt gave a usable chat completion."""
        with self._lock:
            self._c["successes"] += 1
            self._c["prompt_tokens"] += int(prompt_tokens)
            self._c["completion_tokens"] += int(completion_tokens)

    def retried(self, cause: str, slept: float) -> None:
        """The attempt failed transiently with ``cause`` and will be repeated after ``slept`` seconds."""
        if cause not in RETRY_CAUSES:
            raise ValueError(f"unknown retry cause {cause!r}; known: {RETRY_CAUSES}")
        with self._lock:
            self._c["retries"][cause] += 1
            self._c["backoff_s"] += slept

    def failed(self, cause: str) -> None:
        """The request was given up after this attempt (retries exhausted, or a non-transient error)."""
        with self._lock:
            self._c["failures"][cause] = self._c["failures"].get(cause, 0) + 1

    def waited_for_rate(self, seconds: float) -> None:
        """Time spent waiting for the client-side rate limiter."""
        with self._lock:
            self._c["rate_wait_s"] += seconds

    def detected(self) -> None:
        """One server-detection request (``GET /models``)."""
        with self._lock:
            self._c["detect_requests"] += 1

    # -- reading --------------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Plain-JSON copy of the counts, with ``retries_total`` and ``failures_total`` added."""
        with self._lock:
            out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self._c.items()}
        out["retries_total"] = sum(out["retries"].values())
        out["failures_total"] = sum(out["failures"].values())
        out["backoff_s"] = round(out["backoff_s"], 6)
        out["rate_wait_s"] = round(out["rate_wait_s"], 6)
        return out


def format_summary(summary: Mapping[str, Any]) -> str:
    """One line for a terminal from :meth:`populace_lm.budget.AccountingModel.summary`'s ``"run"`` record.

    >>> format_summary({"requests_sent": 12, "successes": 10, "retries": {"429": 2, "5xx": 0}, "failures": 0,
    ...                 "cache_hits": 5, "prompt_tokens": 900, "completion_tokens": 30, "wall_s": 3.21})
    '12 requests sent, 10 ok, 2 retried (429: 2), 0 failed, 5 cache hits, 930 tokens, 3.2 s'
    """
    run = summary.get("run", summary)
    retries = {k: v for k, v in dict(run.get("retries", {})).items() if v}
    causes = ", ".join(f"{k}: {v}" for k, v in retries.items())
    retried = f"{sum(retries.values())} retried" + (f" ({causes})" if causes else "")
    tokens = int(run.get("prompt_tokens", 0)) + int(run.get("completion_tokens", 0))
    return (
        f"{run.get('requests_sent', 0)} requests sent, {run.get('successes', 0)} ok, {retried}, "
        f"{run.get('failures', 0)} failed, {run.get('cache_hits', 0)} cache hits, {tokens} tokens, "
        f"{float(run.get('wall_s', 0.0)):.1f} s"
    )
