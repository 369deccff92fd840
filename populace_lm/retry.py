"""The one retry loop of the remote backend: exponential backoff with jitter, ``Retry-After`` honoured.

Why one loop of our own and not the ``openai`` client's: the client retries status codes and connection errors,
but not a 200 whose body is garbage, and its attempts are invisible (a budget cannot count them, a run summary
cannot report them). Stacking a second loop for bad bodies around the client's would multiply the two retry
counts. So the client is built with ``max_retries=0`` and every transient fault — HTTP 408/409/429/5xx,
connection errors and resets, timeouts, unusable 200 bodies — is retried here, each attempt reported to a
:class:`~populace_lm.accounting.TransportMeter`.

Limits: a *time budget* per request (``budget_s``, ``--retry-budget``, default 300 s): a request is retried as
long as its next attempt would start within ``budget_s`` seconds of its first, so an outage shorter than the budget
(a server restart, a minute of 503s) does not end a long run. An optional count limit (``max_retries``,
``--max-retries``; ``None`` = no count limit) applies as well.

Backoff: retry ``n`` (0-based) sleeps ``d * U(0.5, 1)`` with ``d = min(max_backoff, initial_backoff * 2**n)``
("equal jitter": spreads clients apart without ever retrying at once), unless the server sent ``Retry-After``
(or ``retry-after-ms``), which is followed up to ``max_retry_after`` seconds. The jitter uses an unseeded
generator: it changes timing only, never an answer.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from populace_lm.accounting import RETRY_CAUSES, TransportMeter
from populace_lm.errors import LLMError

__all__ = ["RetryPolicy", "TransientFault", "call_with_retries", "retry_after_seconds"]

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry a transient fault.

    Attributes:
        max_retries: retries after the first attempt (``--max-retries``); 0 = fail on the first fault; ``None`` =
            no count limit (the time budget alone decides).
        budget_s: seconds from a request's first attempt within which a retry may start (``--retry-budget``).
        initial_backoff: seconds before the first retry (before jitter).
        max_backoff: cap of the exponential backoff, seconds.
        max_retry_after: the longest server-requested wait (``Retry-After``) that is followed; longer requests
            wait this long.
    """

    max_retries: int | None = None
    budget_s: float = 300.0
    initial_backoff: float = 0.25
    max_backoff: float = 20.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_retries is not None and (
            isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0
        ):
            raise ValueError(f"max retries must be an integer >= 0, got {self.max_retries!r}: fix --max-retries")
        if not (isinstance(self.budget_s, int | float) and math.isfinite(self.budget_s) and self.budget_s >= 0):
            raise ValueError(f"the retry budget must be >= 0 seconds, got {self.budget_s!r}: fix --retry-budget")
        for name in ("initial_backoff", "max_backoff", "max_retry_after"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {getattr(self, name)!r}")

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to sleep before retry number ``retry`` (0-based)."""
        if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        cap = min(self.max_backoff, self.initial_backoff * 2.0 ** min(retry, 60))
        return cap * (0.5 + 0.5 * rng.random())


class TransientFault(Exception):
    """Raised by one attempt for a fault worth retrying.

    Args:
        cause: one of :data:`~populace_lm.accounting.RETRY_CAUSES`.
        error: the error to raise if no retry is left (a one-line :class:`~populace_lm.errors.LLMError`), or a
            function ``(attempts, seconds) -> LLMError`` that words it with the attempts made and the seconds spent.
        retry_after: seconds the server asked to wait, if it said.
    """

    def __init__(
        self, cause: str, error: LLMError | Callable[[int, float], LLMError], retry_after: float | None = None
    ) -> None:
        if cause not in RETRY_CAUSES:
            raise ValueError(f"unknown retry cause {cause!r}")
        super().__init__(str(error) if isinstance(error, LLMError) else cause)
        self.cause = cause
        self.error = error
        self.retry_after = retry_after

    def final_error(self, attempts: int, seconds: float) -> LLMError:
        """The error to raise when the request is given up after ``attempts`` attempts over ``seconds``."""
        return self.error if isinstance(self.error, LLMError) else self.error(attempts, seconds)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date); None if absent.

    >>> retry_after_seconds({"retry-after-ms": "250"}), retry_after_seconds({"retry-after": "2"})
    (0.25, 2.0)
    """
    if not headers:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    value = headers.get("retry-after")
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())
    return None


def call_with_retries(
    attempt: Callable[[], T],
    *,
    policy: RetryPolicy,
    meter: TransportMeter,
    tokens: Callable[[T], tuple[int, int]] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``attempt()`` until it returns, retrying each :class:`TransientFault` within the policy's limits.

    A retry happens when the count limit (``policy.max_retries``, if set) is not reached and the retry would start
    within ``policy.budget_s`` seconds of the first attempt (a backoff is shortened to end at the deadline, so the
    last attempt is made at the deadline rather than skipped).

    Before every attempt the meter's gates run (a budget may raise there) and the attempt is counted as sent.
    A returned value counts as a success (with ``tokens(result)`` = ``(prompt, completion)`` tokens when given).
    Any other exception is a non-transient failure: counted and raised at once.

    Raises:
        LLMError: the last fault's ``error`` when no retry is left.
    """
    rng = rng or random.Random()
    start = clock()
    retry = 0
    while True:
        meter.check_gates()
        meter.sent()
        try:
            result = attempt()
        except TransientFault as fault:
            left = policy.budget_s - (clock() - start)
            if (policy.max_retries is not None and retry >= policy.max_retries) or left <= 0:
                meter.failed(fault.cause)
                raise fault.final_error(retry + 1, clock() - start) from fault
            wait = min(policy.delay(retry, fault.retry_after, rng), left)
            retry += 1
            meter.retried(fault.cause, wait)
            if wait > 0:
                sleep(wait)
        except LLMError:
            meter.failed("rejected")
            raise
        except BaseException:
            meter.failed("interrupted")
            raise
        else:
            meter.succeeded(*(tokens(result) if tokens else (0, 0)))
            return result
