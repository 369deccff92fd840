"""One reader for every population file the project writes.

Two formats exist: a :class:`~populations.persona.Population` JSON document (``kind: populace.population``, written
by builders and ``populace fit``) and weighted-persona JSONL (one ``{id, text, weight, …}`` per line, written by
``populace align`` and ``populace select``). :func:`load_population_file` reads either, so every command that takes
``--population`` accepts the output of every command that writes one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from populations.aligned import load_weighted_jsonl
from populations.persona import Population


def load_population_file(path: str | os.PathLike[str]) -> Population:
    """Read a population from Population JSON or weighted-persona JSONL (sniffed from the content).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is neither format, naming the file and the problem.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"population file {p} does not exist")
    text = p.read_text(encoding="utf-8", errors="replace")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = None  # several lines of JSON: weighted-persona JSONL
    if isinstance(document, dict) and ("kind" in document or "personas" in document):
        return Population.load(p)  # a JSON document: Population.load names a wrong kind
    return load_weighted_jsonl(p)
