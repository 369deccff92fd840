"""The ``retrieve`` kind: the ``k`` pool personas a sentence encoder ranks closest to a group query ([2] §3.3).

"EM w/o train" and "EM w train" of [2] Table 4: ``encoder = "minilm"`` retrieves with the shipped MiniLM,
``encoder = "train"`` with an encoder fine-tuned on the pool (:func:`populations.encoder_training.train_retrieval_encoder`,
through the study's cached LLM; the folder is kept in ``encoder_dir`` and reused when its record matches), and a
path uses a folder written by ``populace train-encoder``. The retrieved personas are equally weighted; the kind
ignores the humans (target-free).

References:
    [2] "Population-Aligned Persona Generation for LLM-based Social Simulation", arXiv:2509.10127.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from populations.constructions.params import resolve_path, resolve_pool
from populations.constructions.registry import (
    _ANSWER_TOKENS,
    BuildContext,
    BuiltConstruction,
    ConstructionError,
    ConstructionKind,
    Estimate,
    register_construction,
)
from scenarios.schema import Param, at_least

__all__ = ["RETRIEVE"]


def _resolve_encoder(value: str, base: Path) -> str:
    """``minilm``, ``train`` or a sentence-transformers folder (relative to ``base``), checked."""
    if value in ("minilm", "train"):
        return value
    from populations.encoder_training import load_encoder

    return str(load_encoder(resolve_path(value, base)).path)


def _trained(ctx: BuildContext, p: Mapping[str, Any]) -> Any:
    """The encoder trained on the pool with these settings: a matching folder in ``encoder_dir``, else a new one."""
    from populations.encoder_training import load_encoder, train_retrieval_encoder
    from populations.pools import resolve_pool_path

    if ctx.model is None:
        raise ConstructionError(
            f"construction {ctx.name!r}: encoder = 'train' needs the study's LLM to write the training queries; "
            "pass a trained folder (populace train-encoder) or encoder = 'minilm'"
        )
    out = Path(p["encoder_dir"])
    name = resolve_pool_path(p["pool"]).parent.name
    want = {"pool": name, "seed": ctx.seed, "llm": str(getattr(ctx.model, "model_id", ""))}
    for folder in sorted(out.glob(f"{name}-v*")) if out.is_dir() else []:
        rec_path = folder / "training.json"
        if not rec_path.is_file():
            continue
        rec = json.loads(rec_path.read_text())
        if {k: rec.get(k) for k in want} == want and rec["params"]["n_personas"] == p["train_personas"]:
            return load_encoder(folder)
    trained = train_retrieval_encoder(
        ctx.model, p["pool"], out, n_personas=p["train_personas"], seed=ctx.seed, progress=ctx.progress
    )
    return load_encoder(trained.path)


def _build(ctx: BuildContext, p: Mapping[str, Any]) -> BuiltConstruction:
    from populace_lm.seeds import seed_rng
    from populations.persona import Population
    from populations.pools import load_pool, resolve_pool_path
    from populations.subgroups import MiniLMEncoder, PersonaIndex

    pool = load_pool(p["pool"])
    name = resolve_pool_path(p["pool"]).parent.name
    if p["n_pool"] > len(pool):
        raise ConstructionError(f"construction {ctx.name!r}: n_pool = {p['n_pool']} exceeds the pool size {len(pool)}")
    if p["k"] > p["n_pool"]:
        raise ConstructionError(f"construction {ctx.name!r}: k = {p['k']} exceeds n_pool = {p['n_pool']}")
    rows = np.sort(seed_rng(ctx.seed, "retrieve-pool", name).choice(len(pool), p["n_pool"], replace=False))
    candidates = Population(
        personas=tuple(pool[i] for i in rows), weights=np.full(rows.size, 1.0 / rows.size), construction="retrieve"
    )
    if p["encoder"] == "minilm":
        encoder = MiniLMEncoder()
    elif p["encoder"] == "train":
        encoder = _trained(ctx, p)
    else:
        from populations.encoder_training import load_encoder

        encoder = load_encoder(p["encoder"])
    sub = PersonaIndex(candidates, encoder=encoder).select(p["query"], p["k"], min_score=-1.0)
    population = Population(
        personas=sub.personas,
        weights=np.full(len(sub), 1.0 / len(sub)),
        construction="retrieve",
        metadata={
            "query": p["query"],
            "encoder": encoder.model_id,
            "trained": p["encoder"] != "minilm",
            "n_pool": p["n_pool"],
            "scores": sub.metadata["subgroup"]["scores"],
            "random_state": ctx.seed,
        },
    )
    return BuiltConstruction(population, {})


def _estimate(p: Mapping[str, Any], q: int) -> Estimate:
    """The k personas on q questions, plus the training requests of ``encoder = "train"``.

    Training asks 2 queries per training persona and about 6 false-negative checks per persona (4 negatives for
    each of the train personas' 2 queries).
    """
    train = 8 * p["train_personas"] if p["encoder"] == "train" else 0
    return Estimate(p["k"], p["k"] * q + train, (p["k"] * q + train) * _ANSWER_TOKENS)


RETRIEVE = register_construction(
    ConstructionKind(
        name="retrieve",
        help="the k pool personas closest to a group query under a sentence encoder, untrained or trained [2]",
        params={
            "pool": Param("str", "personahub", None, "persona pool", resolve=resolve_pool),
            "query": Param("str", help="the group description, e.g. 'female US high-school students'"),
            "k": Param("int", 50, at_least(1), "personas retrieved"),
            "n_pool": Param("int", 1000, at_least(1), "candidates drawn from the pool"),
            "encoder": Param(
                "str",
                "minilm",
                None,
                "minilm (untrained), train (fine-tuned on the pool with the study's LLM) or a model folder",
                resolve=_resolve_encoder,
            ),
            "encoder_dir": Param(
                "str",
                "encoders",
                None,
                "folder of trained encoders (encoder = 'train')",
                resolve=lambda v, base: str(resolve_path(v, base)),
            ),
            "train_personas": Param("int", 120, at_least(10), "pool personas the encoder is trained on"),
        },
        build=_build,
        estimate=_estimate,
        needs_pool=True,
        target_free=True,
        needs_model=False,  # encoder = "train" asks the study's LLM when it has one (else a one-line error)
    )
)
