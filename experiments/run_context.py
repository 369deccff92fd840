"""The run context of one command invocation: the models it built, and their manifest.

:func:`experiments.cli.main` creates one :class:`RunContext` per command, sets it as ``args.run_context`` and as
the current context (:func:`current_run_context`, for the experiments that parse their own options), and calls
:meth:`RunContext.finish` however the command ends. :func:`experiments.common.model_from_args` records every model
it builds in the context; :meth:`~RunContext.finish` merges each model's LLM accounting and the exit status into
the command's ``run.json`` and closes the models (so each response cache checkpoints its write-ahead log).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunContext", "context_of", "current_run_context", "finish_models"]

_CURRENT: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("populace_run_context", default=None)


@dataclass
class RunContext:
    """What one command invocation built.

    Attributes:
        command: the sub-command (``"probe"``, ``"fit"`` …).
        manifest: the ``run.json`` the command's accounting is merged into (None = the command has no ``--out``).
        models: the models built so far, in order.
    """

    command: str
    manifest: Path | None = None
    models: list[Any] = field(default_factory=list)

    def add_model(self, model: Any) -> Any:
        """Record ``model`` (its accounting goes to the manifest, and it is closed at the end); returns it."""
        self.models.append(model)
        return model

    @contextlib.contextmanager
    def active(self) -> Iterator[RunContext]:
        """Make this the :func:`current_run_context` inside the ``with`` block."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    def finish(self, exit_status: str, error: str | None = None) -> list[str]:
        """Write the manifest and close every model (see :func:`finish_models`); the context is empty after.

        Returns:
            One line per step that failed.
        """
        models, self.models = self.models, []
        return finish_models(models, manifest=self.manifest, exit_status=exit_status, error=error)


def current_run_context() -> RunContext | None:
    """The context of the command running in this thread (None outside :func:`experiments.cli.main`)."""
    return _CURRENT.get()


def context_of(args: Any) -> RunContext | None:
    """The run context of a command's parsed options: ``args.run_context``, else the current one."""
    context = getattr(args, "run_context", None)
    return context if isinstance(context, RunContext) else current_run_context()


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
    from populace_lm.executor import executor_of

    summary["executor"] = executor_of(model).describe()
    return summary


def finish_models(models: list[Any], *, manifest: Path | None, exit_status: str, error: str | None = None) -> list[str]:
    """Record every model's accounting and the exit status in ``manifest``, then close every model.

    Keys the command already wrote to the manifest are kept; ``llm_accounting`` maps each model id to its
    :meth:`populace_lm.budget.AccountingModel.summary` (plus the cache's hit/miss counts), and
    ``exit_status`` is ``"ok"``, ``"error"``, ``"interrupted"`` or ``"crashed"``. Each step runs even when an
    earlier one fails.

    Args:
        models: the models the command built (:attr:`RunContext.models`).
        manifest: the ``run.json`` to merge into (None = the command has no ``--out``).
        exit_status: how the command ended.
        error: the one-line error, when it did not end ``"ok"``.

    Returns:
        One line per step that failed (the caller prints them).
    """
    from populace_lm.config import close_model

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
            close_model(model)
        except Exception as exc:  # noqa: BLE001 — closing every cache matters more than the first failure
            problems.append(f"could not close the response cache of {getattr(model, 'model_id', model)}: {exc}")
    return problems
