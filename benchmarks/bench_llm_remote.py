"""Loopback throughput of the OpenAI-compatible backend under bounded concurrency.

A loopback server on 127.0.0.1 sleeps a fixed latency L per request; N generation requests go through
``populace_lm.budget.map_concurrent`` with W workers. The ideal throughput is W / L requests per second; the ratio
measured / ideal shows the overhead of the client, the thread pool and the local HTTP stack.

    python benchmarks/bench_llm_remote.py [--latency 0.05] [--requests 200] [--workers 1 4 16]

A script that prints, not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "populace_lm")]

from loopback_server import LoopbackServer, Reply, chat_completion  # noqa: E402

from populace_lm.budget import map_concurrent  # noqa: E402
from populace_lm.openai_compat import OpenAICompatible  # noqa: E402
from populace_lm.types import GenerationRequest, Message  # noqa: E402


def run(latency: float, n_requests: int, workers: list[int]) -> list[dict[str, float]]:
    def handler(body: dict, n: int) -> Reply:
        time.sleep(latency)
        return Reply(200, chat_completion(f"reply {body.get('seed')}"))

    rows = []
    with LoopbackServer(handler) as server:
        model = OpenAICompatible(model="bench", base_url=server.base_url, api_key="none", max_retries=0, timeout=30)
        user = (Message(role="user", content="Say something."),)
        model.generate(GenerationRequest(messages=user))  # warm up the connection pool
        for w in workers:
            requests = [GenerationRequest(messages=user, temperature=1.0, seed=i) for i in range(n_requests)]
            start = time.perf_counter()
            results = map_concurrent(model, requests, max_workers=w)
            elapsed = time.perf_counter() - start
            assert [r.text for r in results] == [f"reply {i}" for i in range(n_requests)]
            measured = n_requests / elapsed
            ideal = w / latency
            rows.append({"workers": w, "measured": measured, "ideal": ideal, "ratio": measured / ideal})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="server latency per request, seconds")
    parser.add_argument("--requests", type=int, default=200, help="requests per worker setting")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    print(f"loopback throughput: latency L={args.latency * 1000:.0f} ms, N={args.requests} requests")
    print(f"{'workers W':>9}  {'measured req/s':>14}  {'ideal W/L':>9}  {'ratio':>6}")
    for row in run(args.latency, args.requests, args.workers):
        print(f"{row['workers']:>9}  {row['measured']:>14.1f}  {row['ideal']:>9.1f}  {row['ratio']:>6.2f}")


if __name__ == "__main__":
    main()
