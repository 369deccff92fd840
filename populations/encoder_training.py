r"""A retrieval encoder trained contrastively on (group query, persona) pairs (arXiv:2509.10127 §3.3 [1]).

The steps of [1] §3.3, on a persona pool:

1. **Split** the pool (a seeded subset of ``n_personas``) into train and held-out personas (stream
   ``("encoder-split", pool)``), so evaluation pairs are never trained on.
2. **Queries** (Eq. 13): the LLM writes a *detailed* and a *broad* group description for every persona (one seeded
   generation each, through the project's cached client). A reply that is empty, a refusal, or a copy of the
   persona is recorded in ``failures`` and gives no pair; nothing is substituted.
3. **Hard negatives**: for each train pair, the ``hard_k`` train personas the untrained encoder ranks closest to the
   query (the positive excluded) plus ``n_random`` random train personas.
4. **False-negative filter**: the LLM is asked whether each mined negative (hard or random) fits the query too, as an exact
   distribution over the answers 1 (fits) / 2 (does not fit). A candidate with P(fits) >= 0.5 is removed as a
   false negative; one whose valid answer mass is below 0.5 is removed as unanswered. Both are recorded
   (``filtered``).
5. **Fine-tuning**: the shipped MiniLM is trained with sentence-transformers'
   :class:`~sentence_transformers.losses.MultipleNegativesRankingLoss` on (query, persona, negative) triplets —
   the contrastive cosine loss of Eq. 14,

   .. math:: \mathcal L = -\log \frac{e^{s\cos(q, p^+)}}{e^{s\cos(q, p^+)} + \sum_{p^-} e^{s\cos(q, p^-)}},

   whose negatives are the mined hard negatives plus the other personas of the batch (scale :math:`s = 20`).
   Batches hold no repeated query or persona (an in-batch duplicate would be a false negative). The optimiser
   is :class:`torch.optim.AdamW`. (The ``datasets`` package that ``SentenceTransformerTrainer`` needs is not
   installed, so the loop feeds the library's loss directly.)
6. **Record**: the model is saved as a versioned folder ``<out>/<pool>-v<N>`` with ``training.json``: the split,
   every query and failure, every filtered negative, the sizes, the loss curve, the timings and recall@1/@10 of
   the held-out pairs for the untrained and the trained encoder.

References:
    [1] "Population-Aligned Persona Generation for LLM-based Social Simulation", arXiv:2509.10127.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from populace_lm.base import LanguageModel
from populace_lm.progress import progress_bar
from populace_lm.seeds import seed_int, seed_rng
from populace_lm.types import DistributionRequest, GenerationRequest, IntegerAnswers, Message, stable_seed
from populations.persona import Persona

__all__ = [
    "QUERY_KINDS",
    "EncoderError",
    "TrainedEncoder",
    "load_encoder",
    "recall_at",
    "split_personas",
    "train_retrieval_encoder",
    "write_queries",
]

#: The two queries of Eq. 13 [1]: the instruction for each kind.
QUERY_KINDS = {
    "detailed": "Write one sentence describing a specific group of people this person belongs to, naming several "
    "of their traits (for example: retired nurses in rural Ohio who volunteer at church).",
    "broad": "Write a short phrase naming a broad group of people this person belongs to (for example: older "
    "women, or young city professionals).",
}
_SYSTEM = "You describe groups of people for a survey sampling frame."
_REFUSAL = re.compile(r"\b(i can(?:no|')t|i am unable|i'm unable|as an ai|i won't)\b", re.IGNORECASE)
_LEAD = re.compile(r"^\s*(?:[-*•]|\d+[.)]|(?:group|answer|description|query)\s*:)\s*", re.IGNORECASE)
MIN_POOL = 10


class EncoderError(ValueError):
    """A retrieval-encoder input the user can fix (a folder that is no model, a pool too small to split)."""


def load_encoder(path: str | os.PathLike[str]) -> Any:
    """A sentence-transformers model folder as an :class:`~populations.subgroups.Encoder` (loaded on first use).

    Raises:
        EncoderError: the folder does not exist or holds no sentence-transformers model (``modules.json``).
    """
    from populations.subgroups import MiniLMEncoder

    p = Path(path).expanduser()
    if not p.is_dir():
        raise EncoderError(f"encoder folder {p} does not exist; pass a folder written by populace train-encoder")
    if not (p / "modules.json").is_file():
        raise EncoderError(
            f"{p} is not a sentence-transformers model folder (no modules.json); pass a folder written by "
            "populace train-encoder (or the shipped MiniLM)"
        )
    return MiniLMEncoder(p)


def split_personas(
    personas: Sequence[Persona], *, held_out: float, seed: int, name: str
) -> tuple[list[Persona], list[Persona]]:
    """A seeded split into (train, held-out) personas (stream ``("encoder-split", name)``).

    Raises:
        EncoderError: fewer than :data:`MIN_POOL` personas, or a fraction leaving a side with fewer than 2.
    """
    n = len(personas)
    if not 0.0 < held_out < 1.0:
        raise EncoderError(f"the held-out fraction must be in (0, 1), got {held_out}")
    n_held = round(held_out * n)
    if n < MIN_POOL or n_held < 2 or n - n_held < 2:
        raise EncoderError(
            f"pool {name!r} has {n} personas: too few to split into train and held-out personas "
            f"(at least {MIN_POOL}, 2 on each side with held-out fraction {held_out}); use a larger pool or "
            "--n-personas"
        )
    order = seed_rng(seed, "encoder-split", name).permutation(n)
    held = set(order[:n_held].tolist())
    return [p for i, p in enumerate(personas) if i not in held], [p for i, p in enumerate(personas) if i in held]


def _clean_query(reply: str, persona: Persona) -> tuple[str | None, str | None]:
    """(query, None) or (None, reason)."""
    lines = [ln.strip() for ln in reply.strip().splitlines() if ln.strip()]
    if not lines:
        return None, "empty"
    text = _LEAD.sub("", lines[0]).strip().strip("\"'“”").strip()
    if not text:
        return None, "empty"
    if _REFUSAL.search(text):
        return None, "refusal"
    if text.lower() in persona.text.lower() and len(text) > 0.8 * len(persona.text):
        return None, "copy of the persona"
    return text[:300], None


def write_queries(
    model: LanguageModel, personas: Sequence[Persona], *, seed: int, max_tokens: int = 48, progress: bool = True
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Eq. 13 [1]: a detailed and a broad group query per persona, by the LLM (one seeded generation each).

    Returns:
        ``(queries, failures)``: ``{"persona_id", "kind", "query"}`` per usable reply and
        ``{"persona_id", "kind", "reason", "reply"}`` per unusable one.
    """
    queries: list[dict[str, str]] = []
    failures: list[dict[str, str]] = []
    jobs = [(p, kind) for p in personas for kind in QUERY_KINDS]
    for p, kind in progress_bar(jobs, desc="group queries", unit="query", enabled=progress):
        req = GenerationRequest(
            messages=(
                Message(role="system", content=_SYSTEM),
                Message(
                    role="user",
                    content=f"Here is a person:\n\n{p.text}\n\n{QUERY_KINDS[kind]} "
                    "Reply with the group description only.",
                ),
            ),  # fmt: skip
            temperature=0.7,
            max_tokens=max_tokens,
            seed=stable_seed("encoder-query", seed, kind, p.id),
        )
        reply = model.generate(req).text
        query, reason = _clean_query(reply, p)
        if query is None:
            failures.append({"persona_id": p.id, "kind": kind, "reason": str(reason), "reply": reply})
        else:
            queries.append({"persona_id": p.id, "kind": kind, "query": query})
    return queries, failures


def _fits(model: LanguageModel, query: str, persona: Persona, seed: int) -> tuple[float, float]:
    """P(the persona fits the query) and the valid answer mass, from one exact distribution request."""
    req = DistributionRequest(
        messages=(
            Message(role="system", content=_SYSTEM),
            Message(
                role="user",
                content=f"Group: {query}\n\nPerson: {persona.text}\n\nDoes this person belong to the group? "
                "Answer 1 for yes or 2 for no.",
            ),
        ),
        answers=IntegerAnswers(low=1, high=2),
        answer_prefix="Answer: ",
        seed=stable_seed("encoder-filter", seed, query, persona.id),
    )
    d = model.answer_distribution(req)
    return float(d.probs[0]) if d.valid_mass > 0 else 0.0, float(d.valid_mass)


def recall_at(query_emb: np.ndarray, persona_emb: np.ndarray, positives: np.ndarray, ks: Sequence[int]) -> dict:
    """Recall@k of queries against personas by cosine similarity.

    Args:
        query_emb: normalised query embeddings, shape ``(q, d)``.
        persona_emb: normalised persona embeddings, shape ``(n, d)``.
        positives: the row of each query's persona in ``persona_emb``, shape ``(q,)``.
        ks: the k values.

    Returns:
        ``{"recall@k": fraction of queries whose persona is among the k most similar}``.
    """
    sims = np.asarray(query_emb, dtype=np.float64) @ np.asarray(persona_emb, dtype=np.float64).T  # (q, n)
    pos = np.asarray(positives, dtype=np.int64)
    rank = (sims > sims[np.arange(pos.size), pos][:, None]).sum(axis=1)  # 0 = best
    return {f"recall@{k}": float(np.mean(rank < k)) for k in ks}


def _batches(rows: list[tuple[str, str, str]], size: int, rng: np.random.Generator) -> list[list[int]]:
    """Shuffled batches of at most ``size`` triplets in which no query or persona text repeats."""
    order = rng.permutation(len(rows)).tolist()
    batches: list[list[int]] = []
    while order:
        batch: list[int] = []
        used: set[str] = set()
        rest: list[int] = []
        for i in order:
            texts = {rows[i][0], rows[i][1], rows[i][2]}
            if len(batch) < size and not (texts & used):
                batch.append(i)
                used |= texts
            else:
                rest.append(i)
        batches.append(batch)
        order = rest
    return batches


class TrainedEncoder:
    """The outcome of :func:`train_retrieval_encoder`: the saved folder and its training record."""

    def __init__(self, path: Path, record: dict[str, Any]) -> None:
        self.path = path
        self.record = record


def _next_version(out: Path, name: str) -> tuple[int, Path]:
    out.mkdir(parents=True, exist_ok=True)
    taken = [int(m.group(1)) for p in out.iterdir() if (m := re.fullmatch(re.escape(name) + r"-v(\d+)", p.name))]
    version = 1 + max(taken, default=0)
    return version, out / f"{name}-v{version}"


def train_retrieval_encoder(
    model: LanguageModel,
    pool: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    n_personas: int = 120,
    held_out: float = 0.25,
    hard_k: int = 3,
    n_random: int = 1,
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 2e-5,
    base: str | os.PathLike[str] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> TrainedEncoder:
    """Train a retrieval encoder on a persona pool ([1] §3.3, the module docstring) and save it, versioned.

    Args:
        model: the LLM that writes queries and filters false negatives (cache-wrapped).
        pool: persona pool name or path.
        out: folder receiving ``<pool>-v<N>/``.
        n_personas: personas drawn from the pool (seeded; all when the pool is smaller).
        held_out: fraction of them held out of training (their pairs are the evaluation pairs).
        hard_k: hard negatives per pair (most similar train personas under the untrained encoder).
        n_random: random negatives per pair.
        epochs: passes over the triplets.
        batch_size: triplets per batch.
        lr: AdamW learning rate.
        base: the model folder to fine-tune (default: the shipped MiniLM).
        seed: root seed (subset, split, queries, negatives, batches, initialisation order).
        progress: progress bars.

    Returns:
        The saved folder and its record.

    Raises:
        EncoderError: a pool too small to split, or no training pair left.
        PoolError: the pool is missing or malformed.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from populations.pools import load_pool, resolve_pool_path
    from populations.subgroups import minilm_path

    t_start = time.perf_counter()
    personas = load_pool(pool)
    name = resolve_pool_path(pool).parent.name
    if len(personas) > n_personas:
        keep = np.sort(seed_rng(seed, "encoder-subset", name).choice(len(personas), size=n_personas, replace=False))
        personas = tuple(personas[i] for i in keep)
    train, held = split_personas(personas, held_out=held_out, seed=seed, name=name)
    index = {p.id: i for i, p in enumerate(personas)}
    t0 = time.perf_counter()
    queries, failures = write_queries(model, personas, seed=seed, progress=progress)
    t_queries = time.perf_counter() - t0
    train_ids = {p.id for p in train}
    train_q = [q for q in queries if q["persona_id"] in train_ids]
    held_q = [q for q in queries if q["persona_id"] not in train_ids]
    if not train_q or not held_q:
        raise EncoderError(
            f"pool {name!r}: the LLM wrote {len(train_q)} usable train and {len(held_q)} held-out queries "
            f"({len(failures)} failures recorded); use more personas or another model"
        )
    base_path = Path(base) if base is not None else minilm_path()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(seed_int(seed, "encoder-torch"))
    st = SentenceTransformer(str(base_path), device="cpu")

    def encode(texts: Sequence[str]) -> np.ndarray:
        return st.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    all_emb = encode([p.text for p in personas])
    held_pos = np.array([index[q["persona_id"]] for q in held_q])
    before = recall_at(encode([q["query"] for q in held_q]), all_emb, held_pos, (1, 10))
    # hard negatives among the train personas, by the untrained encoder
    t0 = time.perf_counter()
    train_rows = np.array([index[p.id] for p in train])
    q_emb = encode([q["query"] for q in train_q])
    sims = q_emb @ all_emb[train_rows].T  # (pairs, n_train)
    rng = seed_rng(seed, "encoder-negatives", name)
    triplets: list[tuple[str, str, str]] = []
    filtered: list[dict[str, Any]] = []
    candidates: list[tuple[int, int, str]] = []  # (pair, persona row, "hard" | "random")
    for j, q in enumerate(train_q):
        pos = index[q["persona_id"]]
        ranked = [int(train_rows[r]) for r in np.argsort(-sims[j], kind="stable") if int(train_rows[r]) != pos]
        hard = ranked[:hard_k]
        pool_rest = ranked[hard_k:]
        rand = [pool_rest[i] for i in rng.choice(len(pool_rest), size=min(n_random, len(pool_rest)), replace=False)]
        candidates += [(j, r, "hard") for r in hard] + [(j, r, "random") for r in rand]
    for j, r, how in progress_bar(candidates, desc="false-negative filter", unit="pair", enabled=progress):
        q = train_q[j]
        p_fit, mass = _fits(model, q["query"], personas[r], seed)
        if mass < 0.5 or p_fit >= 0.5:
            filtered.append(
                {
                    "query": q["query"],
                    "positive": q["persona_id"],
                    "negative": personas[r].id,
                    "mined": how,
                    "p_fits": round(p_fit, 4),
                    "valid_mass": round(mass, 4),
                    "reason": "unanswered" if mass < 0.5 else "false negative",
                }
            )
            continue
        triplets.append((q["query"], personas[index[q["persona_id"]]].text, personas[r].text))
    t_mining = time.perf_counter() - t0
    if not triplets:
        raise EncoderError(f"pool {name!r}: every negative was filtered ({len(filtered)}); nothing to train on")
    # fine-tune with the library's contrastive loss (Eq. 14)
    t0 = time.perf_counter()
    loss_fn = MultipleNegativesRankingLoss(st)
    opt = torch.optim.AdamW(st.parameters(), lr=lr)
    batch_rng = seed_rng(seed, "encoder-batches", name)
    curve: list[float] = []
    st.train()
    steps = [b for _ in range(epochs) for b in _batches(triplets, batch_size, batch_rng)]
    for batch in progress_bar(steps, desc="fine-tune", unit="batch", enabled=progress):
        feats = [st.preprocess([triplets[i][c] for i in batch]) for c in range(3)]  # query, positive, negative
        loss = loss_fn(feats, labels=None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(round(float(loss.detach()), 5))
    st.eval()
    t_train = time.perf_counter() - t0
    after = recall_at(encode([q["query"] for q in held_q]), encode([p.text for p in personas]), held_pos, (1, 10))
    version, folder = _next_version(Path(out), name)
    st.save(str(folder))
    record = {
        "kind": "populace.retrieval_encoder",
        "version": version,
        "pool": name,
        "base": str(base_path),
        "seed": seed,
        "llm": str(getattr(model, "model_id", "")),
        "sizes": {
            "personas": len(personas),
            "train_personas": len(train),
            "held_out_personas": len(held),
            "train_pairs": len(train_q),
            "held_out_pairs": len(held_q),
            "triplets": len(triplets),
            "filtered": len(filtered),
            "query_failures": len(failures),
        },
        "params": {
            "n_personas": n_personas,
            "held_out": held_out,
            "hard_k": hard_k,
            "n_random": n_random,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "loss": "MultipleNegativesRankingLoss (scale 20, cosine)",
        },
        "recall_untrained": before,
        "recall_trained": after,
        "seconds": {
            "queries": round(t_queries, 2),
            "mining_and_filter": round(t_mining, 2),
            "training": round(t_train, 2),
            "total": round(time.perf_counter() - t_start, 2),
        },
        "torch_threads": torch.get_num_threads(),
        "loss_curve": curve,
        "split": {"train": [p.id for p in train], "held_out": [p.id for p in held]},
        "queries": queries,
        "failures": failures,
        "filtered": filtered,
    }
    (folder / "training.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return TrainedEncoder(folder, record)
