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
            raise ValueError(f"Persona.id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.text, str):
            raise ValueError(f"Persona {self.id!r}: text must be a string")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"id": self.id, "text": self.text, "attributes": dict(self.attributes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Persona:
        """Inverse of :meth:`to_dict`."""
        return cls(id=str(d["id"]), text=d["text"], attributes=dict(d.get("attributes", {})))


@dataclass(frozen=True, kw_only=True)
class Population:
    """Personas with weights on the simplex.

    Attributes:
        personas: the components, length K.
        weights: mixing weights, shape ``(K,)``, non-negative, summing to 1.
        construction: how it was built (``"fixed_prompt"``, ``"em"``, ``"gb"``, ``"mop"``, ``"aligned"``, …).
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
            raise ValueError("Population needs at least one persona")
        if w.shape != (len(self.personas),):
            raise ValueError(f"weights has shape {w.shape}, expected ({len(self.personas)},)")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and non-negative")
        if not np.isclose(w.sum(), 1.0, atol=1e-6):
            raise ValueError(f"weights must sum to 1, got {w.sum():.6g}")
        ids = [p.id for p in self.personas]
        if len(set(ids)) != len(ids):
            raise ValueError("persona ids must be unique within a population")
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
            raise ValueError(f"n must be >= 0, got {n}")
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
    def from_dict(cls, d: dict[str, Any]) -> Population:
        """Inverse of :meth:`to_dict`; a file of another kind raises ``ValueError`` naming it."""
        if d.get("kind") != "populace.population":
            raise ValueError(f"not a population file (kind={d.get('kind')!r}, expected 'populace.population')")
        return cls(
            personas=tuple(Persona.from_dict(p) for p in d["personas"]),
            weights=np.asarray(d["weights"], dtype=float),
            construction=d["construction"],
            metadata=dict(d.get("metadata", {})),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the population as JSON."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=2))
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Population:
        """Read a population JSON file (errors name the file)."""
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except FileNotFoundError as exc:
            raise ValueError(f"population file {p} does not exist") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"population file {p} is not valid JSON: {exc}") from exc
        try:
            return cls.from_dict(data)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{p}: {exc}") from exc
