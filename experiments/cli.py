"""The ``populace`` command line: one sub-command per module in :data:`COMMAND_MODULES`.

Each module defines ``register(subparsers)`` which adds its parser and sets ``func``; heavy imports happen
inside the command functions, so ``populace --help`` stays fast. Around every command, :func:`main`:

- adds ``--quiet`` (no progress bars) and ``--verbose`` (llama.cpp/ggml and library logs on) to every
  sub-command that does not define them itself;
- checks ``--out`` before any model work (a folder where a folder is expected, a file where a file is, and a
  probe file written and removed there, so ``--out /proc/x`` fails in a second, not after the run);
- prints a user error (:func:`is_user_error`: the project's own error types — bad input, missing data or model,
  unreachable endpoint, exhausted budget — and unreadable or unparsable files) as one line
  ``populace: error: ...`` and exits 2, without a traceback;
- turns any other exception (a bug) into one line naming a crash log that holds the traceback, exit 1;
- on every exit (normal end, user error, crash, Ctrl-C, SIGTERM) merges the LLM accounting and the exit status
  of every model the command built (its :class:`experiments.run_context.RunContext`) into the command's
  ``run.json`` and closes each model's response cache, so its SQLite write-ahead log is checkpointed.

Before the parser is built, :func:`experiments.plugins.load_plugins` imports the modules of ``POPULACE_PLUGINS``,
so the backends, games and scenarios they register have their options and names on the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib
import json
import os
import signal
import sys
import tempfile
import tomllib
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from experiments.errors import UsageError
from experiments.plugins import load_plugins
from experiments.run_context import RunContext
from populace_lm.backends import get_backend

__all__ = [
    "COMMAND_MODULES",
    "INPUT_ERRORS",
    "OUT_IS_FILE",
    "PROJECT_PACKAGES",
    "build_parser",
    "check_out",
    "crash_log_dir",
    "describe_user_error",
    "is_user_error",
    "main",
]

COMMAND_MODULES = (
    "experiments.cmd_demo",
    "experiments.cmd_probe",
    "experiments.cmd_describe",
    "experiments.cmd_experiment",
    "experiments.cmd_align",
    "experiments.cmd_select",
    "experiments.cmd_train_encoder",
    "experiments.cmd_fit",
    "experiments.cmd_run",
    "experiments.cmd_whatif",
    "experiments.cmd_compare",
    "experiments.cmd_influence",
    "experiments.cmd_infer",
)

#: Commands whose ``--out`` names a file (the others name a folder).
OUT_IS_FILE = frozenset({"fit", "align", "select"})

#: Top-level packages whose exception classes are the project's own error types (one line, exit 2).
PROJECT_PACKAGES = ("populace_lm", "alignment", "scenarios", "populations", "simulator", "experiments")

#: The documented input errors from outside the project: unparsable files, and a path that is missing,
#: unreadable, a folder where a file is expected or the reverse.
INPUT_ERRORS: tuple[type[BaseException], ...] = (
    json.JSONDecodeError,
    tomllib.TOMLDecodeError,
    UnicodeDecodeError,
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)

_GLOBAL_FLAGS = (
    ("--quiet", "no progress bars"),
    ("--verbose", "show llama.cpp/ggml loader and library log lines"),
)


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is shown as a one-line user error (exit 2) rather than as a crash with a log.

    True for :data:`INPUT_ERRORS` and for the project's own error types: a ``ValueError`` or
    :class:`populace_lm.errors.LLMError` whose class is defined in one of :data:`PROJECT_PACKAGES` or derives from
    one defined there (a plugin's error deriving from ``LLMError`` counts). A bare ``ValueError``, ``KeyError`` …
    raised anywhere is a bug, and so are the project's internal faults that are no input errors
    (``simulator.checker.ReproducibilityError``).
    """
    from populace_lm.errors import LLMError

    if isinstance(exc, INPUT_ERRORS):
        return True
    if not isinstance(exc, ValueError | LLMError):
        return False
    return any(cls.__module__.partition(".")[0] in PROJECT_PACKAGES for cls in type(exc).__mro__)


def describe_user_error(exc: BaseException) -> str:
    """One line for a user error: the message with line breaks folded, naming the file for bare OS/parse errors."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.strerror.lower()}: {exc.filename}"
    elif isinstance(exc, json.JSONDecodeError):
        text = f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
    elif isinstance(exc, tomllib.TOMLDecodeError):
        text = f"invalid TOML: {exc}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def crash_log_dir() -> Path:
    """Folder of crash logs: ``$POPULACE_CACHE_DIR/crash`` (default ``~/.cache/populace/crash``)."""
    return Path(os.environ.get("POPULACE_CACHE_DIR") or "~/.cache/populace").expanduser() / "crash"


def _write_crash_log(exc: BaseException, argv: list[str]) -> Path:
    """Write the traceback of ``exc`` with the command line; fall back to the temp folder if needed."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    body = f"populace {' '.join(argv)}\npython {sys.version.split()[0]}, pid {os.getpid()}, {stamp}\n\n" + "".join(
        traceback.format_exception(exc)
    )
    for folder in (crash_log_dir(), Path(tempfile.gettempdir()) / "populace-crash"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{stamp}-{os.getpid()}.log"
            path.write_text(body, encoding="utf-8")
            return path
        except OSError:
            continue
    raise OSError("no writable folder for the crash log")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser; every sub-command gets ``--quiet`` and ``--verbose``."""
    parser = argparse.ArgumentParser(
        prog="populace",
        description="LLM populations calibrated to human data: build, simulate, score.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for subparser in sub.choices.values():
        for flag, text in _GLOBAL_FLAGS:
            with contextlib.suppress(argparse.ArgumentError):  # the command defines it already
                subparser.add_argument(flag, action="store_true", help=text)
    return parser


# ------------------------------------------------------------------------------------------------ --out


def _out_option(args: argparse.Namespace) -> str | None:
    """The ``--out`` value: the parsed option, or (``experiment``) the one inside the pass-through options."""
    out = getattr(args, "out", None)
    if out is not None:
        return str(out)
    rest = getattr(args, "rest", None) or []
    for i, token in enumerate(rest):
        if token == "--out" and i + 1 < len(rest):
            return str(rest[i + 1])
        if token.startswith("--out="):
            return token.split("=", 1)[1]
    return None


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest existing ancestor."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def check_out(out: str, *, is_file: bool) -> None:
    """Check an ``--out`` path before any work, so a bad one fails in a second rather than after the run.

    Args:
        out: the option's value.
        is_file: the command writes one file there (``fit``, ``align``, ``select``); otherwise a folder.

    Raises:
        UsageError: a file where a folder is expected or the reverse, a non-folder on the way, or a location
            that cannot be written; the message names the path and the fix.
    """
    path = Path(out).expanduser()
    if is_file:
        if path.is_dir():
            raise UsageError(f"--out {out} is a folder; pass a file path such as {Path(out) / 'result.json'}")
    elif path.exists() and not path.is_dir():
        raise UsageError(f"--out {out} is a file; pass a folder (it is created if needed)")
    # the folder that will hold the output (or will have the output folder created inside it)
    holder = path.parent if (is_file or not path.exists()) else path
    existing = _nearest_existing(holder)
    if not existing.is_dir():
        raise UsageError(f"--out {out}: {existing} is a file, not a folder; pass a path inside a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: folder {existing} is not writable; pass a path you can write to")
    _probe_write(out, path.parent if is_file else path)


def _probe_write(out: str, folder: Path) -> None:
    """Create ``folder`` and write a probe file in it, then remove both: permissions alone can lie (``/proc``)."""
    created: list[Path] = []
    probe = folder / f".populace-write-probe-{os.getpid()}"
    try:
        for parent in reversed([folder, *folder.parents]):
            if not parent.exists():
                parent.mkdir()
                created.append(parent)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(
            f"--out {out}: cannot write in {folder} ({exc.strerror or exc}); pass a folder you can write to"
        ) from None
    finally:
        for made in reversed(created):  # leave nothing behind: the command creates its output itself
            with contextlib.suppress(OSError):
                made.rmdir()


# ------------------------------------------------------------------------------------------------ manifest


def _manifest_path(out: str | None, command: str) -> Path | None:
    if out is None:
        return None
    path = Path(out).expanduser()
    return Path(str(path) + ".run.json") if command in OUT_IS_FILE else path / "run.json"


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into ``KeyboardInterrupt`` (main thread only), so ``finally`` blocks run on ``kill``."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ------------------------------------------------------------------------------------------------ main


def _global_flags(args: argparse.Namespace) -> None:
    """Apply ``--quiet``/``--verbose`` (also when given among ``experiment``'s pass-through options)."""
    from populace_lm.progress import set_progress

    rest = getattr(args, "rest", None)
    if isinstance(rest, list):
        for flag in ("quiet", "verbose"):
            if f"--{flag}" in rest:
                rest.remove(f"--{flag}")
                setattr(args, flag, True)
    if getattr(args, "verbose", False):
        os.environ["POPULACE_VERBOSE"] = "1"
    env_quiet = os.environ.get("POPULACE_QUIET", "").strip().lower() in ("1", "true", "yes", "on")
    set_progress(not (getattr(args, "quiet", False) or env_quiet))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``populace`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        load_plugins()  # before the parser: a plugin's backend options become flags
        parser = build_parser()
    except Exception as exc:  # noqa: BLE001 — a plugin that fails, or declares a clashing flag, is one line
        if not is_user_error(exc):
            raise
        print(f"populace: error: {describe_user_error(exc)}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    _global_flags(args)
    out = _out_option(args)
    context = RunContext(command=args.command, manifest=_manifest_path(out, args.command))
    args.run_context = context
    status, message, code = "ok", None, 0
    try:
        with _sigterm_as_interrupt(), context.active():
            if out is not None:
                check_out(out, is_file=args.command in OUT_IS_FILE)
            if getattr(args, "backend", None):  # an unknown --backend fails before any work, naming the known ones
                get_backend(args.backend)
            code = int(args.func(args) or 0)
        if code != 0:
            status = "error"
    except SystemExit as exc:  # e.g. an experiment's own option parser
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        status = "ok" if code == 0 else "error"
        raise
    except BrokenPipeError:  # the reader went away (`populace ... | head`): stop quietly, as a Unix tool does
        status, code = "ok", 0
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's final flush of stdout would raise again
    except KeyboardInterrupt:
        status, message, code = "interrupted", "interrupted", 130
        print("populace: interrupted (finished LLM answers are kept in the cache)", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 — a user error is one line; anything else is a bug, logged
        if is_user_error(exc):
            status, message, code = "error", describe_user_error(exc), 2
            print(f"populace: error: {message}", file=sys.stderr)
        else:
            status, code = "crashed", 1
            message = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            try:
                where = f"traceback in {_write_crash_log(exc, argv)}"
            except OSError:
                where = "no crash log could be written"
            print(f"populace: internal error: {message} ({where})", file=sys.stderr)
    finally:
        for problem in context.finish(status, error=message):
            print(f"populace: warning: {problem}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
