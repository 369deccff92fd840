"""Retrieval benchmarks (prints; not timed tests): the FAISS index, and the trained retrieval encoder.

    .venv/bin/python benchmarks/bench_retrieval.py            # 1,000,000 x 384, top-500
    .venv/bin/python benchmarks/bench_retrieval.py --n 100000 # quicker
    .venv/bin/python benchmarks/bench_retrieval.py encoder --pool personahub   # untrained vs trained encoder

``encoder``: :func:`populations.encoder_training.train_retrieval_encoder` on ``--n-personas`` personas of the pool
with the project's LLM (embedded SmolLM2 by default, through the response cache, so a rerun asks nothing), torch
on ``--threads`` threads; prints recall@1 and recall@10 of the held-out (query, persona) pairs — queries of
personas never trained on, ranked against every persona of the subset — for the untrained MiniLM and the
trained encoder, and the time of each phase.

Index benchmark:

Embeddings are synthetic but clustered like real sentence embeddings (points around ``--clusters`` random
directions on the unit sphere, normalised), because isotropic random vectors have no near neighbours and make every
approximate index look bad; by default each cluster holds ~5,000 points, so a top-500 query stays within its
topic. Queries are fresh points from the same clusters (not in the index). Exact = ``IndexFlatIP``;
approximate = the index :class:`populations.subgroups.PersonaIndex` builds above its exact limit, made by the
same :func:`populations.subgroups.build_faiss_index` (``IndexIVFFlat``, √n lists, k-means on a 100k sample) and
tuned by the same :func:`populations.subgroups.tune_nprobe` (probed lists doubled until recall@k >= ``--target``).
The printed recall is measured on a second, independent set of queries, not the ones used for tuning.
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from populations.subgroups import build_faiss_index, recall_at_k, tune_nprobe


def cluster_centres(clusters: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Random unit directions, shape ``(clusters, d)``."""
    c = rng.normal(size=(clusters, d)).astype(np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def synthetic(n: int, centres: np.ndarray, rng: np.random.Generator, spread: float = 0.6) -> np.ndarray:
    """``n`` unit vectors scattered around random ``centres``, shape ``(n, d)``, float32."""
    d = centres.shape[1]
    out = np.empty((n, d), dtype=np.float32)
    step = 100_000
    for lo in range(0, n, step):
        m = min(step, n - lo)
        x = centres[rng.integers(len(centres), size=m)]
        x = x + spread / np.sqrt(d) * rng.normal(size=(m, d)).astype(np.float32)
        out[lo : lo + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--k", type=int, default=500)
    p.add_argument("--queries", type=int, default=20)
    p.add_argument("--clusters", type=int, default=None, help="default n // 5000 (top-k within a topic)")
    p.add_argument("--nlist", type=int, default=None, help="inverted lists (default √n, as PersonaIndex)")
    p.add_argument("--target", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    args.clusters = args.clusters or max(10, args.n // 5000)
    t = time.perf_counter()
    centres = cluster_centres(args.clusters, args.dim, rng)
    xb = synthetic(args.n, centres, rng)
    xq = synthetic(args.queries, centres, rng)  # evaluation queries: same topics, not in the index
    xt = synthetic(args.queries, centres, rng)  # tuning queries, independent of the evaluation ones
    print(
        f"data: {args.n:,} x {args.dim} float32 ({xb.nbytes / 2**30:.2f} GiB) in {time.perf_counter() - t:.1f} s; "
        f"{faiss.omp_get_max_threads()} threads"
    )

    exact = build_faiss_index(xb, exact=True)
    exact.search(xq[:1], args.k)
    t = time.perf_counter()
    _, e_ids = exact.search(xq, args.k)
    t_exact = (time.perf_counter() - t) / args.queries

    t = time.perf_counter()
    ivf = build_faiss_index(xb, exact=False, nlist=args.nlist, seed=args.seed)
    print(f"IVF{ivf.nlist},Flat built in {time.perf_counter() - t:.1f} s")
    _, t_ids = exact.search(xt, args.k)
    for nprobe, rec in tune_nprobe(ivf, xt, t_ids, target=args.target):
        print(f"  tuning nprobe={nprobe:4d}: recall@{args.k} {rec:.4f}")
    ivf.search(xq[:1], args.k)
    t = time.perf_counter()
    _, a_ids = ivf.search(xq, args.k)
    t_approx = (time.perf_counter() - t) / args.queries
    rec = recall_at_k(a_ids, e_ids)
    print(f"exact IndexFlatIP: {1000 * t_exact:.2f} ms/query")
    print(
        f"approximate IVF (nprobe={ivf.nprobe}): {1000 * t_approx:.2f} ms/query, recall@{args.k} {rec:.4f} "
        f"on held-out queries (target {args.target}), speed-up x{t_exact / t_approx:.1f}"
    )


def encoder_main(argv: list[str]) -> None:
    """The ``encoder`` benchmark (see the module docstring)."""
    import tempfile

    import torch

    from populace_lm.config import LLMConfig, build_model, close_model
    from populations.encoder_training import train_retrieval_encoder

    p = argparse.ArgumentParser(prog="bench_retrieval.py encoder")
    p.add_argument("--pool", default="personahub")
    p.add_argument("--n-personas", type=int, default=120)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="model folder root (default a temporary folder)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = build_model(LLMConfig.from_env())
    try:
        out = args.out or tempfile.mkdtemp(prefix="populace-encoder-")
        t = train_retrieval_encoder(
            model, args.pool, out, n_personas=args.n_personas, epochs=args.epochs, seed=args.seed
        )
    finally:
        close_model(model)
    r = t.record
    sz, sec = r["sizes"], r["seconds"]
    print(
        f"pool {r['pool']}: {sz['personas']} personas ({sz['train_personas']} train, {sz['held_out_personas']} "
        f"held out), {sz['train_pairs']} train / {sz['held_out_pairs']} held-out pairs, {sz['triplets']} triplets, "
        f"{sz['filtered']} negatives filtered, {sz['query_failures']} query failures; LLM {r['llm']}"
    )
    print("| encoder | recall@1 | recall@10 |\n| --- | --- | --- |")
    for label, key in (("untrained MiniLM", "recall_untrained"), ("trained", "recall_trained")):
        print(f"| {label} | {r[key]['recall@1']:.3f} | {r[key]['recall@10']:.3f} |")
    print(
        f"seconds: queries {sec['queries']:.0f}, mining + filter {sec['mining_and_filter']:.0f}, training "
        f"{sec['training']:.0f} on {r['torch_threads']} torch threads, total {sec['total']:.0f}; model -> {t.path}"
    )


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["encoder"]:
        encoder_main(sys.argv[2:])
    else:
        main()
