"""Benchmark of the inference numerics (issue 20, item 9; run once, prints numbers; not a test).

What ``populace infer`` computes after the twins have answered, at the default settings (alpha 0.1, the mean and
the median of each ordered item): 50 items on a 1–5 scale x 10,000 unlabelled rows x labelled sizes 50, 100 and
200, excluding LLM calls. The twin predictions are the expected answers of a fake with a planted bias of +0.5 and
a correlation of about 0.6 with the human answers, so the check below is meaningful: the printed coverage of the
known population mean by PPI must be near 90 % and by the simulation-only interval near 0 %.

Target: under 10 s on 2 cores.

Usage: python benchmarks/bench_inference.py [--items 50] [--rows 10000] [--humans 50,100,200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from alignment.inference import estimate_mean, estimate_median

SEED = 20261205


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--humans", default="50,100,200")
    args = ap.parse_args()
    sizes = [int(s) for s in args.humans.split(",")]
    rng = np.random.default_rng(SEED)
    n_total = args.rows + max(sizes)
    latent = rng.normal(size=(args.items, n_total))
    human = np.clip(np.rint(3 + latent + rng.normal(0, 0.8, latent.shape)), 1, 5)
    twin = np.clip(3.5 + 0.8 * latent, 1, 5)  # expected answers: biased +0.5, correlated with the humans
    truth = human.mean(axis=1)  # the finite population's own mean
    t0 = time.perf_counter()
    covered = {"ppi": 0, "naive": 0, "classical": 0}
    cells = 0
    width_ratio = []
    for j in range(args.items):
        for n in sizes:
            lab = rng.choice(n_total, size=n, replace=False)
            unl = np.setdiff1d(np.arange(n_total), lab)
            est = estimate_mean(human[j, lab], twin[j, lab], twin[j, unl])
            estimate_median(human[j, lab], twin[j, lab], twin[j, unl])
            for m in covered:
                iv = getattr(est, m)
                covered[m] += iv.lo <= truth[j] <= iv.hi
            width_ratio.append(est.ppipp.width / est.classical.width)
            cells += 1
    elapsed = time.perf_counter() - t0
    print(f"items {args.items} x unlabelled rows {args.rows} x labelled sizes {sizes}: {cells} cells, mean + median")
    print(f"wall time {elapsed:.2f} s (target < 10 s): ratio to target {elapsed / 10:.2f}")
    for m, c in covered.items():
        print(f"coverage of the population mean, {m:>9}: {c / cells:.1%} over {cells} cells")
    print(f"PPI++ width / human-only width: median {np.median(width_ratio):.2f}")
    ok = elapsed < 10 and covered["naive"] / cells < 0.5 and covered["ppi"] / cells > 0.8
    print("OK" if ok else "NOT OK")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
