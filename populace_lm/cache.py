"""A persistent, content-addressed response cache in SQLite.

The key of a request is the sha256 of its canonical JSON (sorted keys, no spaces) together with
:data:`SCHEMA_VERSION`, the request kind and the inner model's ``model_id``. Every knob that changes the
answer therefore changes the key: model, messages, temperature, max tokens, seed, stop strings, sample
index, answer set, answer prefix and number of samples. Entries never expire.

A miss calls the inner model and stores its response at once, so a crash or a budget error later in the
run loses nothing; re-running a finished experiment makes zero backend calls. In ``replay`` mode a miss
raises :class:`~populace_lm.errors.CacheMissError` instead of calling the backend.

Put budgets *inside* the cache — ``CachedModel(BudgetedModel(backend))`` — so cache hits cost nothing.

Concurrency: one SQLite connection guarded by a lock (the backend call itself runs outside the lock), in
WAL mode with a busy timeout, so threads of one process and several processes may share a file. Two
threads missing on the same request at once both call the backend; the first stored answer is kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Literal

from populace_lm.base import LanguageModel
from populace_lm.errors import CacheMissError
from populace_lm.types import AnswerDistribution, DistributionRequest, Generation, GenerationRequest, Usage

__all__ = ["SCHEMA_VERSION", "CachedModel", "CacheMode", "request_key"]

SCHEMA_VERSION = 1
"""Bump when the meaning of a stored response changes; old entries then stop matching."""

CacheMode = Literal["readwrite", "replay", "off"]
_MODES = ("readwrite", "replay", "off")
Kind = Literal["generate", "distribution"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    request_json TEXT NOT NULL,
    response_json TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(kind: Kind, model_id: str, request: GenerationRequest | DistributionRequest) -> str:
    """Return the cache key of a request: the sha256 hex digest of its canonical JSON.

    Args:
        kind: ``"generate"`` or ``"distribution"``.
        model_id: identity of the model that answers.
        request: the request.

    >>> from populace_lm.types import GenerationRequest, Message
    >>> r = GenerationRequest(messages=(Message(role="user", content="hi"),))
    >>> request_key("generate", "m", r) == request_key("generate", "m", r)
    True

    """
    payload = {"schema": SCHEMA_VERSION, "kind": kind, "model": model_id, "request": request.to_dict()}
    return hashlib.sha256(_canonical(payload).encode("utf-8")).hexdigest()


class CachedModel:
    """A :class:`~populace_lm.base.LanguageModel` that answers from a SQLite file before asking ``inner``.

    Args:
        inner: the model to call on a miss.
        path: the SQLite file (created with its parent directories).
        mode: ``"readwrite"`` (default: read, and store misses), ``"replay"`` (a miss raises
            :class:`~populace_lm.errors.CacheMissError`) or ``"off"`` (always call ``inner``; no file is opened).

    Hits come back with ``cached=True`` and zero usage. :meth:`stats` counts hits, misses and stores.

    """

    def __init__(self, inner: LanguageModel, path: str | Path, *, mode: CacheMode = "readwrite") -> None:
        if mode not in _MODES:
            raise ValueError(f"cache mode must be one of {_MODES}, got {mode!r}")
        self.inner = inner
        self.model_id = inner.model_id
        self.path = Path(path).expanduser()
        self.mode = mode
        self._lock = threading.Lock()
        self._counts = {"hits": 0, "misses": 0, "stores": 0}
        self._conn: sqlite3.Connection | None = None
        if mode != "off":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._conn = conn

    # -- protocol -----------------------------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> Generation:
        """Answer from the cache, else call ``inner.generate`` and store the result."""
        hit = self._lookup("generate", request)
        if hit is not None:
            return dataclasses.replace(Generation.from_dict(hit, cached=True), usage=Usage())
        response = self.inner.generate(request)
        self._store("generate", request, response.to_dict())
        return response

    def answer_distribution(self, request: DistributionRequest) -> AnswerDistribution:
        """Answer from the cache, else call ``inner.answer_distribution`` and store the result."""
        hit = self._lookup("distribution", request)
        if hit is not None:
            return dataclasses.replace(AnswerDistribution.from_dict(hit, cached=True), usage=Usage())
        response = self.inner.answer_distribution(request)
        self._store("distribution", request, response.to_dict())
        return response

    # -- bookkeeping --------------------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Return counts since construction.

        ``hits``, ``misses`` (calls passed to ``inner``, or refused in replay mode) and ``stores``.
        """
        with self._lock:
            return dict(self._counts)

    def __len__(self) -> int:
        """Return the number of stored responses in the file."""
        if self._conn is None:
            return 0
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close the database connection (the object is unusable afterwards)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self.mode = "off"

    def __enter__(self) -> CachedModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lookup(self, kind: Kind, request: GenerationRequest | DistributionRequest) -> dict[str, Any] | None:
        if self._conn is None:
            with self._lock:
                self._counts["misses"] += 1
            return None
        key = request_key(kind, self.model_id, request)
        with self._lock:
            row = self._conn.execute("SELECT response_json FROM responses WHERE key = ?", (key,)).fetchone()
            self._counts["hits" if row else "misses"] += 1
        if row is not None:
            return json.loads(row[0])
        if self.mode == "replay":
            raise CacheMissError(
                f"replay mode: no cached {kind} response for key {key[:12]} in {self.path}; "
                "run without replay (cache mode 'readwrite') to compute it"
            )
        return None

    def _store(self, kind: Kind, request: GenerationRequest | DistributionRequest, response: dict) -> None:
        if self._conn is None:
            return
        key = request_key(kind, self.model_id, request)
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO responses (key, kind, request_json, response_json, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, kind, _canonical(request.to_dict()), _canonical(response), time.time()),
            )
            self._counts["stores"] += 1
