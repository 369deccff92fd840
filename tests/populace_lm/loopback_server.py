"""A loopback HTTP server that imitates an OpenAI-compatible endpoint for tests and benchmarks, with fault injection.

It listens on ``127.0.0.1`` only, on a free port chosen by the OS, and answers ``POST /v1/chat/completions`` (and
``POST /v1/completions``, recorded in ``server.paths``) from a handler you give it (and ``GET /v1/models`` from ``models``)::

    def handler(body: dict, n: int) -> Reply:
        return Reply(200, chat_completion("4"))

    with LoopbackServer(handler) as server:
        client = OpenAICompatible(model="m", base_url=server.base_url, api_key="none")

The server records every request body (``server.requests``) so tests can count retries and check seeds.

:class:`FaultyHandler` wraps a handler and injects the faults of a busy server, a proxy or a free-tier API on a bad
day — HTTP 429 (with ``retry-after-ms``), HTTP 500, a 200 with a garbage or truncated body, a reset connection,
a reply delayed ("hang") — and counts what it did (``counters``), so a test can compare the client's accounting
with the server's. Whether a request is faulted is a function of the request body, how many times that same body
was seen before and a seed, never of thread timing: the same run gives the same faults.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FaultMix",
    "FaultyHandler",
    "LoopbackServer",
    "Reply",
    "chat_completion",
    "text_completion",
    "top_logprobs_content",
]


@dataclass
class Reply:
    """What the server sends back.

    Attributes:
        status: HTTP status.
        body: a dict (sent as JSON) or raw bytes.
        headers: extra headers.
        delay: seconds to wait before replying.
        reset: close the connection without any reply.
        cut_at: send the status, the headers (with the full ``Content-Length``) and only this many bytes of the
            body, then close the connection: a body truncated mid-transfer.
    """

    status: int
    body: dict[str, Any] | bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False
    cut_at: int | None = None


Handler = Callable[[dict[str, Any], int], Reply]


def top_logprobs_content(token_probs: Mapping[str, float], *, chosen: str | None = None) -> dict[str, Any]:
    """A ``choices[0].logprobs`` object for one generated token with the given top alternatives."""
    top = [
        {"token": tok, "logprob": math.log(p), "bytes": list(tok.encode())}
        for tok, p in sorted(token_probs.items(), key=lambda kv: -kv[1])
    ]
    first = top[0] if chosen is None else next(t for t in top if t["token"] == chosen)
    return {"content": [{**first, "top_logprobs": top}], "refusal": None}


def chat_completion(
    content: str,
    *,
    logprobs: dict[str, Any] | None = None,
    prompt_tokens: int = 10,
    completion_tokens: int = 1,
    model: str = "loopback",
) -> dict[str, Any]:
    """A minimal, valid chat-completion body."""
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": logprobs,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def text_completion(text: str, *, top_logprobs: Mapping[str, float] | None = None) -> dict[str, Any]:
    """A minimal, valid ``/v1/completions`` body; ``top_logprobs`` gives the first token's alternatives."""
    logprobs = None
    if top_logprobs is not None:
        logprobs = {
            "tokens": [text],
            "token_logprobs": [math.log(top_logprobs.get(text, 1e-9))],
            "top_logprobs": [{tok: math.log(p) for tok, p in top_logprobs.items()}],
            "text_offset": [0],
        }
    return {
        "id": "cmpl-loopback",
        "object": "text_completion",
        "created": 0,
        "model": "loopback",
        "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    }


@dataclass(frozen=True)
class FaultMix:
    """Probabilities of each injected fault (they are exclusive; the rest of the requests are answered normally).

    Attributes:
        p429: HTTP 429 with ``retry-after-ms: retry_after_ms``.
        p500: HTTP 500.
        garbage: a 200 whose body is not a usable chat completion (cycling through garbage text, truncated JSON,
            JSON without ``choices``, and — for requests asking for log-probabilities, once the server has
            answered some with them — a completion with the log-probabilities missing).
        reset: the connection is closed without a reply.
        hang: the normal reply is delayed by ``hang_s`` (choose it below the client's timeout).
        stall: the reply is delayed by ``stall_s`` (choose it above the client's timeout: the client times out).
        truncate: the normal reply's body is cut off mid-transfer (the connection closes before ``Content-Length``
            bytes were sent).
        latency: seconds every reply waits (the server's service time).
        seed: decides which requests are faulted.
    """

    p429: float = 0.0
    p500: float = 0.0
    garbage: float = 0.0
    reset: float = 0.0
    hang: float = 0.0
    stall: float = 0.0
    truncate: float = 0.0
    hang_s: float = 0.05
    stall_s: float = 1.0
    latency: float = 0.0
    retry_after_ms: int = 1
    seed: int = 0

    @property
    def fault_rate(self) -> float:
        """Probability that an attempt fails (hangs are slow successes)."""
        return self.p429 + self.p500 + self.garbage + self.reset + self.stall + self.truncate


_GARBAGE = (
    b"<html><body>502 Bad Gateway</body></html>",
    b'{"id": "chatcmpl-x", "object": "chat.completion", "choices": [{"index": 0, "mess',
    b'{"object": "error", "message": "upstream hiccup"}',
)


class FaultyHandler:
    """Wrap a handler with deterministic fault injection and server-side counters.

    Args:
        inner: the handler giving normal replies.
        mix: the fault probabilities.

    Attributes:
        counters: ``received``, ``ok`` (normal replies, hung or not), ``429``, ``500``, ``garbage``, ``reset``,
            ``hang``, ``stall``, ``truncate``.
    """

    def __init__(self, inner: Handler, mix: FaultMix) -> None:
        self.inner = inner
        self.mix = mix
        self.counters: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._served_logprobs = False

    def _draw(self, body: dict[str, Any]) -> float:
        blob = json.dumps(body, sort_keys=True).encode()
        digest = hashlib.sha256(blob).hexdigest()
        with self._lock:
            occurrence = self._seen[digest]
            self._seen[digest] += 1
        u = hashlib.sha256(f"{self.mix.seed}:{digest}:{occurrence}".encode()).digest()
        return int.from_bytes(u[:8], "big") / 2**64

    def __call__(self, body: dict[str, Any], n: int) -> Reply:
        m = self.mix
        u = self._draw(body)
        edges = [
            ("429", m.p429),
            ("500", m.p500),
            ("garbage", m.garbage),
            ("reset", m.reset),
            ("stall", m.stall),
            ("truncate", m.truncate),
            ("hang", m.hang),
        ]
        outcome, lo = "ok", 0.0
        for name, p in edges:
            if lo <= u < lo + p:
                outcome = name
                break
            lo += p
        with self._lock:
            self.counters["received"] += 1
            if outcome != "ok":
                self.counters[outcome] += 1
            if outcome in ("ok", "hang"):
                self.counters["ok"] += 1
            served_logprobs = self._served_logprobs
            garbage_index = self.counters["garbage"]
        delay = m.latency
        if outcome == "429":
            return Reply(429, {"error": {"message": "rate limited"}}, {"retry-after-ms": str(m.retry_after_ms)}, delay)
        if outcome == "500":
            return Reply(500, {"error": {"message": "internal error"}}, delay=delay)
        if outcome == "reset":
            return Reply(200, b"", delay=delay, reset=True)
        if outcome == "garbage":
            if body.get("logprobs") and served_logprobs and garbage_index % 4 == 0:
                reply = self.inner(body, n)
                stripped = json.loads(json.dumps(reply.body))
                stripped["choices"][0]["logprobs"] = None
                return Reply(200, stripped, delay=delay)
            return Reply(200, _GARBAGE[garbage_index % len(_GARBAGE)], delay=delay)
        reply = self.inner(body, n)
        if outcome == "truncate":
            size = len(reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode())
            reply.cut_at = size // 2
            reply.delay += delay
            return reply
        if body.get("logprobs"):
            with self._lock:
                self._served_logprobs = True
        if outcome == "hang":
            reply.delay += m.hang_s
        elif outcome == "stall":
            reply.delay += m.stall_s
        reply.delay += delay
        return reply

    def expected_client_counts(self) -> dict[str, int]:
        """What a client that retries every fault should have counted (requests, successes, retries by cause)."""
        c = self.counters
        return {
            "requests_sent": c["received"],
            "successes": c["ok"],
            "429": c["429"],
            "5xx": c["500"],
            "bad_body": c["garbage"] + c["truncate"],
            "connection": c["reset"],
            "timeout": c["stall"],
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # concurrency benchmarks open many connections at once


class LoopbackServer:
    """A threaded HTTP server on ``127.0.0.1:<free port>`` serving ``POST /v1/chat/completions`` and ``GET /v1/models``.

    ``GET /counters`` returns the handler's ``counters`` (a :class:`FaultyHandler`'s), so a benchmark can run the
    server in another process.

    Args:
        handler: maps (request body, 1-based request number) to a :class:`Reply`.
        models: the body of ``GET /v1/models`` (None = 404).
        headers: headers added to every reply (e.g. ``{"Server": "llama.cpp"}``).
    """

    def __init__(
        self, handler: Handler, *, models: dict[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        self.handler = handler
        self.models = models
        self.extra_headers = dict(headers or {})
        self.requests: list[dict[str, Any]] = []
        self.gets: list[str] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def _send(self, reply: Reply) -> None:
                if reply.delay > 0:
                    time.sleep(reply.delay)
                if reply.reset:
                    self.close_connection = True
                    return
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for key, value in {**outer.extra_headers, **reply.headers}.items():
                        self.send_header(key, value)
                    self.end_headers()
                    if reply.cut_at is not None:
                        self.wfile.write(payload[: reply.cut_at])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    self.close_connection = True

            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                with outer._lock:
                    outer.gets.append(self.path)
                if self.path.rstrip("/") == "/v1/models" and outer.models is not None:
                    self._send(Reply(200, outer.models))
                elif self.path.rstrip("/") == "/counters":  # server-side counters, for a client in another process
                    self._send(Reply(200, dict(getattr(outer.handler, "counters", {}))))
                else:
                    self._send(Reply(404, {"error": {"message": f"no route {self.path}"}}))

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {"_raw": raw.decode(errors="replace")}
                with outer._lock:
                    outer.requests.append(body)
                    outer.paths.append(self.path)
                    n = len(outer.requests)
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/v1/completions"):
                    reply = Reply(404, {"error": {"message": f"no route {self.path}"}})
                else:
                    reply = outer.handler(body, n)
                self._send(reply)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
                pass

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="loopback-http", daemon=True
        )

    @property
    def base_url(self) -> str:
        """The ``/v1`` base URL to give an OpenAI-compatible client."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def count(self) -> int:
        """Number of chat requests received so far."""
        with self._lock:
            return len(self.requests)

    def start(self) -> LoopbackServer:
        """Start serving in a background daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
