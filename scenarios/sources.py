"""Locate human reference data in a directory or at a public URL.

A *source* is either a local directory laid out like ``shared/data`` (one folder per dataset, e.g.
``big5_osp/data.csv``), a dataset folder itself, a URL prefix with that layout, or a URL of a ``.zip``
archive (such as the Open-Source Psychometrics ``BIG5.zip``). URLs are downloaded once into
``~/.cache/populace/data`` (or ``$POPULACE_DATA_CACHE``) and read from there afterwards.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from scenarios.errors import DataError

DATA_ENV = "POPULACE_DATA"


def default_data_source() -> str:
    """The data source used when none is given: ``$POPULACE_DATA``, else ``../shared/data`` beside the checkout.

    Raises:
        DataError: when neither exists, naming the fix.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return env
    beside = Path(__file__).resolve().parents[2] / "shared" / "data"
    if beside.is_dir():
        return str(beside)
    raise DataError(
        f"no human data source: pass --data DIR_OR_URL or set {DATA_ENV} "
        "(a directory laid out like shared/data, or a URL)"
    )


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _cache_dir() -> Path:
    return Path(os.environ.get("POPULACE_DATA_CACHE", Path.home() / ".cache" / "populace" / "data"))


def fetch_url(url: str, *, timeout: float = 60.0) -> Path:
    """Download ``url`` once into the data cache and return the local path (zip archives are extracted).

    Raises:
        DataError: naming the URL and the HTTP or network error.
    """
    target_dir = _cache_dir() / hashlib.sha256(url.encode()).hexdigest()[:16]
    name = url.rstrip("/").rsplit("/", 1)[-1] or "download"
    target = target_dir / name
    if not target.exists():
        target_dir.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".part")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(partial, "wb") as fh:
                fh.write(resp.read())
        except (urllib.error.URLError, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise DataError(f"could not download {url}: {exc}; check the URL or pass a local --data directory") from exc
        partial.replace(target)
    if target.suffix == ".zip":
        extracted = target_dir / "extracted"
        if not extracted.exists():
            try:
                with zipfile.ZipFile(target) as zf:
                    zf.extractall(extracted)
            except zipfile.BadZipFile as exc:
                raise DataError(f"{url} is not a valid zip archive: {exc}") from exc
        return extracted
    return target


def find_dataset_file(source: str | os.PathLike[str] | None, dataset: str, filename: str) -> Path:
    """Find ``filename`` of ``dataset`` (e.g. ``big5_osp``, ``data.csv``) in a source.

    Args:
        source: directory or URL (see module docstring); ``None`` uses :func:`default_data_source`.
        dataset: dataset folder name.
        filename: file inside the dataset folder.

    Raises:
        DataError: naming every place looked at and the fix.
    """
    src = str(source) if source is not None else default_data_source()
    if _is_url(src):
        if src.endswith(".zip"):
            root = fetch_url(src)
            hits = sorted(root.rglob(filename))
            if not hits:
                raise DataError(f"{src} holds no {filename}")
            return hits[0]
        if src.rstrip("/").endswith(f"/{filename}"):
            return fetch_url(src)
        base = src.rstrip("/")
        if not base.endswith(f"/{dataset}"):
            base = f"{base}/{dataset}"
        return fetch_url(f"{base}/{filename}")
    root = Path(src).expanduser()
    candidates = [root / dataset / filename, root / filename]
    for cand in candidates:
        if cand.is_file():
            return cand
    if not root.exists():
        raise DataError(f"data source {root} does not exist; pass --data DIR_OR_URL or set {DATA_ENV}")
    raise DataError(f"{dataset}/{filename} not found in {root} (looked at {', '.join(str(c) for c in candidates)})")
