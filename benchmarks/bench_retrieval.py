"""Exact vs approximate top-k retrieval over synthetic sentence embeddings (prints; not a timed test).

    .venv/bin/python benchmarks/bench_retrieval.py            # 1,000,000 x 384, top-500
    .venv/bin/python benchmarks/bench_retrieval.py --n 100000 # quicker

Embeddings are synthetic but clustered like real sentence embeddings (points around ``--clusters`` random
directions on the unit sphere, normalised), because isotropic random vectors have no near neighbours and make every
approximate index look bad; by default each cluster holds ~5,000 points, so a top-500 query stays within its
topic. Queries are fresh points from the same clusters. Exact = ``IndexFlatIP``; approximate
= ``IndexIVFFlat`` (inner product) with ``--nlist`` lists trained on a 100k sample, searched with ``--nprobe``
lists (raised automatically until recall@k >= ``--target`` or the cap is reached), the same kind of index
:class:`populations.subgroups.PersonaIndex` uses above its exact limit is HNSW; IVF is used here because building
HNSW over 1M 384-d vectors takes too long on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from populations.subgroups import recall_at_k


def synthetic(n: int, d: int, clusters: int, rng: np.random.Generator, spread: float = 0.6) -> np.ndarray:
    centres = rng.normal(size=(clusters, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, d), dtype=np.float32)
    step = 100_000
    for lo in range(0, n, step):
        m = min(step, n - lo)
        x = centres[rng.integers(clusters, size=m)] + spread / np.sqrt(d) * rng.normal(size=(m, d)).astype(np.float32)
        out[lo : lo + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--k", type=int, default=500)
    p.add_argument("--queries", type=int, default=20)
    p.add_argument("--clusters", type=int, default=None, help="default n // 5000 (top-k within a topic)")
    p.add_argument("--nlist", type=int, default=1024)
    p.add_argument("--nprobe", type=int, default=16)
    p.add_argument("--target", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    args.clusters = args.clusters or max(10, args.n // 5000)
    t = time.perf_counter()
    xb = synthetic(args.n, args.dim, args.clusters, rng)
    xq = synthetic(args.queries, args.dim, args.clusters, np.random.default_rng(args.seed))  # same centres
    print(
        f"data: {args.n:,} x {args.dim} float32 ({xb.nbytes / 2**30:.2f} GiB) in {time.perf_counter() - t:.1f} s; "
        f"{faiss.omp_get_max_threads()} threads"
    )

    exact = faiss.IndexFlatIP(args.dim)
    exact.add(xb)
    exact.search(xq[:1], args.k)
    t = time.perf_counter()
    _, e_ids = exact.search(xq, args.k)
    t_exact = (time.perf_counter() - t) / args.queries

    t = time.perf_counter()
    quant = faiss.IndexFlatIP(args.dim)
    ivf = faiss.IndexIVFFlat(quant, args.dim, args.nlist, faiss.METRIC_INNER_PRODUCT)
    train = xb[rng.choice(args.n, size=min(args.n, 100_000), replace=False)]
    ivf.train(train)
    ivf.add(xb)
    print(f"IVF{args.nlist},Flat built in {time.perf_counter() - t:.1f} s")
    nprobe = args.nprobe
    while True:
        ivf.nprobe = nprobe
        ivf.search(xq[:1], args.k)
        t = time.perf_counter()
        _, a_ids = ivf.search(xq, args.k)
        t_approx = (time.perf_counter() - t) / args.queries
        rec = recall_at_k(a_ids, e_ids)
        print(f"  nprobe={nprobe:4d}: recall@{args.k} {rec:.4f}, {1000 * t_approx:8.2f} ms/query")
        if rec >= args.target or nprobe >= args.nlist // 4:
            break
        nprobe *= 2
    print(f"exact IndexFlatIP: {1000 * t_exact:.2f} ms/query")
    print(
        f"approximate IVF (nprobe={nprobe}): {1000 * t_approx:.2f} ms/query, recall@{args.k} {rec:.4f} "
        f"(target {args.target}), speed-up x{t_exact / t_approx:.1f}"
    )


if __name__ == "__main__":
    main()
