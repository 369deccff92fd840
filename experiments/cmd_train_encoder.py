"""``populace train-encoder``: fine-tune the retrieval encoder of ``populace select`` on a persona pool.

The LLM writes a detailed and a broad group query per persona (arXiv:2509.10127 Eq. 13, cached), hard negatives
are mined with the untrained encoder and false negatives filtered by the LLM, and the shipped MiniLM is fine-tuned
with a contrastive loss (Eq. 14). The model is saved as ``OUT/<pool>-v<N>/`` with ``training.json`` (split,
queries, failures, filtered negatives, timings, recall@1/@10 of held-out pairs before and after); pass the folder
to ``populace select --encoder``.
"""

from __future__ import annotations

import argparse

from experiments.common import add_model_args
from experiments.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train-encoder`` sub-command."""
    p = sub.add_parser(
        "train-encoder", help="fine-tune the subgroup retrieval encoder on a persona pool", description=__doc__
    )
    p.add_argument("--pool", required=True, help="persona pool name (../shared/personas/NAME) or path")
    p.add_argument("--out", default="encoders", help="folder receiving POOL-vN/ (default encoders/)")
    p.add_argument("--n-personas", type=int, default=120, help="personas drawn from the pool (default 120)")
    p.add_argument("--held-out", type=float, default=0.25, help="fraction of personas held out (default 0.25)")
    p.add_argument("--hard-k", type=int, default=3, help="hard negatives per pair (default 3)")
    p.add_argument("--n-random", type=int, default=1, help="random negatives per pair (default 1)")
    p.add_argument("--epochs", type=int, default=1, help="passes over the triplets (default 1)")
    p.add_argument("--batch-size", type=int, default=16, help="triplets per batch (default 16)")
    p.add_argument("--seed", type=int, default=0, help="root seed of every random choice")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train, save and summarise."""
    from experiments.common import model_from_args
    from populations.encoder_training import train_retrieval_encoder

    for flag in ("n_personas", "hard_k", "epochs", "batch_size"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if args.n_random < 0:
        raise UsageError(f"--n-random must be >= 0, got {args.n_random}")
    trained = train_retrieval_encoder(
        model_from_args(args),
        args.pool,
        args.out,
        n_personas=args.n_personas,
        held_out=args.held_out,
        hard_k=args.hard_k,
        n_random=args.n_random,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    r = trained.record
    s = r["sizes"]
    print(
        f"{s['train_pairs']} train / {s['held_out_pairs']} held-out pairs, {s['triplets']} triplets, "
        f"{s['filtered']} negatives filtered, {s['query_failures']} query failures; "
        f"training {r['seconds']['training']:.1f} s"
    )
    b, a = r["recall_untrained"], r["recall_trained"]
    print(
        f"held-out recall@1 {b['recall@1']:.3f} -> {a['recall@1']:.3f}, "
        f"recall@10 {b['recall@10']:.3f} -> {a['recall@10']:.3f}"
    )
    print(f"encoder -> {trained.path} (populace select --encoder {trained.path})")
    return 0
