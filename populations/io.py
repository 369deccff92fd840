"""One reader for every population file the project writes.

Three kinds of file hold a population:

- a :class:`~populations.persona.Population` JSON document (``kind: populace.population``, written by builders'
  ``population_.save``);
- a fit file (``kind: populace.prompt_mixture`` or ``populace.mop``, written by ``populace fit``), or any JSON
  object with a ``population`` sub-document: the population inside it is read;
- weighted-persona JSONL (one ``{id, text, weight, …}`` per line, written by ``populace align`` and
  ``populace select``).

:func:`load_population_file` reads each of them, so every command that takes ``--population`` accepts the output
of every command that writes one. Structural problems (a persona given as a string, ``personas`` not a list, a
missing ``weights`` key, weights of the wrong length or sum, a truncated file, duplicate ids or a ``null`` text on
a JSONL line) raise a one-line :class:`~populations.persona.PopulationError` naming the file, the key or line, and the fix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from populations.aligned import load_weighted_jsonl
from populations.persona import Population, PopulationError, describe_json_error

__all__ = ["check_weighted_jsonl", "load_population_file"]


def _describe_folder(p: Path) -> str:
    found = sorted(x.name for x in p.iterdir() if x.suffix in (".json", ".jsonl"))[:3]
    hint = f" (it holds {', '.join(found)})" if found else ""
    return f"population file {p} is a folder; pass a population .json or .jsonl file{hint}"


def check_weighted_jsonl(path: Path, text: str) -> None:
    """Check what :func:`populations.aligned.load_weighted_jsonl` does not name by line: ids and texts.

    Args:
        path: the file (named in errors).
        text: its content.

    Raises:
        PopulationError: ``FILE:LINE: ...`` for a ``null`` or non-string ``text`` or a duplicate ``id``, with the fix.
    """
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue  # load_weighted_jsonl names the line and the problem
        if not isinstance(obj, dict) or "id" not in obj:
            continue
        pid = str(obj["id"])
        if "text" in obj and not isinstance(obj["text"], str):
            shown = "null" if obj["text"] is None else type(obj["text"]).__name__
            raise PopulationError(
                f'{path}:{lineno}: persona {pid!r} has text {shown}; give a string ("" = no system prompt)'
            )
        if pid in first_line:
            raise PopulationError(
                f"{path}:{lineno}: duplicate persona id {pid!r} (first on line {first_line[pid]}); "
                "persona ids must be unique"
            )
        first_line[pid] = lineno


def _population_document(p: Path, document: dict[str, Any]) -> Population:
    """The population of a JSON object: a population document, or one nested under ``population``."""
    kind = document.get("kind")
    if kind == "populace.population" or (kind is None and "personas" in document):
        return Population.from_dict(document, source=str(p))
    if "population" in document:
        inner = document["population"]
        if not isinstance(inner, dict):
            raise PopulationError(f"{p}: key 'population' must hold a population object, not {type(inner).__name__}")
        return Population.from_dict(inner, source=f"{p} (key 'population')")
    raise PopulationError(
        f"{p} is not a population file (kind={kind!r}); pass a population JSON (Population.save), a fit file "
        "(populace fit --out) or weighted-persona JSONL (populace align/select --out)"
    )


def load_population_file(path: str | os.PathLike[str]) -> Population:
    """Read a population from any population file (sniffed from the content, see the module docstring).

    Args:
        path: a ``.json`` or ``.jsonl`` file.

    Returns:
        The population.

    Raises:
        FileNotFoundError: the file does not exist.
        PopulationError: a folder, an empty or truncated file, or a structural problem, naming the file, the key or
            line, and the fix.
    """
    p = Path(path)
    if p.is_dir():
        raise PopulationError(_describe_folder(p))
    if not p.is_file():
        raise FileNotFoundError(f"population file {p} does not exist")
    text = p.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise PopulationError(f"population file {p} is empty; re-create it (populace fit/align write population files)")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if not _is_jsonl(text):
            raise PopulationError(describe_json_error(p, text, exc)) from None
        check_weighted_jsonl(p, text)
        return load_weighted_jsonl(p)
    if isinstance(document, dict):
        if "id" in document and "text" in document:  # a one-line weighted-persona JSONL file
            check_weighted_jsonl(p, text)
            return load_weighted_jsonl(p)
        return _population_document(p, document)
    raise PopulationError(
        f"population file {p} holds a JSON {'list' if isinstance(document, list) else type(document).__name__}; "
        "a population is an object with 'personas' and 'weights', or JSONL with one persona object per line"
    )


def _is_jsonl(text: str) -> bool:
    """Whether text that is not one JSON document reads as JSON lines: its first line is a complete object."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        return isinstance(json.loads(first), dict)
    except json.JSONDecodeError:
        return False
