"""Benchmark of alignment numerics (run once, prints numbers; not a test).

(a) exact LP vs SLSQP mixture weights: loss ratio and time ratio over 50 random K=50 mixtures on 0..100.
(b) default OT alignment (semi-relaxed, blocked) on N pool x M human vectors of dimension 50: wall time and
    peak RSS; then, on a 5,000 x 5,000 subproblem, the L1 difference between blocked per-candidate masses
    and a dense POT solution of the same formulation.

Usage: python benchmarks/bench_alignment.py [--n 100000] [--dim 50] [--sub 5000] [--skip-a] [--skip-b]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings

import numpy as np

from alignment import fit_mixture_weights, transport_weights


def peak_rss_gb() -> float:
    """Peak resident set size of this process in GB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024**3 if sys.platform == "darwin" else 1024**2)


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads), to expose contention from other processes."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def bench_mixture(n_cases: int = 50, k: int = 50, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    support = np.arange(101.0)
    loss_ratios, t_lp, t_sq, lp_better = [], 0.0, 0.0, 0
    for _ in range(n_cases):
        comps = rng.dirichlet(np.full(101, 0.3), size=k)
        target = rng.dirichlet(np.full(101, 0.3))
        t0 = time.perf_counter()
        lp = fit_mixture_weights(comps, support, target, method="lp")
        t1 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sq = fit_mixture_weights(comps, support, target, method="slsqp", n_restarts=5, rng=rng)
        t2 = time.perf_counter()
        t_lp += t1 - t0
        t_sq += t2 - t1
        loss_ratios.append(lp.loss / sq.loss)
        lp_better += lp.loss <= sq.loss + 1e-9
    r = np.array(loss_ratios)
    print(f"(a) mixture weights, {n_cases} random cases, K={k}, support 0..100")
    print(
        f"    loss ratio LP/SLSQP: mean {r.mean():.4f}, median {np.median(r):.4f}, min {r.min():.4f}, "
        f"max {r.max():.4f}; LP <= SLSQP in {lp_better}/{n_cases}"
    )
    print(
        f"    time: LP {t_lp:.2f} s total, SLSQP (5 restarts) {t_sq:.2f} s total; "
        f"time ratio SLSQP/LP = {t_sq / t_lp:.1f}"
    )


def synthetic(n: int, m: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pool = (rng.standard_normal((n, dim), dtype=np.float32) + np.float32(0.5)).astype(np.float64)
    human = rng.standard_normal((m, dim), dtype=np.float32).astype(np.float64)
    return pool, human


def bench_transport(n: int, dim: int, sub: int) -> None:
    pool, human = synthetic(n, n, dim, seed=1)
    print(f"(b) default OT alignment (semi_relaxed, reg=0.05, reg_m=1.0) on {n:,} x {n:,} x {dim}")
    print(f"    peak RSS before solve: {peak_rss_gb():.2f} GB (inputs as float64)")
    t0, c0 = time.perf_counter(), cpu_seconds()
    res = transport_weights(pool, human)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    print(
        f"    wall time {wall:.1f} s (CPU {cpu:.1f} s; load average {os.getloadavg()[0]:.1f}), "
        f"peak RSS {peak_rss_gb():.2f} GB, block_size={res.block_size}, "
        f"max n_iter {res.n_iter}, converged {res.converged}"
    )
    print(
        f"    pool mean of column 0: uniform {pool[:, 0].mean():.3f} -> weighted "
        f"{res.weights @ pool[:, 0]:.3f} (humans {human[:, 0].mean():.3f})"
    )
    del pool, human, res

    p, h = synthetic(sub, sub, dim, seed=2)
    t0 = time.perf_counter()
    dense = transport_weights(p, h, block_size=None)
    t_dense = time.perf_counter() - t0
    print(f"    {sub:,} x {sub:,} subproblem: dense POT (float64) {t_dense:.1f} s, n_iter {dense.n_iter}")
    for bs in (sub, sub // 2, sub // 5, sub // 20):
        t0 = time.perf_counter()
        blk = transport_weights(p, h, block_size=bs)
        dt = time.perf_counter() - t0
        l1 = np.abs(blk.weights - dense.weights).sum()
        print(
            f"      blocked block_size={bs:>5} ({-(-sub // bs)} blocks, float32): L1(masses) = {l1:.4f}, "
            f"{dt:.1f} s, cost blocked/dense = {blk.cost / dense.cost:.4f}"
        )
    uniform_l1 = np.abs(1.0 / sub - dense.weights).sum()
    print(f"      reference: L1(uniform, dense masses) = {uniform_l1:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="pool and human size for (b)")
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--sub", type=int, default=5_000, help="size of the dense comparison subproblem")
    parser.add_argument("--skip-a", action="store_true")
    parser.add_argument("--skip-b", action="store_true")
    args = parser.parse_args()
    if not args.skip_a:
        bench_mixture()
    if not args.skip_b:
        bench_transport(args.n, args.dim, args.sub)


if __name__ == "__main__":
    main()
