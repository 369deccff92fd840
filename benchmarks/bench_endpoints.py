"""Throughput of one client over 1 vs 3 endpoints (issue 21, item 6's third ratio): least-outstanding routing.

Each loopback endpoint (``tests/populace_lm/loopback_server.py``, in a process of its own) imitates a GPU server:
it answers exact Likert distribution requests after a service time L, at most K at once (a batch of K slots, the
rest wait in its queue), so one endpoint serves at most K / L answers per second. N requests go through the full
model chain of ``build_model`` (cache, accounting, budget, the OpenAI-compatible backend) at concurrency C = 3·K,
once against 1 endpoint and once against 3 (``--base-url URL1,URL2,URL3``). The zero-latency ceiling of the client
(one endpoint, L = 0, no slot limit) is measured first in the same run, so the table shows that 3·K/L is well
under what the client itself can do — the endpoints, not the client, are the bottleneck.

    python benchmarks/bench_endpoints.py [--requests 400] [--slots 4] [--latency 0.2]

Acceptance: 3 endpoints / 1 endpoint >= 2.7x. Also prints the requests each endpoint served (least-outstanding
routing spreads them evenly). A script that prints, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from populace_lm.budget import AccountingModel, find_layer, map_concurrent  # noqa: E402
from populace_lm.config import LLMConfig, build_model, close_model  # noqa: E402
from populace_lm.progress import set_progress  # noqa: E402
from populace_lm.types import DistributionRequest, IntegerAnswers, Message  # noqa: E402
from tests.populace_lm.loopback_server import LoopbackServer, Reply, chat_completion, top_logprobs_content  # noqa: E402

PROBS = {"1": 0.1, "2": 0.2, "3": 0.3, "4": 0.2, "5": 0.15, "Sure": 0.05}


class SlottedHandler:
    """At most ``slots`` requests served at once, each taking ``latency`` seconds (the others wait)."""

    def __init__(self, slots: int, latency: float) -> None:
        self.latency = latency
        self.slots = threading.BoundedSemaphore(slots) if slots else None
        self.counters = {"received": 0}
        self._lock = threading.Lock()

    def __call__(self, body: dict, n: int) -> Reply:
        with self._lock:
            self.counters["received"] += 1
        with self.slots or contextlib.nullcontext():
            if self.latency:
                time.sleep(self.latency)
        return Reply(200, chat_completion("3", logprobs=top_logprobs_content(PROBS)))


def _serve(slots: int, latency: float, conn: Any) -> None:
    server = LoopbackServer(SlottedHandler(slots, latency)).start()
    conn.send(server.base_url)
    while True:
        time.sleep(3600)


@contextlib.contextmanager
def endpoints(count: int, slots: int, latency: float) -> Iterator[list[str]]:
    """``count`` loopback endpoints, each in its own process (its own interpreter lock)."""
    ctx = multiprocessing.get_context("fork")
    procs, urls = [], []
    try:
        for _ in range(count):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(slots, latency, child), daemon=True)
            proc.start()
            procs.append(proc)
            urls.append(parent.recv())
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
            proc.join(timeout=10)


def requests(n: int, tag: str) -> list[DistributionRequest]:
    return [
        DistributionRequest(
            messages=(Message(role="user", content=f"[{tag}] statement {i}: rate it from 1 to 5."),),
            answers=IntegerAnswers(low=1, high=5),
            seed=i,
        )
        for i in range(n)
    ]


def measure(urls: list[str], n: int, concurrency: int, tag: str, cache_dir: str) -> dict[str, Any]:
    """Answers per second of N distributions at concurrency C over ``urls`` (after a warm-up batch of C)."""
    config = LLMConfig(
        backend="openai",
        model="bench",
        base_url=",".join(urls),
        api_key_env="BENCH_KEY",
        cache_path=os.path.join(cache_dir, f"{tag}.sqlite"),
        server_kind="openai",
        concurrency=concurrency,
        timeout=30.0,
    )
    model = build_model(config)
    try:
        map_concurrent(model, requests(concurrency, "warm-up " + tag), max_workers=concurrency)
        start = time.perf_counter()
        done = len(map_concurrent(model, requests(n, tag), max_workers=concurrency))
        elapsed = time.perf_counter() - start
        summary = find_layer(model, AccountingModel).summary()
    finally:
        close_model(model)
    served = [e["requests_sent"] for e in summary["backend"]["endpoints"]]
    return {"throughput": done / elapsed, "elapsed": elapsed, "served": served}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="answers per measurement, N")
    parser.add_argument("--slots", type=int, default=4, help="requests one endpoint serves at once, K")
    parser.add_argument("--latency", type=float, default=0.2, help="service time per request, L seconds")
    args = parser.parse_args()
    os.environ.setdefault("BENCH_KEY", "none")
    set_progress(False)
    n, k, lat = args.requests, args.slots, args.latency
    c = 3 * k
    with tempfile.TemporaryDirectory(prefix="bench_endpoints_") as cache_dir:
        with endpoints(1, 0, 0.0) as urls:
            ceiling = measure(urls, n, c, "ceiling", cache_dir)["throughput"]
        with endpoints(1, k, lat) as urls:
            one = measure(urls, n, c, "one", cache_dir)
        with endpoints(3, k, lat) as urls:
            three = measure(urls, n, c, "three", cache_dir)
    print(f"N={n} answers, K={k} slots per endpoint, L={lat * 1000:.0f} ms, client concurrency C={c}")
    print(f"zero-latency client ceiling (same run): {ceiling:.1f} answers/s; 3·K/L = {3 * k / lat:.0f}/s")
    print(f"{'endpoints':>9} {'answers/s':>10} {'ideal':>7} {'vs ideal':>8} {'served per endpoint':>22}")
    for name, r, ideal in (("1", one, k / lat), ("3", three, 3 * k / lat)):
        print(
            f"{name:>9} {r['throughput']:>10.1f} {ideal:>7.0f} {r['throughput'] / ideal:>8.3f} "
            f"{' / '.join(str(s) for s in r['served']):>22}"
        )
    ratio = three["throughput"] / one["throughput"]
    print(f"3 endpoints vs 1: {ratio:.2f}x (target >= 2.7x); 3·K/L is {3 * k / lat / ceiling:.2f} of the ceiling")


if __name__ == "__main__":
    main()
