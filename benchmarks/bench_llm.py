"""LLM-layer ratios measured in one run (prints; not a timed test).

0. Compute type: per-item latency of the shipped Q4_1 weights run natively versus the F32 copy
   (:mod:`populace_lm.convert`) with the settings a user gets (``LocalLlama()``'s defaults: every core, block 32,
   persona prefixes reused), on Likert items and on 0-100 digit-tree items, measured in alternating rounds so
   that load from other processes hits both alike; also the one-time conversion's cost. The load average is
   printed beside it: re-measure on a quiet machine before changing the default compute type.
1. Prefix reuse: per-item latency of Likert answer distributions for personas asked *interleaved* (persona 1
   item 1, persona 2 item 1, …) with the saved per-persona KV states, versus cold evaluation of every prompt.
2. Exact vs sampled: backend tokens of one exact Likert distribution versus n=10 sampled replies per item.
3. Loopback throughput of the OpenAI-compatible adapter versus the ideal concurrency/latency
   (see ``bench_llm_remote.py``).

    .venv/bin/python benchmarks/bench_llm.py [--personas 4] [--items 10] [--rounds 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests" / "populace_lm")]

from bench_llm_remote import run as run_loopback  # noqa: E402

from populace_lm.convert import converted_path  # noqa: E402
from populace_lm.local import LocalLlama, default_model_path, file_identity  # noqa: E402
from populace_lm.types import DistributionRequest, IntegerAnswers, Message  # noqa: E402
from scenarios import get_scenario  # noqa: E402

PERSONAS = [
    "You are Maria, a 34-year-old nurse from Madrid who loves hiking, reads crime novels and volunteers at a food "
    "bank on weekends. You are direct, practical and a little impatient with small talk.",
    "You are Tom, a 71-year-old retired carpenter living in rural Ohio. You enjoy fishing, repairing old radios "
    "and long conversations with neighbours on your porch about local history.",
    "You are Aiko, a 22-year-old computer science student in Osaka who plays in a jazz band, stays up late "
    "coding side projects and prefers small gatherings to big parties.",
    "You are Kwame, a 45-year-old secondary-school headteacher in Accra, a keen football fan and church choir "
    "member who organises community events and mentors young teachers.",
]


def likert_latency(model: LocalLlama, personas: list[str], items, *, cold: bool) -> list[float]:
    times = []
    for item in items:
        for persona in personas:
            req = item.distribution_request(persona)
            if cold:
                model._llm.n_tokens = 0
                model._states.clear()
            t = time.perf_counter()
            model.answer_distribution(req)
            times.append(time.perf_counter() - t)
    return times


def dictator_requests(personas: list[str], n: int) -> list[DistributionRequest]:
    """``n`` 0-100 answers per persona (a digit tree: several forward passes each)."""
    asks = [
        "You have $100. How many dollars do you give to a stranger who gets nothing otherwise?",
        "You received $100 as a gift. How many dollars do you donate to a local charity?",
        "Out of $100 of shared winnings, how many dollars do you keep for yourself?",
    ][:n]
    return [
        DistributionRequest(
            messages=(Message(role="system", content=p), Message(role="user", content=a)),
            answers=IntegerAnswers(low=0, high=100),
            answer_prefix="I give $",
        )
        for a in asks
        for p in personas
    ]


def timed_round(model: LocalLlama, requests: list[DistributionRequest]) -> float:
    """Per-request seconds for one pass over ``requests`` from an empty context (prefixes reused within it)."""
    model._ensure_loaded()
    model._llm.n_tokens = 0
    model._states.clear()
    t = time.perf_counter()
    for req in requests:
        model.answer_distribution(req)
    return (time.perf_counter() - t) / len(requests)


def compute_type_ratio(personas: list[str], items, *, rounds: int, threads: int | None) -> None:
    """Print native (Q4_1) vs f32 per-item latency with the default settings, alternating the order per round."""
    src = default_model_path()
    f32_file = converted_path(src, file_identity(src), "f32")
    fresh = not f32_file.is_file()
    t = time.perf_counter()
    models = {c: LocalLlama(compute_type=c, n_threads=threads) for c in ("native", "f32")}
    for m in models.values():
        m._ensure_loaded()  # includes the one-time conversion when f32 is not cached yet
    setup = time.perf_counter() - t
    workloads = {
        "likert": [item.distribution_request(p) for item in items for p in personas],
        "0-100": dictator_requests(personas, 3),
    }
    load_before = os.getloadavg()
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(rounds):
        order = ("native", "f32") if r % 2 == 0 else ("f32", "native")
        for name, requests in workloads.items():
            for c in order:
                times.setdefault((name, c), []).append(timed_round(models[c], requests))
    load_after = os.getloadavg()
    n_threads = models["native"]._options["n_threads"]
    print(
        f"[0] compute type with {'the default settings' if threads is None else 'custom --threads'} "
        f"({n_threads} threads of {os.cpu_count()} cores, block "
        f"{models['native'].block_size}, prefixes reused), median of {rounds} alternating rounds; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after:"
    )
    for name, requests in workloads.items():
        native, f32 = (statistics.median(times[(name, c)]) for c in ("native", "f32"))
        print(
            f"    {name:>6} ({len(requests)} requests): native Q4_1 {native * 1000:.1f} ms, f32 {f32 * 1000:.1f} ms "
            f"per request -> native/f32 = {native / f32:.2f}x ({'f32' if native > f32 else 'native'} faster)"
        )
    size = f32_file.stat().st_size / 2**20
    what = "converted now" if fresh else "already converted"
    print(
        f"    one-time f32 copy: {size:.0f} MiB in {f32_file.parent} ({what}; load{' + convert' if fresh else ''} {setup:.1f} s)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--personas", type=int, default=4)
    ap.add_argument("--items", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="alternating timing rounds per compute type")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: as users get, all cores)")
    ap.add_argument("--only-compute-type", action="store_true", help="measure [0] only")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    args = ap.parse_args()
    survey = get_scenario("bigfive", source=args.data).survey  # the IPIP-50 items
    items = survey.questions()[: args.items]
    personas = PERSONAS[: args.personas]
    compute_type_ratio(personas, items, rounds=args.rounds, threads=args.threads)
    if args.only_compute_type:
        return

    model = LocalLlama()

    warm = likert_latency(model, personas, items, cold=False)
    cold = likert_latency(model, personas, items, cold=True)
    w, c = statistics.median(warm), statistics.median(cold)
    print(f"[1] prefix reuse, {len(personas)} personas x {len(items)} items interleaved:")
    print(f"    median per-item latency: reuse {w * 1000:.1f} ms, cold {c * 1000:.1f} ms, cold/reuse = {c / w:.2f}x")
    print(f"    prefix restores: {model.stats['prefix_restores']}")

    exact_tokens = sampled_tokens = 0
    for item in items:
        req = item.distribution_request(personas[0])
        model._llm.n_tokens = 0
        model._states.clear()
        exact_tokens += model.answer_distribution(req).usage.prompt_tokens
        for i in range(10):
            gen = model.generate(item.generation_request(personas[0], seed=i, sample_index=i, temperature=1.0))
            sampled_tokens += gen.usage.prompt_tokens + gen.usage.completion_tokens
    print(
        f"[2] backend tokens for {len(items)} Likert items: exact {exact_tokens}, n=10 sampling {sampled_tokens}, "
        f"sampling/exact = {sampled_tokens / exact_tokens:.1f}x"
    )

    rows = run_loopback(0.05, 200, [1, 8])
    for r in rows:
        print(
            f"[3] loopback, {int(r['workers'])} workers, 50 ms latency: {r['measured']:.1f} req/s vs ideal "
            f"{r['ideal']:.1f} = {r['ratio']:.2f}"
        )


if __name__ == "__main__":
    main()
