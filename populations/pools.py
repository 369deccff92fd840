"""Persona pools from JSONL files (one object per line: ``id``, ``text``, optional extra fields).

``../shared/personas/<name>/personas.jsonl`` follows this format; a pool can be named by that folder name (looked
up in ``$POPULACE_PERSONAS`` or ``../shared/personas`` beside the checkout) or given by path. Validation errors
name the file and line: duplicate ids, empty text, invalid JSON, non-UTF-8 bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from populations.persona import Persona

PERSONAS_ENV = "POPULACE_PERSONAS"


class PoolError(ValueError):
    """A persona pool file is missing or malformed."""


def personas_root() -> Path:
    """Folder holding named pools: ``$POPULACE_PERSONAS`` or ``../shared/personas`` beside the checkout."""
    env = os.environ.get(PERSONAS_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "personas"


def resolve_pool_path(pool: str | os.PathLike[str]) -> Path:
    """A pool path from a file path, a folder holding ``personas.jsonl``, or a pool name."""
    p = Path(pool).expanduser()
    if p.is_file():
        return p
    if p.is_dir() and (p / "personas.jsonl").is_file():
        return p / "personas.jsonl"
    named = personas_root() / str(pool) / "personas.jsonl"
    if named.is_file():
        return named
    raise PoolError(
        f"persona pool {pool!r} not found (as a file, a folder with personas.jsonl, or a name in {personas_root()}); "
        f"set {PERSONAS_ENV} or pass a path"
    )


def load_pool(pool: str | os.PathLike[str], *, limit: int | None = None) -> tuple[Persona, ...]:
    """Read a JSONL persona pool.

    Args:
        pool: path or pool name (see :func:`resolve_pool_path`).
        limit: read at most this many personas (the first ones).

    Returns:
        Personas with every extra field in ``attributes`` plus ``attributes["pool"]`` = the pool's folder name.

    Raises:
        PoolError: naming the file and line of the first problem.
    """
    path = resolve_pool_path(pool)
    name = path.parent.name
    personas: list[Persona] = []
    seen: set[str] = set()
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if limit is not None and len(personas) >= limit:
                break
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PoolError(f"{path}:{lineno}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PoolError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from exc
            if not isinstance(obj, dict) or "id" not in obj or "text" not in obj:
                raise PoolError(f"{path}:{lineno}: each line needs an object with 'id' and 'text'")
            pid, text = str(obj.pop("id")), obj.pop("text")
            if not isinstance(text, str) or not text.strip():
                raise PoolError(f"{path}:{lineno}: persona {pid!r} has empty text")
            if pid in seen:
                raise PoolError(f"{path}:{lineno}: duplicate persona id {pid!r}")
            seen.add(pid)
            personas.append(Persona(id=pid, text=text.strip(), attributes={**obj, "pool": name}))
    if not personas:
        raise PoolError(f"{path}: the pool is empty")
    return tuple(personas)
