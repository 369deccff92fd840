"""The ``populace`` command line: one sub-command per module in :data:`COMMAND_MODULES`.

Each module defines ``register(subparsers)`` which adds its parser and sets ``func``; heavy imports happen
inside the command functions, so ``populace --help`` stays fast. Around every command, :func:`main`:

- adds ``--quiet`` (no progress bars) and ``--verbose`` (llama.cpp/ggml and library logs on) to every
  sub-command that does not define them itself;
- checks ``--out`` before any model work (a folder where a folder is expected, a file where a file is);
- prints a user error (bad input, missing data or model, unreachable endpoint, exhausted budget) as one line
  ``populace: error: ...`` and exits 2, without a traceback;
- turns any other exception (a bug) into one line naming a crash log that holds the traceback, exit 1;
- on every exit (normal end, user error, crash, Ctrl-C, SIGTERM) merges the LLM accounting and the exit status
  of every model the command built (:data:`ACTIVE_MODELS`) into the command's ``run.json`` and closes each
  model's response cache, so its SQLite write-ahead log is checkpointed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib
import json
import os
import signal
import statistics
import sys
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "ACTIVE_MODELS",
    "COMMAND_MODULES",
    "OUT_IS_FILE",
    "build_parser",
    "check_out",
    "crash_log_dir",
    "describe_user_error",
    "finish_models",
    "main",
    "user_errors",
]

COMMAND_MODULES = (
    "experiments.cmd_demo",
    "experiments.cmd_probe",
    "experiments.cmd_experiment",
    "experiments.cmd_align",
    "experiments.cmd_select",
    "experiments.cmd_fit",
    "experiments.cmd_run",
    "experiments.cmd_whatif",
    "experiments.cmd_compare",
)

#: Commands whose ``--out`` names a file (the others name a folder).
OUT_IS_FILE = frozenset({"fit", "align", "select"})

#: Language models built by the running command (``experiments.common.model_from_args`` appends each one);
#: :func:`main` writes their accounting and closes them when the command ends, however it ends.
ACTIVE_MODELS: list[Any] = []

_GLOBAL_FLAGS = (
    ("--quiet", "no progress bars"),
    ("--verbose", "show llama.cpp/ggml loader and library log lines"),
)


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types shown as one-line user errors (exit 2), never as a crash.

    ``ValueError`` covers ``json.JSONDecodeError``, ``tomllib.TOMLDecodeError``, ``UnicodeDecodeError`` and the
    data/scenario errors; the ``OSError`` subclasses cover a path that is missing, unreadable, a folder where a
    file is expected or the reverse.
    """
    from populace_lm.errors import LLMError
    from scenarios.errors import DataError, ScenarioError

    return (
        LLMError,
        DataError,
        ScenarioError,
        ValueError,
        FileNotFoundError,
        FileExistsError,
        PermissionError,
        IsADirectoryError,
        NotADirectoryError,
    )


def describe_user_error(exc: BaseException) -> str:
    """One line for a user error: the message with line breaks folded, naming the file for bare OS/parse errors."""
    import json as _json
    import tomllib

    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.strerror.lower()}: {exc.filename}"
    elif isinstance(exc, _json.JSONDecodeError):
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
        ValueError: a file where a folder is expected or the reverse, a non-folder on the way, or a location
            that cannot be written; the message names the path and the fix.
    """
    path = Path(out).expanduser()
    if is_file:
        if path.is_dir():
            raise ValueError(f"--out {out} is a folder; pass a file path such as {Path(out) / 'result.json'}")
    elif path.exists() and not path.is_dir():
        raise ValueError(f"--out {out} is a file; pass a folder (it is created if needed)")
    # the folder that will hold the output (or will have the output folder created inside it)
    holder = path.parent if (is_file or not path.exists()) else path
    existing = _nearest_existing(holder)
    if not existing.is_dir():
        raise ValueError(f"--out {out}: {existing} is a file, not a folder; pass a path inside a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: folder {existing} is not writable; pass a path you can write to")


# ------------------------------------------------------------------------------------------------ manifest


def _accounting(model: Any) -> dict[str, Any] | None:
    """The accounting summary of ``model`` for the manifest (per-call latency lists folded to quantiles)."""
    from populace_lm.budget import AccountingModel, find_layer
    from populace_lm.cache import CachedModel

    layer = find_layer(model, AccountingModel)
    if layer is None:
        return None
    summary: dict[str, Any] = {}
    for method, record in layer.summary().items():
        if not isinstance(record, dict):  # e.g. ``transport``/``backend`` are None for the embedded model
            summary[method] = record
            continue
        record = dict(record)
        latencies = record.pop("latencies_s", None)
        if isinstance(latencies, list):
            record["latency_median_s"] = round(statistics.median(latencies), 6) if latencies else None
            record["latency_max_s"] = round(max(latencies), 6) if latencies else None
        summary[method] = record
    cache = find_layer(model, CachedModel)
    if cache is not None and summary.get("cache") is None:
        summary["cache"] = cache.stats()
    return summary


def _close(model: Any) -> None:
    """Close a model's response cache (checkpointing its write-ahead log)."""
    try:
        from populace_lm.config import close_model  # type: ignore[attr-defined]
    except ImportError:
        from populace_lm.budget import find_layer
        from populace_lm.cache import CachedModel

        cache = find_layer(model, CachedModel)
        if cache is not None and callable(getattr(cache, "close", None)):
            cache.close()
        return
    close_model(model)


def _manifest_path(out: str | None, command: str) -> Path | None:
    if out is None:
        return None
    path = Path(out).expanduser()
    return Path(str(path) + ".run.json") if command in OUT_IS_FILE else path / "run.json"


def finish_models(models: list[Any], *, manifest: Path | None, exit_status: str, error: str | None = None) -> list[str]:
    """Record every model's accounting and the exit status in ``manifest``, then close every model.

    Keys the command already wrote to the manifest are kept; ``llm_accounting`` maps each model id to its
    :meth:`populace_lm.budget.AccountingModel.summary` (plus the cache's hit/miss counts), and
    ``exit_status`` is ``"ok"``, ``"error"``, ``"interrupted"`` or ``"crashed"``. Each step runs even when an
    earlier one fails.

    Args:
        models: the models the command built (:data:`ACTIVE_MODELS`).
        manifest: the ``run.json`` to merge into (None = the command has no ``--out``).
        exit_status: how the command ended.
        error: the one-line error, when it did not end ``"ok"``.

    Returns:
        One line per step that failed (the caller prints them).
    """
    problems: list[str] = []
    if manifest is not None and models:
        try:
            accounting: dict[str, Any] = {}
            for model in models:
                summary = _accounting(model)
                if summary is None:
                    continue
                key = str(getattr(model, "model_id", type(model).__name__))
                n = 2
                while key in accounting:
                    key = f"{getattr(model, 'model_id', type(model).__name__)}#{n}"
                    n += 1
                accounting[key] = summary
            data: dict[str, Any] = {}
            if manifest.is_file():
                with contextlib.suppress(ValueError, OSError):
                    loaded = json.loads(manifest.read_text(encoding="utf-8"))
                    data = loaded if isinstance(loaded, dict) else {}
            data["llm_accounting"] = accounting
            data["exit_status"] = exit_status
            if error is not None:
                data["error"] = error
            else:
                data.pop("error", None)
            manifest.parent.mkdir(parents=True, exist_ok=True)
            tmp = manifest.with_name(manifest.name + ".tmp")
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
            tmp.replace(manifest)
        except (OSError, ValueError, TypeError) as exc:
            problems.append(f"could not write the LLM accounting to {manifest}: {exc}")
    for model in models:
        try:
            _close(model)
        except Exception as exc:  # noqa: BLE001 — closing every cache matters more than the first failure
            problems.append(f"could not close the response cache of {getattr(model, 'model_id', model)}: {exc}")
    return problems


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


PLUGINS_ENV = "POPULACE_PLUGINS"


def load_plugins(value: str | None = None) -> list[str]:
    """Import the modules named in ``$POPULACE_PLUGINS`` (comma-separated), before any command runs.

    A plugin module registers its own games (:func:`scenarios.games.register_game`) or scenarios
    (:func:`scenarios.register_scenario`) at import, so every command (``run --scenario my_role`` …) sees them.

    Returns:
        The imported module names.

    Raises:
        ValueError: a module that cannot be imported, in one line naming it and the fix.
    """
    raw = os.environ.get(PLUGINS_ENV, "") if value is None else value
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 — any failure of a user's module is one line
            raise ValueError(
                f"{PLUGINS_ENV}: cannot import plugin module {name!r} ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())}); put it on PYTHONPATH or fix it"
            ) from exc
    return names


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``populace`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        importlib.import_module("experiments.plugins").load_plugins()
    except ValueError as exc:
        print(f"populace: error: {exc}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    _global_flags(args)
    out = _out_option(args)
    ACTIVE_MODELS.clear()
    status, message, code = "ok", None, 0
    try:
        with _sigterm_as_interrupt():
            if out is not None:
                check_out(out, is_file=args.command in OUT_IS_FILE)
            code = int(args.func(args) or 0)
        if code != 0:
            status = "error"
    except SystemExit as exc:  # e.g. an experiment's own option parser
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        status = "ok" if code == 0 else "error"
        raise
    except KeyboardInterrupt:
        status, message, code = "interrupted", "interrupted", 130
        print("populace: interrupted (finished LLM answers are kept in the cache)", file=sys.stderr)
    except user_errors() as exc:
        status, message, code = "error", describe_user_error(exc), 2
        print(f"populace: error: {message}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 — the catch-all for genuine bugs, with the traceback in a log
        status, code = "crashed", 1
        message = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        try:
            where = f"traceback in {_write_crash_log(exc, argv)}"
        except OSError:
            where = "no crash log could be written"
        print(f"populace: internal error: {message} ({where})", file=sys.stderr)
    finally:
        models = list(ACTIVE_MODELS)
        ACTIVE_MODELS.clear()
        for problem in finish_models(
            models, manifest=_manifest_path(out, args.command), exit_status=status, error=message
        ):
            print(f"populace: warning: {problem}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
