"""Benchmark of alignment numerics (run once, prints numbers; not a test).

(a) exact LP vs SLSQP mixture weights: loss ratio and time ratio over 50 random K=50 mixtures on 0..100.
(b) OT alignment with the settings :class:`populations.aligned.AlignedPersonaBuilder` uses by default (its ``reg``,
    ``reg_m`` and formulation, on standardised vectors; not :func:`alignment.transport_weights`' own ``reg_m=1.0``)
    on N pool x N human vectors of dimension D: wall time, peak RSS, and how far the alignment moves the pool toward
    the humans — the fraction of the mean gap closed, ``mean_d (pool_mean - weighted_mean) / (pool_mean - human_mean)``
    (>= 90 % expected). The pool is "shifted" by holding half human-like personas N(0, 1) and half personas shifted
    by +1 in every dimension (pool mean 0.5, humans 0), so an aligned subset exists. For reference the same is
    printed for a pool shifted as a whole, N(0.5, 1): no reweighting of such a pool can close the gap in 50
    dimensions (the density ratio's second moment is exp(D * 0.25) = e^12.5), so its small fraction is expected.
    Then the builder's full default pipeline (KDE importance sampling, OT, draw) on the same pool, and, on an
    S x S subproblem, the L1 difference between blocked per-candidate masses and a dense POT solution.

Usage: python benchmarks/bench_alignment.py [--n 20000] [--dim 50] [--sub 4000] [--skip-a] [--skip-b]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings

import numpy as np

from alignment import fit_mixture_weights, standardize, transport_weights
from populations.aligned import AlignedPersonaBuilder

DEFAULTS = AlignedPersonaBuilder().get_params()
OT_KW = {"reg": DEFAULTS["reg"], "reg_m": DEFAULTS["reg_m"], "formulation": DEFAULTS["formulation"]}


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


def synthetic(n: int, m: int, dim: int, seed: int, *, kind: str = "mixture") -> tuple[np.ndarray, np.ndarray]:
    """Pool (n, dim) and humans (m, dim): ``mixture`` = half N(0, 1), half N(1, 1); ``global`` = all N(0.5, 1)."""
    rng = np.random.default_rng(seed)
    human = rng.standard_normal((m, dim), dtype=np.float32).astype(np.float64)
    pool = rng.standard_normal((n, dim), dtype=np.float32).astype(np.float64)
    if kind == "mixture":
        pool[n // 2 :] += 1.0
    else:
        pool += 0.5
    return pool, human


def gap_closed(pool: np.ndarray, human: np.ndarray, weights: np.ndarray) -> float:
    """Mean over dimensions of the fraction of the pool-to-human mean gap closed by ``weights`` (shape (N,))."""
    start, goal = pool.mean(axis=0), human.mean(axis=0)
    return float(np.mean((start - weights @ pool) / (start - goal)))


def bench_transport(n: int, dim: int, sub: int) -> None:
    print(
        f"(b) OT with AlignedPersonaBuilder's defaults (formulation={OT_KW['formulation']}, reg={OT_KW['reg']}, "
        f"reg_m={OT_KW['reg_m']}; transport_weights' own default reg_m=1.0) on {n:,} x {n:,} x {dim}"
    )
    for kind in ("mixture", "global"):
        pool, human = synthetic(n, n, dim, seed=1, kind=kind)
        xz, yz, _, _ = standardize(pool, human)
        t0, c0 = time.perf_counter(), cpu_seconds()
        res = transport_weights(xz, yz, **OT_KW)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        label = "half human-like, half +1" if kind == "mixture" else "whole pool +0.5 (reference)"
        print(f"    pool {label}:")
        print(
            f"      wall time {wall:.1f} s (CPU {cpu:.1f} s; load average {os.getloadavg()[0]:.1f}), "
            f"peak RSS {peak_rss_gb():.2f} GB, block_size={res.block_size}, max n_iter {res.n_iter}, "
            f"converged {res.converged}"
        )
        print(
            f"      mean over dimensions: pool {pool.mean():.3f} -> weighted {float(np.mean(res.weights @ pool)):.3f} "
            f"(humans {human.mean():.3f}); gap closed {gap_closed(pool, human, res.weights):.1%}"
        )
        if kind == "mixture":
            print(f"      mass on the human-like half: {res.weights[: n // 2].sum():.1%}")
            old = transport_weights(xz, yz, reg=OT_KW["reg"], formulation=OT_KW["formulation"])
            print(f"      with transport_weights' own reg_m=1.0: gap closed {gap_closed(pool, human, old.weights):.1%}")
        del pool, human, xz, yz, res

    pool, human = synthetic(sub, sub, dim, seed=3)
    t0 = time.perf_counter()
    full = AlignedPersonaBuilder().fit_vectors(pool, human)
    dt = time.perf_counter() - t0
    print(
        f"    full default pipeline (IS keep {DEFAULTS['keep_fraction']}, OT, draw of {full.n_select_:,}) on "
        f"{sub:,} x {sub:,}: {dt:.1f} s; gap closed by the mass {gap_closed(pool, human, full.weights_):.1%}, "
        f"by the drawn set {gap_closed(pool, human, np.bincount(full.selected_, minlength=sub) / full.n_select_):.1%}"
    )

    p, h = synthetic(sub, sub, dim, seed=2)
    pz, hz, _, _ = standardize(p, h)
    t0 = time.perf_counter()
    dense = transport_weights(pz, hz, block_size=None, **OT_KW)
    t_dense = time.perf_counter() - t0
    print(f"    {sub:,} x {sub:,} subproblem: dense POT (float64) {t_dense:.1f} s, n_iter {dense.n_iter}")
    for bs in (sub, sub // 2, sub // 5, sub // 20):
        t0 = time.perf_counter()
        blk = transport_weights(pz, hz, block_size=bs, **OT_KW)
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
    parser.add_argument("--n", type=int, default=20_000, help="pool and human size for (b)")
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--sub", type=int, default=4_000, help="size of the pipeline and dense comparison problems")
    parser.add_argument("--skip-a", action="store_true")
    parser.add_argument("--skip-b", action="store_true")
    args = parser.parse_args()
    if not args.skip_a:
        bench_mixture()
    if not args.skip_b:
        bench_transport(args.n, args.dim, args.sub)


if __name__ == "__main__":
    main()
