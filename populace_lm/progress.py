"""Progress bars: one switch for the whole process.

Every phase that may take more than about two seconds (item batches, crafting, EM iterations, GB rounds, response
matrices, weight conversion) wraps its loop in :func:`progress_bar`, a labelled tqdm bar with an ETA. The CLI's
``--quiet`` (or ``POPULACE_QUIET=1``) turns every bar off through :func:`set_progress`; a caller may also pass
``enabled=False`` for one bar. Bars go to standard error, so they never mix with a command's printed table.

Nested bars need cursor moves (``ESC[A``) to redraw the lines above them; when the bar's stream is not a terminal
(a log file, a redirected ``2>run.log``) only the outermost open bar is shown, so the log holds plain lines.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress_bar", "progress_enabled", "set_progress"]

_enabled: bool | None = None


def set_progress(enabled: bool) -> None:
    """Turn every progress bar of this process on or off (``--quiet`` calls ``set_progress(False)``)."""
    global _enabled
    _enabled = bool(enabled)


def progress_enabled() -> bool:
    """Whether bars are shown: :func:`set_progress` if called, else not ``POPULACE_QUIET`` (default on)."""
    if _enabled is not None:
        return _enabled
    return os.environ.get("POPULACE_QUIET", "").strip().lower() not in ("1", "true", "yes", "on")


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    enabled: bool = True,
    leave: bool = False,
    **kwargs: Any,
) -> tqdm:
    """A labelled tqdm bar with an ETA, shown when both ``enabled`` and :func:`progress_enabled` hold.

    Args:
        iterable: what to iterate (or None and call ``update``).
        desc: the label, e.g. ``"EM iteration"``.
        total: number of steps when ``iterable`` has no length.
        unit: the step's unit.
        enabled: the caller's own switch (e.g. a ``progress=False`` argument).
        leave: keep the finished bar on screen.
        **kwargs: passed to :class:`tqdm.tqdm`.
    """
    kwargs.setdefault("mininterval", 0.5)
    kwargs.setdefault("dynamic_ncols", True)
    stream = kwargs.get("file") or sys.stderr
    isatty = getattr(stream, "isatty", None)
    if not (callable(isatty) and isatty()) and any(not b.disable for b in list(getattr(tqdm, "_instances", ()))):
        enabled = False  # a nested bar in a log would write cursor-up escapes: the outer bar alone reports
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        leave=leave,
        disable=not (enabled and progress_enabled()),
        **kwargs,
    )
