"""A loopback HTTP server that imitates ``/v1/chat/completions`` for tests and benchmarks.

It listens on ``127.0.0.1`` only, on a free port chosen by the OS, and answers from a handler you give it::

    def handler(body: dict, n: int) -> Reply:
        return Reply(200, chat_completion("4"))

    with LoopbackServer(handler) as server:
        client = OpenAICompatible(model="m", base_url=server.base_url, api_key="none")

The server records every request body (``server.requests``) so tests can count retries and check seeds.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["LoopbackServer", "Reply", "chat_completion", "top_logprobs_content"]


@dataclass
class Reply:
    """What the server sends back: a status, a body (dict → JSON, or raw bytes) and extra headers."""

    status: int
    body: dict[str, Any] | bytes
    headers: Mapping[str, str] = field(default_factory=dict)


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


class LoopbackServer:
    """A threaded HTTP server on ``127.0.0.1:<free port>`` serving ``POST /v1/chat/completions``.

    Args:
        handler: maps (request body, 1-based request number) to a :class:`Reply`.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {"_raw": raw.decode(errors="replace")}
                with outer._lock:
                    outer.requests.append(body)
                    n = len(outer.requests)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    reply = Reply(404, {"error": {"message": f"no route {self.path}"}})
                else:
                    reply = outer.handler(body, n)
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
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
        """Number of requests received so far."""
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
