"""A persistent, content-addressed response cache in SQLite.

The key of a request is the sha256 of its canonical JSON (sorted keys, no spaces) together with
:data:`SCHEMA_VERSION`, the request kind and the inner model's ``model_id``. Every knob that changes the
answer therefore changes the key: model, messages, temperature, max tokens, seed, stop strings, sample
index, answer set, answer prefix and number of samples. Entries never expire.

A miss calls the inner model and stores its response at once, so a crash or a budget error later in the
run loses nothing; re-running a finished experiment makes zero backend calls. In ``replay`` mode a miss
raises :class:`~populace_lm.errors.CacheMissError` instead of calling the backend.

Put budgets *inside* the cache — ``CachedModel(BudgetedModel(backend))`` — so cache hits cost nothing.

Degraded answers: a distribution obtained in a lesser mode than the request allowed (``degraded`` set, e.g. sampled
because the server's replies lacked the log-probabilities asked for) is stored under the key of
``model_id + "#degraded"``, which no lookup asks for: it is on record, and a rerun on a healthy server asks again.

Errors: every SQLite error met while reading or writing the file (a malformed page, a file truncated or overwritten
under a running process, a full disk) is the one-line :class:`~populace_lm.errors.CacheError` naming the file and
the fix, never a traceback.

Sampled distributions: a backend that samples (``attach_sample_cache``, e.g.
:class:`~populace_lm.openai_compat.OpenAICompatible`) is handed this cache when it is wrapped, and stores each
sampled reply under the key of its own generation request (sample index and derived seed in it): a run stopped
half-way through a distribution resumes with only the missing samples.

Concurrency: one SQLite connection guarded by a lock (the backend call itself runs outside the lock), in
WAL mode with a busy timeout, so threads of one process and several processes may share a file. Two
threads missing on the same request at once both call the backend; the first stored answer is kept.

Opening checks the path (a folder, or a file that is not SQLite, is a one-line
:class:`~populace_lm.errors.CacheError` naming ``--cache``/``POPULACE_CACHE``). :meth:`CachedModel.close`
checkpoints the write-ahead log into the main file (``wal_checkpoint(TRUNCATE)``), so after a command the
``-wal`` file is empty or gone and the ``.sqlite`` file alone holds every answer; a cache never closed
explicitly is closed the same way when it is garbage-collected or the interpreter exits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from populace_lm.base import LanguageModel
from populace_lm.errors import CacheError, CacheMissError
from populace_lm.types import AnswerDistribution, DistributionRequest, Generation, GenerationRequest, Usage

__all__ = ["DEGRADED_SUFFIX", "SCHEMA_VERSION", "CachedModel", "CacheMode", "request_key"]

DEGRADED_SUFFIX = "#degraded"
"""Appended to the model id in the key of a degraded answer (never looked up: a rerun asks again)."""

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


_COLUMNS = ["key", "kind", "request_json", "response_json", "created"]
_SQLITE_MAGIC = b"SQLite format 3\x00"
_FIX = "pass another file with --cache (or POPULACE_CACHE)"


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

    Hits come back with ``cached=True`` and zero usage. :meth:`stats` counts hits, misses and stores, and the
    same for the samples stored on behalf of a sampling backend.

    Raises:
        CacheError: ``path`` is a folder, is not an SQLite file, or cannot be created.

    """

    def __init__(self, inner: LanguageModel, path: str | Path, *, mode: CacheMode = "readwrite") -> None:
        if mode not in _MODES:
            raise ValueError(f"cache mode must be one of {_MODES}, got {mode!r}")
        self.inner = inner
        self.model_id = inner.model_id
        self.path = Path(path).expanduser()
        self.mode = mode
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(
            ("hits", "misses", "stores", "degraded_stores", "sample_hits", "sample_misses", "sample_stores"), 0
        )
        self._conn: sqlite3.Connection | None = None
        self._finalizer: weakref.finalize | None = None
        if mode != "off":
            self._conn = _open(self.path)
            self._finalizer = weakref.finalize(self, _checkpoint_and_close, self._conn, str(self.path))
        layer: Any = inner
        for _ in range(64):  # hand this cache to the layers below that use one
            if layer is None:
                break
            if mode == "readwrite" and hasattr(layer, "attach_sample_cache"):
                layer.attach_sample_cache(self)
            if hasattr(layer, "attach_cache"):
                layer.attach_cache(self)
            layer = getattr(layer, "inner", None)

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
        self._store("distribution", request, response.to_dict(), degraded=response.degraded is not None)
        return response

    def contains(self, request: GenerationRequest | DistributionRequest) -> bool:
        """Whether a response to ``request`` is stored (no count changes; an executor splits hits from misses)."""
        if self._conn is None:
            return False
        kind: Kind = "generate" if isinstance(request, GenerationRequest) else "distribution"
        key = request_key(kind, self.model_id, request)
        with self._lock:
            if self._conn is None:
                return False
            return self._conn.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone() is not None

    # -- per-sample storage for sampling backends -----------------------------------------------------------

    def cached_generation(self, request: GenerationRequest) -> Generation | None:
        """The stored reply to one sampled generation request, or None (counted as a sample hit or miss)."""
        hit = self._lookup("generate", request, sample=True)
        return None if hit is None else dataclasses.replace(Generation.from_dict(hit, cached=True), usage=Usage())

    def store_generation(self, request: GenerationRequest, generation: Generation) -> None:
        """Store one sampled reply at once (a later crash keeps it)."""
        self._store("generate", request, generation.to_dict(), sample=True)

    # -- bookkeeping --------------------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Return counts since construction.

        ``hits``, ``misses`` (calls passed to ``inner``, or refused in replay mode) and ``stores``; and
        ``sample_hits``, ``sample_misses``, ``sample_stores`` for the sampled replies a sampling backend looked up.
        """
        with self._lock:
            return dict(self._counts)

    def __len__(self) -> int:
        """Return the number of stored responses in the file."""
        if self._conn is None:
            return 0
        with self._lock, self._errors("count the answers of"):
            return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Checkpoint the write-ahead log into the file and close it (later calls pass straight to ``inner``)."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._conn = None
            self._finalizer = None
            self.mode = "off"

    def __enter__(self) -> CachedModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lookup(
        self, kind: Kind, request: GenerationRequest | DistributionRequest, *, sample: bool = False
    ) -> dict[str, Any] | None:
        prefix = "sample_" if sample else ""
        if self._conn is None:
            with self._lock:
                self._counts[prefix + "misses"] += 1
            return None
        key = request_key(kind, self.model_id, request)
        with self._lock:
            if self._conn is None:  # closed meanwhile
                self._counts[prefix + "misses"] += 1
                return None
            with self._errors("read"):
                row = self._conn.execute("SELECT response_json FROM responses WHERE key = ?", (key,)).fetchone()
            self._counts[prefix + ("hits" if row else "misses")] += 1
        if row is not None:
            try:
                return json.loads(row[0])
            except (TypeError, ValueError) as exc:
                raise CacheError(
                    f"the response cache {self.path} holds an unreadable answer (key {key[:12]}): {_FIX}, or move "
                    "this file away"
                ) from exc
        if self.mode == "replay" and not sample:
            raise CacheMissError(
                f"replay mode: no cached {kind} response for key {key[:12]} in {self.path}; "
                "run without --replay (cache mode 'readwrite') to compute it"
            )
        return None

    def _store(
        self,
        kind: Kind,
        request: GenerationRequest | DistributionRequest,
        response: dict,
        *,
        sample: bool = False,
        degraded: bool = False,
    ) -> None:
        if self._conn is None or self.mode == "replay":
            return
        key = request_key(kind, self.model_id + (DEGRADED_SUFFIX if degraded else ""), request)
        with self._lock:
            if self._conn is None:
                return
            with self._errors("write to"):
                self._conn.execute(
                    "INSERT OR IGNORE INTO responses (key, kind, request_json, response_json, created) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (key, kind, _canonical(request.to_dict()), _canonical(response), time.time()),
                )
            self._counts["degraded_stores" if degraded else ("sample_" if sample else "") + "stores"] += 1

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn any SQLite error into the one-line cache error."""
        try:
            yield
        except sqlite3.Error as exc:
            raise CacheError(
                f"cannot {what} the response cache {self.path} ({type(exc).__name__}: {exc}): {_FIX}, or move this "
                "file away (it may be damaged)"
            ) from exc


def _open(path: Path) -> sqlite3.Connection:
    """Open (creating when new) the cache file at ``path``, in WAL mode; one-line :class:`CacheError` otherwise."""
    if path.is_dir():
        raise CacheError(
            f"the response cache {path} is a folder: pass a file with --cache (or POPULACE_CACHE), "
            f"e.g. {path / 'responses.sqlite'}"
        )
    if path.is_file() and path.stat().st_size > 0:
        try:
            with open(path, "rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise CacheError(f"cannot read the response cache {path} ({exc.strerror}): {_FIX}") from exc
        if head != _SQLITE_MAGIC:
            raise CacheError(f"the response cache {path} is not an SQLite file: {_FIX}, or move this file away")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(
            f"cannot create the folder of the response cache {path} ({exc.strerror or exc}): {_FIX}"
        ) from exc
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_SCHEMA)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(responses)")]
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise CacheError(f"cannot use the response cache {path} ({exc}): {_FIX}") from exc
    if columns != _COLUMNS:
        conn.close()
        raise CacheError(f"{path} holds a table 'responses' that is not a Populace cache (columns {columns}): {_FIX}")
    return conn


def _enable_wal(conn: sqlite3.Connection, wait_s: float = 30.0) -> None:
    """Switch the file to WAL mode, waiting while another process creates or converts it.

    Changing the journal mode needs an exclusive lock, and SQLite answers "database is locked" at once instead of
    calling the busy handler when two processes open a new file together; the loser waits (up to ``wait_s``) and
    then finds the file already in WAL mode.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _checkpoint_and_close(conn: sqlite3.Connection, where: str) -> None:
    """Move the write-ahead log into the main file, truncate it, and close the connection."""
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:  # another process holds the file busy: its own close will checkpoint
        warnings.warn(f"response cache {where}: WAL checkpoint skipped ({exc})", RuntimeWarning, stacklevel=2)
    finally:
        conn.close()
