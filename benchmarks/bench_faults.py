"""Fault drills: completion, request overhead and throughput of the remote backend under injected faults.

A loopback server (``tests/populace_lm/loopback_server.py``, in a process of its own) answers exact Likert distribution requests after a
service latency L, and injects faults per mix. N requests go through the full model chain of ``build_model``
(cache, accounting, budget, the OpenAI-compatible backend with its single retry loop) at concurrency C, in ONE
invocation each. Printed per mix:

* completion — answers returned / answers needed (1.0 = the run finished in one invocation);
* overhead — requests the server received / answers needed, beside the ideal ``1 / (1 - fault rate)`` and their
  ratio (acceptance: within 1.1x of the ideal);
* throughput — answers per second (after a warm-up batch of C requests that opens the connections), beside the achievable rate ``min(C / L, ceiling)``, where the ceiling is the
  zero-latency, fault-free rate measured first in the same run (acceptance without faults: >= 0.9).

    python benchmarks/bench_faults.py [--requests 1000] [--concurrency 64] [--latency 0.05]

A script that prints, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from populace_lm.budget import AccountingModel, find_layer, map_concurrent  # noqa: E402
from populace_lm.config import LLMConfig, build_model, close_model  # noqa: E402
from populace_lm.errors import LLMError  # noqa: E402
from populace_lm.progress import set_progress  # noqa: E402
from populace_lm.types import DistributionRequest, IntegerAnswers, Message  # noqa: E402
from tests.populace_lm.loopback_server import (  # noqa: E402
    FaultMix,
    FaultyHandler,
    LoopbackServer,
    Reply,
    chat_completion,
    top_logprobs_content,
)

PROBS = {"1": 0.1, "2": 0.2, "3": 0.3, "4": 0.2, "5": 0.15, "Sure": 0.05}


def answer(body: dict, n: int) -> Reply:
    return Reply(200, chat_completion("3", logprobs=top_logprobs_content(PROBS)))


def requests(n: int, tag: str) -> list[DistributionRequest]:
    return [
        DistributionRequest(
            messages=(Message(role="user", content=f"[{tag}] statement {i}: rate it from 1 to 5."),),
            answers=IntegerAnswers(low=1, high=5),
            seed=i,
        )
        for i in range(n)
    ]


def _serve(mix: FaultMix, conn: Any) -> None:
    """Child process: serve until terminated, after sending the base URL."""
    server = LoopbackServer(FaultyHandler(answer, mix)).start()
    conn.send(server.base_url)
    while True:
        time.sleep(3600)


def counters(base_url: str) -> dict[str, int]:
    """The server's own counters (``GET /counters``)."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/counters", timeout=10) as fh:
        return {k: int(v) for k, v in json.load(fh).items()}


@contextlib.contextmanager
def server_process(mix: FaultMix) -> Iterator[str]:
    """A loopback server in its own process (its own interpreter lock), so it does not slow the client."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(mix, child), daemon=True)
    proc.start()
    try:
        yield parent.recv()
    finally:
        proc.terminate()
        proc.join(timeout=10)


def drill(mix: FaultMix, n: int, concurrency: int, tag: str, cache_dir: str) -> dict[str, float]:
    """One invocation: N exact distributions at concurrency C through a fresh cache."""
    with server_process(mix) as base_url:
        config = LLMConfig(
            backend="openai",
            model="bench",
            base_url=base_url,
            api_key_env="BENCH_KEY",
            cache_path=os.path.join(cache_dir, f"{tag}.sqlite"),
            server_kind="openai",
            concurrency=concurrency,
            timeout=10.0,
        )
        model = build_model(config)
        map_concurrent(model, requests(concurrency, "warm-up " + tag), max_workers=concurrency)  # open connections
        before = counters(base_url)["received"]
        batch = requests(n, tag)
        start = time.perf_counter()
        try:
            done = len(map_concurrent(model, batch, max_workers=concurrency))
        except LLMError as exc:
            done = len(model) - concurrency  # answers stored before the failure
            print(f"  [{tag}] stopped: {exc}")
        elapsed = time.perf_counter() - start
        summary = find_layer(model, AccountingModel).summary()["run"]
        close_model(model)
        served = counters(base_url)
    assert summary["requests_sent"] == served["received"], "client and server counts differ"
    truncated = served.get("truncate", 0)
    assert summary["retries"]["bad_body"] == served.get("garbage", 0) + truncated, "a truncated body is a bad_body"
    received = served["received"] - before
    return {
        "completion": done / n,
        "received": received,
        "overhead": received / n,
        "ideal": 1.0 / (1.0 - mix.fault_rate),
        "throughput": done / elapsed,
        "elapsed": elapsed,
        "retries": sum(summary["retries"].values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="answers needed per drill")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight, C")
    parser.add_argument("--latency", type=float, default=0.05, help="server service time per request, L seconds")
    args = parser.parse_args()
    os.environ.setdefault("BENCH_KEY", "none")
    set_progress(False)
    n, c, lat = args.requests, args.concurrency, args.latency
    mixes = [
        ("no faults", FaultMix(latency=lat)),
        ("429 .2, 500 .1, garbage .05, hangs", FaultMix(p429=0.2, p500=0.1, garbage=0.05, hang=0.02, latency=lat)),
        ("429 .1, resets .05, stalls .02", FaultMix(p429=0.1, reset=0.05, stall=0.02, stall_s=12.0, latency=lat)),
        ("truncated bodies .1, 500 .05", FaultMix(truncate=0.1, p500=0.05, latency=lat)),
    ]
    with tempfile.TemporaryDirectory(prefix="bench_faults_") as cache_dir:
        ceiling = drill(FaultMix(), n, c, "ceiling", cache_dir)["throughput"]
        achievable = min(c / lat, ceiling)
        print(f"N={n} answers per drill, C={c}, L={lat * 1000:.0f} ms")
        print(
            f"zero-latency ceiling (same run): {ceiling:.1f} answers/s; C/L = {c / lat:.0f}/s; achievable = {achievable:.1f}/s"
        )
        header = (
            f"{'fault mix':<38} {'complete':>8} {'requests':>8} {'overhead':>8} {'ideal':>6} {'ratio':>6} "
            f"{'answers/s':>9} {'vs achievable':>13} {'vs C/L':>7}"
        )
        print(header)
        for name, mix in mixes:
            r = drill(mix, n, c, name.split()[0] + str(mixes.index((name, mix))), cache_dir)
            print(
                f"{name:<38} {r['completion']:>8.3f} {r['received']:>8d} {r['overhead']:>8.3f} {r['ideal']:>6.3f} "
                f"{r['overhead'] / r['ideal']:>6.3f} {r['throughput']:>9.1f} {r['throughput'] / achievable:>13.3f} "
                f"{r['throughput'] / (c / lat):>7.3f}"
            )


if __name__ == "__main__":
    main()
