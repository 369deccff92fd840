"""Compute-type conversion of GGUF weights, so small quantized models run on llama.cpp's fast matmul kernels.

The embedded SmolLM2-135M ships as Q4_1. On AVX2 CPUs llama.cpp has no repacked or llamafile-sgemm kernel for
Q4_1, so prompt evaluation takes its generic dot-product path (measured here: ~60 tokens/s per thread on
20-token batches, 1 thread). The same weights dequantised to F32 (or F16) run through the sgemm kernels faster
(``benchmarks/bench_llm.py`` prints the ratio). The conversion is llama.cpp's own ``llama_model_quantize``
with ``allow_requantize`` (Q4_1 → F32 stores each block's ``d*q + m`` exactly), run once per (source file,
compute type) and kept in ``$POPULACE_MODEL_CACHE`` (default ``~/.cache/populace/models``).

F32 is the default for the embedded model: F16 is as fast on short batches, but its rounding depends more on
how tokens are batched. Answer distributions differ slightly from the Q4_1 path (which quantises activations
to 8 bits); the model id carries the compute type, so responses of the two are never mixed in the cache.

llama.cpp and ggml log a few hundred lines while converting and loading a model. :func:`native_output` keeps
them off the terminal (they go to the ``populace_lm.llama_cpp`` logger) unless ``verbose=True`` or
``POPULACE_VERBOSE=1`` (the CLI's ``--verbose``); the conversion shows a progress bar instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from populace_lm.errors import ModelNotFoundError
from populace_lm.progress import progress_bar

__all__ = [
    "COMPUTE_TYPES",
    "VERBOSE_ENV",
    "check_compute_type",
    "convert_gguf",
    "converted_path",
    "model_cache_dir",
    "NativeOutput",
    "native_output",
    "verbose_requested",
]

VERBOSE_ENV = "POPULACE_VERBOSE"
MODEL_CACHE_ENV = "POPULACE_MODEL_CACHE"
DEFAULT_MODEL_CACHE = "~/.cache/populace/models"
COMPUTE_TYPES = ("native", "f16", "f32")


_LOG = logging.getLogger("populace_lm.llama_cpp")
_TRUE = ("1", "true", "yes", "on")
# "[  12/ 272]  blk.1.attn_q.weight - ..." : llama_model_quantize logs one such line per tensor
_TENSOR_LINE = re.compile(r"^\s*\[\s*(\d+)\s*/\s*(\d+)\s*\]")


def verbose_requested(verbose: bool = False) -> bool:
    """Whether llama.cpp/ggml log lines reach the terminal: ``verbose`` or ``$POPULACE_VERBOSE`` (``1``/``true``)."""
    return bool(verbose) or os.environ.get(VERBOSE_ENV, "").strip().lower() in _TRUE


class _NativeLog:
    """The process-wide llama.cpp/ggml log callback (installed once with ``llama_cpp.llama_log_set``).

    Every complete line goes to the ``populace_lm.llama_cpp`` logger at DEBUG level and to the listeners of
    the active :func:`native_output` blocks; the raw text also goes to ``sys.stderr`` when :attr:`verbose`.
    It replaces llama-cpp-python's own callback, which prints everything until a ``Llama`` is built.
    """

    def __init__(self) -> None:
        self.verbose = False
        self.listeners: list[Callable[[str], None]] = []
        self._partial = ""
        self._lock = threading.Lock()
        self._callback: object | None = None  # the ctypes function pointer, kept alive while installed

    def install(self) -> None:
        """Import llama_cpp (its import also installs its own callback) and put this callback in its place."""
        with self._lock:
            if self._callback is not None:
                return
            import llama_cpp

            self._callback = llama_cpp.llama_log_callback(self._on_log)
            llama_cpp.llama_log_set(self._callback, ctypes.c_void_p(0))

    def _on_log(self, level: int, text: bytes | None, user_data: object) -> None:
        try:  # an exception must not cross into C: ctypes would print it to the terminal
            piece = (text or b"").decode("utf-8", errors="replace")
            if self.verbose:
                sys.stderr.write(piece)
                sys.stderr.flush()
            with self._lock:
                *lines, self._partial = (self._partial + piece).split("\n")
                listeners = list(self.listeners)
            for line in lines:
                _LOG.debug("%s", line)
                for listener in listeners:
                    listener(line)
        except Exception:  # noqa: BLE001
            _LOG.debug("llama.cpp log callback failed", exc_info=True)


_NATIVE = _NativeLog()
_redirect_lock = threading.Lock()
_redirect_depth = 0


class NativeOutput:
    """What llama.cpp said during a :func:`native_output` block.

    Attributes:
        verbose: whether it went to the terminal.
        lines: the log-callback lines, in order.
        captured: text written straight to file descriptor 2 while silenced ("" when verbose).
    """

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.lines: list[str] = []
        self.captured = ""

    def last_line(self) -> str:
        """The last non-empty line llama.cpp wrote (for error messages), or ""."""
        text = [*self.lines, *self.captured.splitlines()]
        return next((line.strip() for line in reversed(text) if line.strip()), "")


@contextlib.contextmanager
def native_output(verbose: bool = False, *, on_line: Callable[[str], None] | None = None) -> Iterator[NativeOutput]:
    """Keep llama.cpp/ggml output off the terminal for a block, unless verbose.

    The log callback is routed (see :class:`_NativeLog`), and, when silenced, file descriptor 2 is pointed at
    a temporary file for the block, for what C code prints directly. Python's ``sys.stderr`` keeps writing to
    the terminal meanwhile, so progress bars and warnings still show. Nothing is lost: silenced lines go to
    the ``populace_lm.llama_cpp`` logger (DEBUG) and into the yielded :class:`NativeOutput`.

    Args:
        verbose: let everything through (``$POPULACE_VERBOSE=1`` has the same effect).
        on_line: called with each complete log line (e.g. to drive a progress bar).
    """
    global _redirect_depth
    out = NativeOutput(verbose_requested(verbose))

    def listen(line: str) -> None:
        out.lines.append(line)
        if on_line is not None:
            on_line(line)

    with _redirect_lock:
        silence = not out.verbose and _redirect_depth == 0
        _redirect_depth += 1
    try:
        with contextlib.ExitStack() as stack:
            if silence:
                stack.enter_context(_fd2_to_file(out))
            _NATIVE.install()
            _NATIVE.verbose = out.verbose
            with _NATIVE._lock:
                _NATIVE.listeners.append(listen)
            try:
                yield out
            finally:
                with _NATIVE._lock:
                    _NATIVE.listeners.remove(listen)
    finally:
        with _redirect_lock:
            _redirect_depth -= 1


@contextlib.contextmanager
def _fd2_to_file(out: NativeOutput) -> Iterator[None]:
    """Point file descriptor 2 at a temporary file (kept in ``out.captured``); ``sys.stderr`` keeps the terminal.

    Progress bars must be created and closed inside the block: they write to the temporary terminal stream.
    """
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    saved_stderr = sys.stderr
    try:
        uses_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # e.g. pytest's capsys: leave it alone
        uses_fd2 = False
    with tempfile.TemporaryFile() as sink:
        saved_fd = os.dup(2)
        terminal = os.fdopen(os.dup(saved_fd), "w", buffering=1, encoding="utf-8", errors="replace")
        os.dup2(sink.fileno(), 2)
        if uses_fd2:
            sys.stderr = terminal
        try:
            yield
        finally:
            sys.stderr = saved_stderr
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            terminal.close()
            sink.seek(0)
            out.captured = sink.read().decode("utf-8", errors="replace")
            for line in out.captured.splitlines():
                _LOG.debug("%s", line)


def check_compute_type(compute_type: str) -> str:
    """Return ``compute_type`` when known.

    Raises:
        ValueError: naming the valid choices.
    """
    if compute_type not in COMPUTE_TYPES:
        raise ValueError(f"unknown compute type {compute_type!r}: use one of {COMPUTE_TYPES} (POPULACE_COMPUTE_TYPE)")
    return compute_type


def model_cache_dir() -> Path:
    """Folder of converted model files (``$POPULACE_MODEL_CACHE`` wins)."""
    return Path(os.environ.get(MODEL_CACHE_ENV) or DEFAULT_MODEL_CACHE).expanduser()


def converted_path(source: Path, identity: str, compute_type: str) -> Path:
    """Where the ``compute_type`` copy of ``source`` (content id ``identity``) lives."""
    return model_cache_dir() / f"{source.stem}.{identity}.{compute_type}.gguf"


def convert_gguf(source: Path, identity: str, compute_type: str, *, n_threads: int = 1, verbose: bool = False) -> Path:
    """The ``compute_type`` copy of a GGUF file, converted by llama.cpp on first use.

    The conversion shows a labelled progress bar (one step per tensor) and keeps llama.cpp's per-tensor log
    lines off the terminal unless ``verbose`` (see :func:`native_output`).

    Args:
        source: the GGUF file.
        identity: its content id (:func:`populace_lm.local.file_identity`), part of the cached file's name.
        compute_type: ``"f16"`` or ``"f32"`` (``"native"`` returns ``source``).
        n_threads: threads for the conversion.
        verbose: show llama.cpp's log lines (``$POPULACE_VERBOSE=1`` too).

    Returns:
        Path of the converted file (written atomically, so concurrent processes may convert at once).

    Raises:
        ModelNotFoundError: llama.cpp could not convert the file (naming it and the fix).
    """
    if check_compute_type(compute_type) == "native":
        return source
    target = converted_path(source, identity, compute_type)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    bar: list[Any] = []  # the progress bar, made inside the quiet block (it writes to the terminal stream)

    def on_line(line: str) -> None:
        match = _TENSOR_LINE.match(line)
        if match and bar:
            done, total = int(match.group(1)), int(match.group(2))
            if bar[0].total != total:
                bar[0].total = total
            bar[0].update(done - bar[0].n)

    try:
        with (
            native_output(verbose, on_line=on_line) as native,
            progress_bar(desc=f"converting {source.name} to {compute_type} (once)", unit="tensor") as progress,
        ):
            bar.append(progress)
            import llama_cpp  # the conversion is llama.cpp's own quantize tool

            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = {"f16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16, "f32": llama_cpp.LLAMA_FTYPE_ALL_F32}[compute_type]
            params.allow_requantize = True
            params.nthread = n_threads
            rc = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params)
        if rc != 0:
            said = native.last_line()
            raise ModelNotFoundError(
                f"llama.cpp could not convert {source} to {compute_type} (code {rc}"
                + (f": {said}" if said else "")
                + "); use --compute-type native to run the file as it is"
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
