"""Personas and populations.

A :class:`Persona` is who an agent is: an id, the system-prompt text the LLM answers as, and optional attributes
(demographics, traits). A :class:`Population` is a finite set of personas with weights on the simplex; every
construction (fixed prompt, prompt mixture, Mixture-of-Personas, aligned persona set) produces one, and the
simulator draws agents from it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["OLD_CONSTRUCTION_NAMES", "Persona", "Population", "describe_json_error"]


def _json_name(value: Any) -> str:
    """Name a JSON value in an error message: ``null``, ``a string ('...')``, ``a list`` and so on."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        short = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({short!r})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _ends_open(text: str) -> bool:
    """Whether JSON ``text`` ends inside a string, object or array (i.e. it was cut off)."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
    return in_string or depth > 0


def describe_json_error(path: Path, text: str, exc: json.JSONDecodeError) -> str:
    """One line for a JSON file that does not parse: empty, truncated (cut off) or invalid at a line and column."""
    if not text.strip():
        return f"population file {path} is empty; re-create it (populace fit/align write population files)"
    if _ends_open(text) or exc.pos >= len(text.rstrip()):
        return (
            f"population file {path} is truncated JSON (it ends at line {text.rstrip().count(chr(10)) + 1} before "
            "the document is complete); re-create it, e.g. by rerunning the command that wrote it"
        )
    return f"population file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"


class PopulationError(ValueError):
    """A persona, a population or a population file is invalid; the message names the file, key or index."""


@dataclass(frozen=True, kw_only=True)
class Persona:
    """One respondent type.

    Attributes:
        id: unique id within its population.
        text: the system prompt the LLM answers as ("" = no system prompt).
        attributes: extra JSON-serialisable fields (demographics, source pool, exemplar, …).
    """

    id: str
    text: str
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise PopulationError(f"Persona.id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.text, str):
            raise PopulationError(
                f"persona {self.id!r}: text must be a string ('' = no system prompt), got {_json_name(self.text)}"
            )
        if not isinstance(self.attributes, dict):
            raise PopulationError(
                f"persona {self.id!r}: attributes must be an object, got {_json_name(self.attributes)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"id": self.id, "text": self.text, "attributes": dict(self.attributes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Persona:
        """Inverse of :meth:`to_dict`.

        Raises:
            PopulationError: not an object, a missing ``id``/``text``, a ``null`` or non-string text, or non-object
                attributes; the message names the persona and the fix.
        """
        if not isinstance(d, dict):
            raise PopulationError(
                f"a persona is {_json_name(d)}, not an object; write each persona as "
                '{"id": "p1", "text": "You are ...", "attributes": {}}'
            )
        for key in ("id", "text"):
            if key not in d:
                raise PopulationError(f"persona {d.get('id', '?')!r} has no {key!r}; give both 'id' and 'text'")
        if d["id"] is None or isinstance(d["id"], dict | list):
            raise PopulationError(f"persona id must be a string or a number, got {_json_name(d['id'])}")
        attributes = d.get("attributes")
        if attributes is None:
            attributes = {}
        return cls(
            id=str(d["id"]), text=d["text"], attributes=dict(attributes) if isinstance(attributes, dict) else attributes
        )


#: Construction names of earlier releases → the kind's one name (read from old population files).
OLD_CONSTRUCTION_NAMES = {
    "fixed_prompt": "fixed",
    "random_persona": "pool",
    "demographic_persona": "demographic",
    "em_joint": "em",
    "gb_joint": "gb",
    "mop_joint": "mop",
}


@dataclass(frozen=True, kw_only=True)
class Population:
    """Personas with weights on the simplex.

    Attributes:
        personas: the components, length K.
        weights: mixing weights, shape ``(K,)``, non-negative, summing to 1.
        construction: how it was built: the construction kind's one name (``"fixed"``, ``"pool"``, ``"em"``,
            ``"mop"``, ``"aligned"``, …; :mod:`populations.constructions`). Files written under the names of
            earlier releases (``"fixed_prompt"``, ``"random_persona"``, ``"demographic_persona"``, ``"em_joint"``
            …) read as the current names (a joint fit is marked ``metadata["joint"]``).
        metadata: provenance (builder parameters, fit history summary, cost).
    """

    personas: tuple[Persona, ...]
    weights: np.ndarray
    construction: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=float)
        object.__setattr__(self, "personas", tuple(self.personas))
        if not self.personas:
            raise PopulationError("Population needs at least one persona")
        if w.shape != (len(self.personas),):
            raise PopulationError(
                f"weights has shape {w.shape} for {len(self.personas)} personas; give one weight per persona"
            )
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        if bad.size:
            raise PopulationError(f"weights[{bad[0]}] = {w[bad[0]]:g}: weights must be finite and non-negative")
        if not np.isclose(w.sum(), 1.0, atol=1e-6):
            raise PopulationError(f"weights sum to {w.sum():.6g}, expected 1; divide each weight by their sum")
        first: dict[str, int] = {}
        for i, persona in enumerate(self.personas):
            if persona.id in first:
                raise PopulationError(
                    f"duplicate persona id {persona.id!r} (personas #{first[persona.id] + 1} and #{i + 1}); "
                    "persona ids must be unique within a population"
                )
            first[persona.id] = i
        w = w / w.sum()
        w.setflags(write=False)
        object.__setattr__(self, "weights", w)

    def __len__(self) -> int:
        return len(self.personas)

    def sample(self, n: int, *, rng: np.random.Generator | int | None) -> np.ndarray:
        """Draw ``n`` agents' persona indices by weight (with replacement).

        Args:
            n: number of agents.
            rng: a ``numpy.random.Generator`` (advanced by the call) or an int seed (same draws every call).

        Returns:
            Indices into ``personas``, shape ``(n,)``.
        """
        if n < 0:
            raise PopulationError(f"n must be >= 0, got {n}")
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return gen.choice(len(self.personas), size=n, p=self.weights)

    def resample(self, n: int, *, rng: np.random.Generator | int | None) -> Population:
        """The empirical population of ``n`` draws: drawn personas weighted by their counts / n.

        This is the paper protocol's "sample n prompts by weight" as a population.
        """
        idx = self.sample(n, rng=rng)
        counts = np.bincount(idx, minlength=len(self.personas))
        keep = np.flatnonzero(counts)
        return Population(
            personas=tuple(self.personas[i] for i in keep),
            weights=counts[keep] / counts.sum(),
            construction=self.construction,
            metadata={**self.metadata, "resampled_from": len(self.personas), "n_draws": n},
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (the population file format)."""
        return {
            "kind": "populace.population",
            "version": 1,
            "construction": self.construction,
            "personas": [p.to_dict() for p in self.personas],
            "weights": [float(x) for x in self.weights],
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str | None = None) -> Population:
        """Inverse of :meth:`to_dict`, validating the document's structure.

        A document without ``kind`` is accepted when it has ``personas`` and ``weights`` (a hand-written file);
        ``construction`` defaults to ``"unspecified"`` there.

        Args:
            d: the document.
            source: where it came from (a file name), named in every error.

        Raises:
            PopulationError: one line naming ``source``, the key or persona, and the fix: another ``kind``, a missing
                ``personas``/``weights``, ``personas`` not a list, a persona that is not an object, a ``null``
                text, a weights list of the wrong length, a negative weight, weights not summing to 1, or a
                duplicate id.
        """
        where = source or "the population document"
        if not isinstance(d, dict):
            raise PopulationError(
                f"{where} holds {_json_name(d)}; a population is an object with 'personas' and 'weights'"
            )
        kind = d.get("kind", "populace.population" if "personas" in d else None)
        if kind != "populace.population":
            raise PopulationError(f"{where} is not a population file (kind={kind!r}, expected 'populace.population')")
        for key, shape in (("personas", "a list of {id, text} objects"), ("weights", "one weight per persona")):
            if key not in d:
                raise PopulationError(f"missing key {key!r} in {where}; add {key!r}: {shape}")
        raw_personas, raw_weights = d["personas"], d["weights"]
        if not isinstance(raw_personas, list):
            raise PopulationError(
                f"{where}: 'personas' is {_json_name(raw_personas)}; it must be a list of "
                '{"id": ..., "text": ...} objects'
            )
        if not raw_personas:
            raise PopulationError(f"{where}: 'personas' is empty; a population needs at least one persona")
        if not isinstance(raw_weights, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in raw_weights
        ):
            raise PopulationError(f"{where}: 'weights' must be a list of numbers, got {_json_name(raw_weights)}")
        if len(raw_weights) != len(raw_personas):
            raise PopulationError(
                f"{where}: {len(raw_weights)} weights for {len(raw_personas)} personas; give one weight per persona"
            )
        personas = []
        for i, raw in enumerate(raw_personas, start=1):
            try:
                personas.append(Persona.from_dict(raw))
            except ValueError as exc:
                raise PopulationError(f"{where}: personas[{i - 1}]: {exc}") from None
        metadata = d.get("metadata", {})
        if not isinstance(metadata, dict):
            raise PopulationError(f"{where}: 'metadata' must be an object, got {_json_name(metadata)}")
        try:
            return cls(
                personas=tuple(personas),
                weights=np.asarray(raw_weights, dtype=float),
                construction=OLD_CONSTRUCTION_NAMES.get(
                    str(d.get("construction")), str(d.get("construction", "unspecified"))
                ),
                metadata=dict(metadata),
            )
        except ValueError as exc:
            raise PopulationError(f"{where}: {exc}") from None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the population as JSON."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=2))
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Population:
        """Read a population JSON file (errors name the file; see :meth:`from_dict`).

        :func:`populations.io.load_population_file` reads every population format (this one, a fit file
        holding a population, weighted-persona JSONL).
        """
        p = Path(path)
        if p.is_dir():
            raise PopulationError(f"population file {p} is a folder; pass a population .json file")
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise PopulationError(f"population file {p} does not exist") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PopulationError(describe_json_error(p, text, exc)) from None
        return cls.from_dict(data, source=str(p))
