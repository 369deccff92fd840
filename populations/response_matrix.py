"""The response matrix of a persona pool: every persona's exact answer distribution for every survey item, once.

For each persona the respondent LLM's exact answer distribution of each item is read with
:func:`populations.responses.answer_distributions` (one forward pass per Likert item; the embedded backend
reuses the persona's prefix KV state across that persona's items, so personas are processed one after
another). The matrix keeps each item's answer pmf (``probs``), from which :meth:`ResponseMatrix.draw_answers`
draws seeded **integer** answers — the persona's response vector on the same footing as a human's (persona
paper [2] compares simulated and human answer *vectors*). The *expected* raw answer per item and the expected keyed
sum per dimension stay available as a labelled option (``expected``; they understate the spread). Plus
the valid answer mass, and is stored as Parquet under a name derived from (pool digest, model id, scenario),
where the scenario names the survey and the exact item subset. A second request for the same key reads the
file and makes no backend call.

Persona response vectors (:func:`persona_vectors`): R seeded integer draws per persona stacked draw-major in a
:class:`PersonaVectors`, which maps a persona to its rows and a row to its persona and draw; :func:`keyed_answers`
and :func:`trait_means` turn answers into keyed answers and per-dimension means, for personas and humans alike.

Resuming: personas are processed in chunks; after each chunk the rows so far are written to
``<key>.partial.parquet``; an interrupted run restarts from there (and any request already answered is a hit
in the response cache that wraps the model). The finished file replaces the partial one atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from populace_lm.base import LanguageModel
from populace_lm.progress import progress_bar
from populations.persona import Persona
from populations.responses import answer_distributions
from scenarios.survey import Survey

__all__ = [
    "PersonaVectors",
    "ResponseMatrix",
    "ScenarioNotScoredError",
    "compute_response_matrix",
    "keyed_answers",
    "keyed_sums",
    "load_response_matrix",
    "matrix_path",
    "persona_vectors",
    "pool_digest",
    "scenario_key",
    "stored_matrix_path",
    "stored_scenarios",
    "trait_means",
]

SCHEMA_VERSION = 2  # 2: item answer pmfs stored (probs), integer draws possible
_META_KEY = b"populace.response_matrix"


class ScenarioNotScoredError(ValueError):
    """The pool has no stored responses for the requested scenario (or model)."""


def pool_digest(personas: Sequence[Persona]) -> str:
    """A stable id of a pool's content: sha256 over the ordered (id, text) pairs, 16 hex digits."""
    h = hashlib.sha256()
    for p in personas:
        h.update(json.dumps([p.id, p.text], ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def scenario_key(survey: Survey, item_ids: Sequence[str]) -> str:
    """The scenario part of the key: survey name, item subset and a digest of the exact question wording.

    E.g. ``"ipip50[E1,E2]#1a2b3c4d"``; a change of prompt text, answer scale or answer prefix gives a new key,
    so stored matrices are never reused for a different questionnaire.
    """
    wording = [
        [q.id, q.prompt, q.answer_prefix, q.answers.low, q.answers.high] for q in (survey.question(i) for i in item_ids)
    ]
    digest = hashlib.sha256(json.dumps(wording, ensure_ascii=False).encode("utf-8")).hexdigest()[:8]
    return f"{survey.name}[{','.join(item_ids)}]#{digest}"


@dataclass(frozen=True, kw_only=True)
class ResponseMatrix:
    """Expected survey answers of K personas.

    Attributes:
        persona_ids: length K, pool order.
        item_ids: length Q.
        dimensions: dimension codes present among the items, length D.
        expected: expected raw answer per persona and item, shape ``(K, Q)`` (the expected-value variant).
        trait_sums: expected keyed sum per dimension over the included items, shape ``(K, D)``.
        valid_mass: probability mass on valid answers, shape ``(K, Q)``.
        pool_digest: :func:`pool_digest` of the pool.
        model_id: the respondent model's id.
        scenario: :func:`scenario_key`.
        metadata: usage counts of the run that computed it.
        probs: each persona's answer pmf per item, shape ``(K, Q, S)``.
        support: the answer values, shape ``(S,)``.
    """

    persona_ids: tuple[str, ...]
    item_ids: tuple[str, ...]
    dimensions: tuple[str, ...]
    expected: np.ndarray
    trait_sums: np.ndarray
    valid_mass: np.ndarray
    pool_digest: str
    model_id: str
    scenario: str
    metadata: dict = field(default_factory=dict)
    probs: np.ndarray | None = None
    support: np.ndarray | None = None

    def __post_init__(self) -> None:
        k, q = len(self.persona_ids), len(self.item_ids)
        if (self.probs is None) != (self.support is None):
            raise ValueError("ResponseMatrix needs both probs and support, or neither")
        if self.probs is not None and np.shape(self.probs) != (k, q, np.size(self.support)):
            raise ValueError(
                f"ResponseMatrix.probs has shape {np.shape(self.probs)}, expected {(k, q, np.size(self.support))}"
            )
        for name, arr, shape in (
            ("expected", self.expected, (k, q)),
            ("valid_mass", self.valid_mass, (k, q)),
            ("trait_sums", self.trait_sums, (k, len(self.dimensions))),
        ):
            if np.shape(arr) != shape:
                raise ValueError(f"ResponseMatrix.{name} has shape {np.shape(arr)}, expected {shape}")

    def __len__(self) -> int:
        return len(self.persona_ids)

    def require(self, scenario: str, model_id: str | None = None) -> ResponseMatrix:
        """Return self when it was computed for ``scenario`` (and ``model_id``), else raise.

        Raises:
            ScenarioNotScoredError: naming what the pool was scored on.
        """
        if scenario != self.scenario or (model_id is not None and model_id != self.model_id):
            raise ScenarioNotScoredError(
                f"the pool (digest {self.pool_digest}) was scored on {self.scenario!r} with {self.model_id!r}, "
                f"not on {scenario!r}"
                + (f" with {model_id!r}" if model_id else "")
                + "; compute that response matrix first (populace align --scenario ...)"
            )
        return self

    def draw_answers(self, rng: np.random.Generator, draws: int = 1) -> np.ndarray:
        """Seeded integer answers drawn from each persona's exact item pmfs (inverse CDF).

        Args:
            rng: generator (the caller owns the seed).
            draws: R independent answer vectors per persona.

        Returns:
            Answers on the support, shape ``(R, K, Q)``.

        Raises:
            ValueError: the matrix holds no pmfs (an old file) or ``draws < 1``.
        """
        if self.probs is None or self.support is None:
            raise ValueError(f"response matrix {self.scenario!r} holds no answer pmfs; recompute it")
        if draws < 1:
            raise ValueError(f"draws must be >= 1, got {draws}")
        p = np.clip(np.asarray(self.probs, dtype=float), 0.0, None)
        cdf = np.cumsum(p / p.sum(axis=2, keepdims=True), axis=2)
        cdf[..., -1] = 1.0
        u = rng.random((draws, *cdf.shape[:2], 1))
        idx = (cdf[None] <= u).sum(axis=3)  # first s with CDF(s) > u
        return np.asarray(self.support, dtype=float)[np.minimum(idx, cdf.shape[2] - 1)]

    def columns(self, item_ids: Sequence[str]) -> np.ndarray:
        """Expected answers of some items, shape ``(K, len(item_ids))``.

        Raises:
            ScenarioNotScoredError: an item was not asked.
        """
        missing = [i for i in item_ids if i not in self.item_ids]
        if missing:
            raise ScenarioNotScoredError(f"items {missing} were not asked (scenario {self.scenario!r})")
        return self.expected[:, [self.item_ids.index(i) for i in item_ids]]

    def to_frame(self) -> pd.DataFrame:
        """One row per persona: ``persona_id``, ``item:<id>``, ``sum:<dim>``, ``valid:<id>``."""
        data: dict[str, object] = {"persona_id": list(self.persona_ids)}
        for j, i in enumerate(self.item_ids):
            data[f"item:{i}"] = self.expected[:, j]
        for j, d in enumerate(self.dimensions):
            data[f"sum:{d}"] = self.trait_sums[:, j]
        for j, i in enumerate(self.item_ids):
            data[f"valid:{i}"] = self.valid_mass[:, j]
        if self.probs is not None:
            for j, i in enumerate(self.item_ids):
                for s in range(self.probs.shape[2]):
                    data[f"prob:{i}:{s}"] = self.probs[:, j, s]
        return pd.DataFrame(data)

    def _meta(self) -> dict:
        return {
            "version": SCHEMA_VERSION,
            "pool_digest": self.pool_digest,
            "model_id": self.model_id,
            "scenario": self.scenario,
            "item_ids": list(self.item_ids),
            "dimensions": list(self.dimensions),
            "metadata": self.metadata,
            "support": None if self.support is None else [float(v) for v in self.support],
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write Parquet with the key in the schema metadata (atomic replace)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(self.to_frame(), preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META_KEY: json.dumps(self._meta())})
        tmp = p.with_name(p.name + ".tmp")
        pq.write_table(table, tmp)
        tmp.replace(p)
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ResponseMatrix:
        """Read a file written by :meth:`save` (errors name the file)."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"response matrix {p} does not exist")
        table = pq.read_table(p)
        raw = (table.schema.metadata or {}).get(_META_KEY)
        if raw is None:
            raise ValueError(f"{p}: not a populace response matrix (no {_META_KEY.decode()} metadata)")
        meta = json.loads(raw)
        if meta.get("version") != SCHEMA_VERSION:
            raise ValueError(f"{p}: response matrix version {meta.get('version')}, expected {SCHEMA_VERSION}")
        df = table.to_pandas()
        items, dims = meta["item_ids"], meta["dimensions"]
        support = None if meta.get("support") is None else np.asarray(meta["support"], dtype=float)
        probs = None
        if support is not None:
            cols = [f"prob:{i}:{s}" for i in items for s in range(support.size)]
            probs = df[cols].to_numpy(dtype=float).reshape(len(df), len(items), support.size)
        return cls(
            persona_ids=tuple(df["persona_id"].astype(str)),
            item_ids=tuple(items),
            dimensions=tuple(dims),
            expected=df[[f"item:{i}" for i in items]].to_numpy(dtype=float).reshape(len(df), len(items)),
            trait_sums=df[[f"sum:{d}" for d in dims]].to_numpy(dtype=float).reshape(len(df), len(dims)),
            valid_mass=df[[f"valid:{i}" for i in items]].to_numpy(dtype=float).reshape(len(df), len(items)),
            pool_digest=meta["pool_digest"],
            model_id=meta["model_id"],
            scenario=meta["scenario"],
            metadata=dict(meta.get("metadata", {})),
            probs=probs,
            support=support,
        )


def keyed_sums(survey: Survey, item_ids: Sequence[str], expected: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Keyed sums per dimension over the included items.

    Args:
        survey: the survey (for keying and dimensions).
        item_ids: columns of ``expected``.
        expected: answers, shape ``(K, Q)`` (expected or raw; NaN propagates).

    Returns:
        ``(dimensions, sums)`` with ``sums`` of shape ``(K, D)``.
    """
    e = np.asarray(expected, dtype=float)
    dims = tuple(d for d in survey.dimensions if any(survey.item(i).dimension == d for i in item_ids))
    out = np.zeros((e.shape[0], len(dims)))
    for j, i in enumerate(item_ids):
        it = survey.item(i)
        out[:, dims.index(it.dimension)] += survey.keyed(it, e[:, j])
    return dims, out


def keyed_answers(survey: Survey, item_ids: Sequence[str], answers: np.ndarray) -> np.ndarray:
    """Keyed answers (reverse-keyed items flipped on the scale).

    Args:
        survey: the survey (for keying).
        item_ids: columns of ``answers``, length Q.
        answers: raw answers, shape ``(n, Q)``.

    Returns:
        Keyed answers, shape ``(n, Q)``.
    """
    a = np.asarray(answers, dtype=float)
    if a.ndim != 2 or a.shape[1] != len(item_ids):
        raise ValueError(f"answers have shape {a.shape}, expected (n, {len(item_ids)}) for items {list(item_ids)}")
    return np.column_stack([survey.keyed(survey.item(i), a[:, j]) for j, i in enumerate(item_ids)])


def trait_means(survey: Survey, item_ids: Sequence[str], answers: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Mean keyed answer per dimension over the included items.

    Args:
        survey: the survey (for keying and dimensions).
        item_ids: columns of ``answers``, length Q.
        answers: raw answers, shape ``(n, Q)``.

    Returns:
        ``(dimensions, means)``: the D dimensions that have an included item, in survey order, and the means,
        shape ``(n, D)``.
    """
    k = keyed_answers(survey, item_ids, answers)
    dims = tuple(d for d in survey.dimensions if any(survey.item(i).dimension == d for i in item_ids))
    cols = [[j for j, i in enumerate(item_ids) if survey.item(i).dimension == d] for d in dims]
    return dims, np.column_stack([k[:, c].mean(axis=1) for c in cols])


@dataclass(frozen=True)
class PersonaVectors:
    """Response vectors of K personas, R per persona, stacked draw-major.

    Attributes:
        values: the vectors, shape ``(R*K, Q)``; row ``r*K + k`` is persona ``k``'s draw ``r``.
        n_personas: K.
        draws: R (1 for the expected-value variant).
    """

    values: np.ndarray
    n_personas: int
    draws: int

    def __post_init__(self) -> None:
        if np.shape(self.values)[0] != self.n_personas * self.draws:
            raise ValueError(
                f"PersonaVectors.values has {np.shape(self.values)[0]} rows, expected {self.draws} x {self.n_personas}"
            )

    def rows_of(self, personas: np.ndarray) -> np.ndarray:
        """Every draw's row of some personas (indices in ``[0, K)``), shape ``(R * len(personas),)``, draw-major."""
        p = np.asarray(personas, dtype=int)
        return (p[None, :] + self.n_personas * np.arange(self.draws)[:, None]).ravel()

    def persona_of(self, rows: np.ndarray) -> np.ndarray:
        """The persona index of each row, shape like ``rows``."""
        return np.asarray(rows, dtype=int) % self.n_personas

    def draw_of(self, rows: np.ndarray) -> np.ndarray:
        """The draw index of each row, shape like ``rows``."""
        return np.asarray(rows, dtype=int) // self.n_personas


def persona_vectors(
    matrix: ResponseMatrix, rng: np.random.Generator, *, draws: int = 1, expected: bool = False
) -> PersonaVectors:
    """Persona response vectors: seeded integer draws from the exact item pmfs (:meth:`ResponseMatrix.draw_answers`).

    Args:
        matrix: the response matrix of K personas and Q items.
        rng: generator of the draws.
        draws: R vectors per persona.
        expected: the labelled expected-value variant instead (one row per persona, real numbers; no draw).

    Returns:
        :class:`PersonaVectors` with ``values`` of shape ``(R*K, Q)`` (``(K, Q)`` and ``draws = 1`` when
        ``expected``).
    """
    k = len(matrix)
    if expected:
        return PersonaVectors(np.asarray(matrix.expected, dtype=float), k, 1)
    a = matrix.draw_answers(rng, draws)  # (R, K, Q)
    return PersonaVectors(a.reshape(-1, a.shape[2]), k, draws)


def matrix_path(cache_dir: str | os.PathLike[str], digest: str, model_id: str, scenario: str) -> Path:
    """File of a key: ``<cache_dir>/<sha256(digest, model, scenario)[:16]>.parquet``."""
    name = hashlib.sha256(json.dumps([digest, model_id, scenario, SCHEMA_VERSION]).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"responses-{name}.parquet"


def stored_matrix_path(
    cache_dir: str | os.PathLike[str],
    personas: Sequence[Persona],
    model_id: str,
    survey: Survey,
    item_ids: Sequence[str] | None = None,
) -> Path:
    """The file :func:`compute_response_matrix` writes for this pool, model and survey items (it may not exist yet)."""
    ids = tuple(item_ids) if item_ids else tuple(it.id for it in survey.items)
    return matrix_path(cache_dir, pool_digest(personas), model_id, scenario_key(survey, ids))


def stored_scenarios(cache_dir: str | os.PathLike[str], digest: str) -> list[tuple[str, str]]:
    """(model id, scenario) pairs stored for a pool digest in ``cache_dir``."""
    found = []
    for p in sorted(Path(cache_dir).glob("responses-*.parquet")):
        if p.name.endswith(".partial.parquet"):
            continue
        raw = (pq.read_schema(p).metadata or {}).get(_META_KEY)
        if raw:
            meta = json.loads(raw)
            if meta.get("pool_digest") == digest:
                found.append((meta["model_id"], meta["scenario"]))
    return found


def load_response_matrix(
    cache_dir: str | os.PathLike[str],
    personas: Sequence[Persona],
    model_id: str,
    survey: Survey,
    item_ids: Sequence[str] | None = None,
) -> ResponseMatrix:
    """The stored matrix of this pool, model and scenario, without computing anything.

    Raises:
        ScenarioNotScoredError: none is stored; the message lists what the pool was scored on.
    """
    ids = tuple(item_ids) if item_ids else tuple(it.id for it in survey.items)
    digest, scen = pool_digest(personas), scenario_key(survey, ids)
    path = matrix_path(cache_dir, digest, model_id, scen)
    if not path.is_file():
        have = stored_scenarios(cache_dir, digest)
        raise ScenarioNotScoredError(
            f"pool {digest} has no responses for {scen!r} with model {model_id!r} in {cache_dir}; "
            f"it was scored on {have or 'nothing yet'}"
        )
    return ResponseMatrix.load(path)


def compute_response_matrix(
    model: LanguageModel,
    personas: Sequence[Persona],
    survey: Survey,
    *,
    cache_dir: str | os.PathLike[str],
    item_ids: Sequence[str] | None = None,
    chunk_size: int = 50,
    progress: bool = True,
) -> ResponseMatrix:
    """Load or compute the response matrix of a pool for a survey (or an item subset of it).

    Args:
        model: the respondent LLM (usually cache-wrapped); not called when the file exists.
        personas: the pool, K personas (``text`` = system prompt).
        survey: the survey asked.
        cache_dir: folder of the Parquet files.
        item_ids: items to ask (default: all, in survey order).
        chunk_size: personas per chunk between partial writes.
        progress: show a tqdm bar over personas.

    Returns:
        ResponseMatrix with ``expected`` of shape ``(K, Q)``. ``metadata`` holds ``backend_calls`` and
        ``n_requests`` of *this* call (0 when loaded from the file).

    Raises:
        ValueError: an empty pool, an unknown item id or a bad chunk size.
    """
    if not personas:
        raise ValueError("the persona pool is empty: nothing to ask")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    ids = tuple(item_ids) if item_ids else tuple(it.id for it in survey.items)
    questions = tuple(survey.question(i) for i in ids)  # raises ScenarioError for an unknown id
    digest, scen = pool_digest(personas), scenario_key(survey, ids)
    path = matrix_path(cache_dir, digest, model.model_id, scen)
    if path.is_file():
        m = ResponseMatrix.load(path)
        return ResponseMatrix(**{**m.__dict__, "metadata": {**m.metadata, "backend_calls": 0, "n_requests": 0}})
    partial = path.with_name(path.stem + ".partial.parquet")
    done_exp: list[np.ndarray] = []
    done_valid: list[np.ndarray] = []
    done_probs: list[np.ndarray] = []
    support = np.asarray(questions[0].answers.values, dtype=float)
    start = 0
    if partial.is_file():
        prev = ResponseMatrix.load(partial)
        if prev.persona_ids != tuple(p.id for p in personas[: len(prev)]):
            raise ValueError(f"{partial}: partial results do not match this pool's order; delete the file")
        done_exp.append(prev.expected)
        done_valid.append(prev.valid_mass)
        done_probs.append(prev.probs)
        start = len(prev)
    calls = requests = 0
    bar = progress_bar(
        total=len(personas), initial=start, desc=f"responses {survey.name}", unit="persona", enabled=progress
    )
    for lo in range(start, len(personas), chunk_size):
        chunk = personas[lo : lo + chunk_size]
        tensor = answer_distributions(model, chunk, questions, progress=False)
        done_exp.append(tensor.expected())
        done_valid.append(tensor.valid_mass)
        done_probs.append(tensor.probs)
        calls += tensor.usage.backend_calls
        requests += tensor.n_requests
        parts = (done_exp, done_valid, done_probs, support)
        _build(personas[: lo + len(chunk)], survey, ids, parts, digest, model.model_id, scen, {}).save(partial)
        bar.update(len(chunk))
    bar.close()
    result = _build(
        personas,
        survey,
        ids,
        (done_exp, done_valid, done_probs, support),
        digest,
        model.model_id,
        scen,
        {"backend_calls": calls, "n_requests": requests},
    )
    result.save(path)
    partial.unlink(missing_ok=True)
    return result


def _build(personas, survey, ids, parts, digest, model_id, scen, meta) -> ResponseMatrix:
    exp_parts, valid_parts, prob_parts, support = parts
    expected = np.concatenate(exp_parts, axis=0)
    dims, sums = keyed_sums(survey, ids, expected)
    return ResponseMatrix(
        persona_ids=tuple(p.id for p in personas),
        item_ids=ids,
        dimensions=dims,
        expected=expected,
        trait_sums=sums,
        valid_mass=np.concatenate(valid_parts, axis=0),
        pool_digest=digest,
        model_id=model_id,
        scenario=scen,
        metadata=meta,
        probs=np.concatenate(prob_parts, axis=0),
        support=support,
    )
