"""Many OpenAI-compatible endpoints behind one client: the URL list, least-outstanding routing and health.

A fleet of servers that serve the *same model* (e.g. vLLM replicas) is named by one ``--base-url``:

* a comma-separated list, ``--base-url http://gpu1:8000/v1,http://gpu2:8000/v1``;
* or a file of URLs, one per line (``#`` starts a comment), each optionally followed by its own limits::

      http://gpu1:8000/v1  rpm=600
      http://gpu2:8000/v1  rpm=600 tpm=200000

:func:`parse_endpoints` reads either form; a bad entry is a one-line :class:`~populace_lm.errors.ConfigError`
naming the entry (and the line of the file) and the fix, raised when the backend is built, before any request.

Routing (:class:`EndpointPool`): every *attempt* — a retry too — goes to the endpoint in rotation with the fewest
requests outstanding (ties: the one used least recently), the policy of ``vllm-router``'s and Envoy's
least-request balancers, so a slow or busy replica gets less work and a retry may move to another endpoint.

Health: an endpoint whose attempts fail ``eject_after`` times in a row with a sign of a sick server (refused or
reset connection, timeout, HTTP 5xx, an unusable body) is taken out of rotation for a cooldown (``cooldown_s``,
doubling per ejection up to ``max_cooldown_s``). When its cooldown is over, one real attempt is let through as a
probe: a success puts it back in rotation (cooldown reset), a failure ejects it again. An HTTP 429 does not eject
(the server is healthy, only busy). When every endpoint is out of rotation, the one whose cooldown ends first is
tried (the retry loop's backoff and time budget bound how long that goes on).

Counts per endpoint (:meth:`EndpointPool.snapshot`, in ``run.json`` under the backend's ``endpoints``): attempts
sent, successes, transient faults by cause (retried, or the last attempt of a request given up), non-transient
rejections, ejections, probes and the current state.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from populace_lm.accounting import RETRY_CAUSES
from populace_lm.errors import ConfigError
from populace_lm.ratelimit import RateLimiter

__all__ = ["SICK_CAUSES", "Endpoint", "EndpointPool", "EndpointSpec", "parse_endpoints"]

SICK_CAUSES = frozenset({"connection", "timeout", "5xx", "bad_body", "408_409"})
"""Transient causes that count towards ejecting an endpoint (HTTP 429 does not: a busy server is a healthy one)."""

_FIX = "fix --base-url (POPULACE_BASE_URL): URLs such as http://host:8000/v1, comma-separated, or a file of them"


@dataclass(frozen=True)
class EndpointSpec:
    """One endpoint of a fleet.

    Attributes:
        url: the ``/v1`` base URL.
        rpm: this endpoint's own requests-per-minute limit (from a URL file), or None.
        tpm: this endpoint's own tokens-per-minute limit (from a URL file), or None.
    """

    url: str
    rpm: float | None = None
    tpm: float | None = None


def _check_url(url: str, where: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or " " in url:
        raise ConfigError(f"{where}: {url!r} is not an http(s) URL: {_FIX}")
    try:
        parsed.port  # noqa: B018 — raises on a port that is not a number
    except ValueError:
        raise ConfigError(f"{where}: {url!r} has a port that is not a number: {_FIX}") from None
    return url.rstrip("/")


def _limit(token: str, where: str) -> tuple[str, float]:
    name, _, value = token.partition("=")
    if name not in ("rpm", "tpm") or not value:
        raise ConfigError(f"{where}: unknown setting {token!r} (a URL line takes rpm=N and tpm=N): {_FIX}")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise ConfigError(f"{where}: {name} must be a number > 0, got {value!r}: {_FIX}")
    return name, number


def parse_endpoints(spec: str) -> tuple[EndpointSpec, ...]:
    """The endpoints named by one ``--base-url`` value: a URL, comma-separated URLs, or a file of URLs.

    A value that is not a URL list and names an existing file is read as a file: one URL per line, optionally
    followed by ``rpm=N`` and ``tpm=N``; blank lines and ``#`` comments are skipped.

    Raises:
        ConfigError: an entry that is not an http(s) URL, a duplicate, an empty list, an unreadable file or a bad
            ``rpm``/``tpm``, naming the entry (and the file's line) and the fix.

    >>> [e.url for e in parse_endpoints("http://a:8000/v1, http://b:8000/v1/")]
    ['http://a:8000/v1', 'http://b:8000/v1']
    """
    text = spec.strip()
    entries: list[tuple[str, list[str]]] = []  # (where, tokens)
    looks_like_urls = "://" in text.split(",", 1)[0]
    path = Path(text).expanduser()
    if not looks_like_urls and text and path.is_file():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the URL file {path} ({exc}): {_FIX}") from exc
        for number, line in enumerate(lines, start=1):
            tokens = line.split("#", 1)[0].split()
            if tokens:
                entries.append((f"{path} line {number}", tokens))
        if not entries:
            raise ConfigError(f"the URL file {path} lists no URL: {_FIX}")
    else:
        for i, item in enumerate(text.split(","), start=1):
            item = item.strip()
            if not item:
                raise ConfigError(f"--base-url {spec!r}: entry {i} is empty: {_FIX}")
            entries.append((f"--base-url entry {i}", [item]))
    out: list[EndpointSpec] = []
    seen: dict[str, str] = {}
    for where, tokens in entries:
        url = _check_url(tokens[0], where)
        if url in seen:
            raise ConfigError(f"{where}: {url} is listed twice (also {seen[url]}): {_FIX}")
        seen[url] = where
        limits = dict(_limit(t, where) for t in tokens[1:])
        out.append(EndpointSpec(url=url, rpm=limits.get("rpm"), tpm=limits.get("tpm")))
    return tuple(out)


class Endpoint:
    """One endpoint's client, limits, load and health (mutated under the pool's lock).

    Attributes:
        url: its base URL.
        client: whatever the pool's ``make_client`` built for it (an ``openai.OpenAI``).
        rate: its own rate limiter (per-endpoint limits), possibly inactive.
        outstanding: attempts in flight now.
    """

    def __init__(self, spec: EndpointSpec, client: Any, rate: RateLimiter) -> None:
        self.url = spec.url
        self.spec = spec
        self.client = client
        self.rate = rate
        self.outstanding = 0
        self.last_used = 0
        self.consecutive_failures = 0
        self.ejected_until: float | None = None
        self.cooldown_s = 0.0
        self.probing = False
        self.counts: dict[str, Any] = {
            "requests_sent": 0,
            "successes": 0,
            "faults": dict.fromkeys(RETRY_CAUSES, 0),
            "rejected": 0,
            "interrupted": 0,
            "ejections": 0,
            "probes": 0,
            "detect_requests": 0,
        }

    def snapshot(self, now: float) -> dict[str, Any]:
        """Plain-JSON counts and state of this endpoint."""
        if self.ejected_until is None:
            state = "in rotation"
        elif self.probing:
            state = "probing"
        else:
            state = f"out of rotation (re-probed in {max(0.0, self.ejected_until - now):.1f} s)"
        counts = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.counts.items()}
        counts["faults_total"] = sum(counts["faults"].values())
        return {"url": self.url, "state": state, "outstanding": self.outstanding, **counts}


class EndpointPool:
    """Least-outstanding-requests routing over endpoints, with ejection and re-probing of failing ones.

    Args:
        specs: the endpoints (:func:`parse_endpoints`).
        make_client: builds the client of one URL.
        rpm: requests-per-minute limit of each endpoint (``--rpm`` with ``--rate-scope endpoint``); an
            endpoint's own ``rpm=`` in a URL file wins.
        tpm: the same for tokens per minute.
        eject_after: consecutive sick failures that take an endpoint out of rotation.
        cooldown_s: first cooldown, seconds (doubles per ejection).
        max_cooldown_s: cap of the cooldown.
        clock: monotonic time source (tests pass a fake).
    """

    def __init__(
        self,
        specs: tuple[EndpointSpec, ...],
        make_client: Callable[[str], Any],
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        eject_after: int = 3,
        cooldown_s: float = 2.0,
        max_cooldown_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not specs:
            raise ConfigError(f"no endpoint given: {_FIX}")
        self.endpoints = [
            Endpoint(s, make_client(s.url), RateLimiter(rpm=s.rpm or rpm, tpm=s.tpm or tpm)) for s in specs
        ]
        self.eject_after = eject_after
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._uses = 0

    def __len__(self) -> int:
        return len(self.endpoints)

    def acquire(self, *, detect: bool = False) -> Endpoint:
        """The endpoint for the next attempt (counted as outstanding and sent there until :meth:`release`).

        ``detect=True``: a server-detection request (``GET /models``), counted apart from the chat attempts.
        """
        with self._lock:
            now = self._clock()
            chosen: Endpoint | None = None
            healthy = [e for e in self.endpoints if e.ejected_until is None]
            if healthy:
                chosen = min(healthy, key=lambda e: (e.outstanding, e.last_used))
            due = [
                e for e in self.endpoints if e.ejected_until is not None and e.ejected_until <= now and not e.probing
            ]
            if due and (chosen is None or chosen.outstanding > 0):  # a cooled-down endpoint gets one probe
                chosen = min(due, key=lambda e: e.ejected_until or 0.0)
                chosen.probing = True
                chosen.counts["probes"] += 1
            if chosen is None:  # all out of rotation: the one whose cooldown ends first
                chosen = min(self.endpoints, key=lambda e: (e.ejected_until or 0.0, e.outstanding))
            self._uses += 1
            chosen.last_used = self._uses
            chosen.outstanding += 1
            chosen.counts["detect_requests" if detect else "requests_sent"] += 1
            return chosen

    def release(self, endpoint: Endpoint, outcome: str, *, detect: bool = False) -> None:
        """Record how an attempt at ``endpoint`` ended: ``"ok"``, a transient cause, ``"rejected"`` or ``"interrupted"``.

        So per endpoint ``requests_sent == successes + faults_total + rejected + interrupted`` once nothing is in
        flight.
        """
        with self._lock:
            endpoint.outstanding -= 1
            was_probe, endpoint.probing = endpoint.probing, False
            if detect:  # counted as a detection request only; its outcome still tells the endpoint's health
                pass
            elif outcome == "ok":
                endpoint.counts["successes"] += 1
            elif outcome in ("rejected", "interrupted"):
                endpoint.counts[outcome] += 1
            else:
                endpoint.counts["faults"][outcome] += 1
            if outcome == "ok":
                endpoint.consecutive_failures = 0
                endpoint.ejected_until = None
                endpoint.cooldown_s = 0.0
                return
            if outcome not in SICK_CAUSES:
                return
            endpoint.consecutive_failures += 1
            if was_probe or (endpoint.ejected_until is None and endpoint.consecutive_failures >= self.eject_after):
                endpoint.cooldown_s = min(self.max_cooldown_s, max(self.cooldown_s, 2 * endpoint.cooldown_s))
                endpoint.ejected_until = self._clock() + endpoint.cooldown_s
                endpoint.counts["ejections"] += 1

    def snapshot(self) -> list[dict[str, Any]]:
        """Per-endpoint counts and state, in the order given."""
        with self._lock:
            now = self._clock()
            return [e.snapshot(now) for e in self.endpoints]

    def close(self) -> None:
        """Close every endpoint's client."""
        for endpoint in self.endpoints:
            close = getattr(endpoint.client, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):  # closing the others matters more
                    close()
