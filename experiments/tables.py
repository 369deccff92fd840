"""The shared pieces of every Populace report: the one Markdown table writer, package versions, cache statistics, manifests.

:mod:`experiments.reporting` re-exports these names; the run and what-if writers (:mod:`experiments.reporting_runs`)
and the comparison writers (:mod:`experiments.reporting`) both build on them.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

if TYPE_CHECKING:
    pass

__all__ = ["cache_stats", "markdown_table", "package_versions", "write_manifest"]

_PACKAGES = ("populace", "mesa", "networkx", "numpy", "scipy", "pandas", "pyarrow", "llama_cpp_python", "openai")


# ----------------------------------------------------------------------------- shared pieces
def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def cache_stats(model: Any) -> dict[str, Any]:
    """The response cache's statistics if the model is cache-wrapped (else an empty dict)."""
    stats = getattr(model, "stats", None)
    if not callable(stats):
        return {}
    out = dict(stats())
    out["path"] = str(getattr(model, "path", ""))
    out["mode"] = str(getattr(model, "mode", ""))
    return out


def _fmt(v: Any, digits: int = 4, missing: str = "") -> str:
    if v is None or (isinstance(v, float | np.floating) and math.isnan(v)):
        return missing
    if isinstance(v, float | np.floating):
        return f"{float(v):.{digits}f}"
    return str(v).replace("|", "\\|")


def markdown_table(
    rows: pd.DataFrame | Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    digits: int = 4,
    missing: str = "",
) -> str:
    """The one Markdown table writer: a pipe table of records (or a frame) restricted to ``columns``.

    Args:
        rows: a DataFrame or a sequence of mappings (a key a row lacks is a missing cell).
        columns: the columns in order (default: the frame's, or the first row's keys).
        digits: decimals of floats.
        missing: the text of a missing cell (None or NaN).
    """
    records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
    if columns is None:
        columns = list(rows.columns) if isinstance(rows, pd.DataFrame) else list(records[0]) if records else []
    lines = ["| " + " | ".join(map(str, columns)) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_fmt(r.get(c), digits, missing) for c in columns) + " |" for r in records]
    return "\n".join(lines)


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> Path:
    """``manifest.json`` with sorted keys (identical results give identical files, apart from timings)."""
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    return path
