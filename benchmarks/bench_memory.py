"""Peak memory of ``populace run`` on a fixed-prompt survey, against the number of agents (issue 21, item 8).

Each size runs ``populace run --population fixed --scenario bigfive:E --agents N`` in a fresh interpreter (a
subprocess), which reports its own peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) when the
command ends; the answers come from a warmed response cache (10 distributions, 0 backend calls), so what is measured
is the simulation and its files. Targets: 10M agents × 10 items under 2 GB; peak RSS at 10M about that at 1M.

    python benchmarks/bench_memory.py                         # 1M and 10M agents
    python benchmarks/bench_memory.py --sizes 100000 1000000  # smaller, e.g. on a contended machine

Prints, per size: peak RSS, wall time, record rows, bytes of records.parquet per row, and the ratio of each peak
to the smallest size's. A script that prints, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, resource, sys, time
from experiments.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
wall = time.perf_counter() - start
print("BENCH " + json.dumps({"code": code, "wall_s": wall,
      "maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def run_size(agents: int, cache: str, folder: Path) -> dict:
    """One ``populace run`` of ``agents`` agents in a subprocess; its peak RSS, wall time and output size."""
    out = folder / f"run_{agents}"
    argv = ["run", "--population", "fixed", "--scenario", "bigfive:E", "--agents", str(agents)]
    argv += ["--cache", cache, "--out", str(out), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *argv], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"populace run --agents {agents} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    result = json.loads(line.removeprefix("BENCH "))
    records = out / "records.parquet"
    result["rows"] = agents * 10
    result["parquet_bytes"] = records.stat().st_size
    for path in out.iterdir():
        path.unlink()
    out.rmdir()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000], help="agent counts")
    parser.add_argument("--cache", default=None, help="response cache (default $POPULACE_CACHE)")
    parser.add_argument("--out", default=None, help="scratch folder for the runs (default: a temporary one)")
    args = parser.parse_args()
    cache = args.cache or os.environ.get("POPULACE_CACHE") or str(Path("~/.cache/populace/responses.sqlite"))
    with tempfile.TemporaryDirectory(prefix="bench_memory_", dir=args.out) as scratch:
        folder = Path(scratch)
        start = time.perf_counter()
        warm = run_size(10, cache, folder)  # fills the cache with the 10 distributions (the embedded model)
        print(f"warm-up (10 agents, fills the cache): {time.perf_counter() - start:.1f} s, code {warm['code']}")
        print(f"{'agents':>12} {'rows':>13} {'peak RSS':>10} {'vs first':>8} {'wall s':>8} {'B/row':>6}")
        first = None
        for agents in args.sizes:
            r = run_size(agents, cache, folder)
            first = first or r["maxrss_bytes"]
            print(
                f"{agents:>12,} {r['rows']:>13,} {r['maxrss_bytes'] / 2**20:>8.0f} MiB "
                f"{r['maxrss_bytes'] / first:>8.2f} {r['wall_s']:>8.1f} {r['parquet_bytes'] / r['rows']:>6.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
