"""Client-side rate limits: token buckets for requests per minute and tokens per minute.

In the spirit of EDSL's buckets: each attempt first takes one token from the request bucket (``--rpm``) and its
estimated size from the token bucket (``--tpm``); once the reply reports its real size the difference is settled.
A bucket refills continuously at ``rate / 60`` per second and holds at most one second's worth (at least one
request, or one request's tokens), so a run starts at the allowed pace instead of bursting a minute's quota into a
provider that enforces its limits per second. Hosted APIs answer a burst with a storm of 429s; pacing here avoids
it, and the retry loop still honours any 429 that gets through.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["RateLimiter", "TokenBucket", "estimate_tokens"]


class TokenBucket:
    """A thread-safe token bucket.

    Args:
        rate_per_s: refill rate (tokens per second), > 0.
        capacity: the most the bucket holds; it starts full.
        clock: monotonic time source (tests pass a fake).
        sleep: how to wait.
    """

    def __init__(
        self,
        rate_per_s: float,
        capacity: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate_per_s > 0 or not capacity > 0:
            raise ValueError(f"a token bucket needs rate > 0 and capacity > 0, got {rate_per_s} and {capacity}")
        self.rate = float(rate_per_s)
        self.capacity = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._level = self.capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now

    def acquire(self, amount: float = 1.0) -> float:
        """Take ``amount`` tokens, waiting until they are there; returns the seconds waited.

        An ``amount`` above the capacity waits for a full bucket and then takes it all (the level goes negative,
        so later callers wait for the debt to refill).
        """
        need = min(float(amount), self.capacity)
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                if self._level >= need:
                    self._level -= float(amount)
                    return waited
                wait = (need - self._level) / self.rate
            self._sleep(wait)
            waited += wait

    def settle(self, delta: float) -> None:
        """Give back ``delta`` tokens (negative = take more), e.g. the estimate minus the real size."""
        with self._lock:
            self._refill()
            self._level = min(self.capacity, self._level + float(delta))


def estimate_tokens(texts: list[str], max_tokens: int) -> int:
    """A request's size before it is sent: about four characters per prompt token, plus the completion limit."""
    return math.ceil(sum(len(t) for t in texts) / 4) + int(max_tokens)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits (``None`` = unlimited).

    Args:
        rpm: requests per minute (``--rpm``).
        tpm: tokens per minute, prompt + completion (``--tpm``).
    """

    def __init__(self, *, rpm: float | None = None, tpm: float | None = None, **bucket_kw: Callable) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or unset, got {value!r}: fix --{name}")
        self.rpm = rpm
        self.tpm = tpm
        self._requests = TokenBucket(rpm / 60.0, max(1.0, rpm / 60.0), **bucket_kw) if rpm else None
        self._tokens = TokenBucket(tpm / 60.0, max(1.0, tpm / 60.0), **bucket_kw) if tpm else None

    @property
    def active(self) -> bool:
        """True when any limit is set."""
        return self._requests is not None or self._tokens is not None

    def acquire(self, estimated_tokens: int) -> float:
        """Wait until one more request of about ``estimated_tokens`` tokens may go; returns the seconds waited."""
        waited = 0.0
        if self._requests is not None:
            waited += self._requests.acquire(1.0)
        if self._tokens is not None:
            waited += self._tokens.acquire(float(estimated_tokens))
        return waited

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        """Correct the token bucket once a reply reports its real size."""
        if self._tokens is not None:
            self._tokens.settle(float(estimated_tokens - actual_tokens))
