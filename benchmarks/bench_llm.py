"""LLM-layer ratios measured in one run (prints; not a timed test).

0. Compute type: per-item latency of the shipped Q4_1 weights run natively versus the default F32 copy
   (:mod:`populace_lm.convert`), one llama.cpp thread, the same personas and items.
1. Prefix reuse: per-item latency of Likert answer distributions for personas asked *interleaved* (persona 1
   item 1, persona 2 item 1, …) with the saved per-persona KV states, versus cold evaluation of every prompt.
2. Exact vs sampled: backend tokens of one exact Likert distribution versus n=10 sampled replies per item.
3. Loopback throughput of the OpenAI-compatible adapter versus the ideal concurrency/latency
   (see ``bench_llm_remote.py``).

    .venv/bin/python benchmarks/bench_llm.py [--personas 4] [--items 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_llm_remote import run as run_loopback  # noqa: E402

from populace_lm.local import LocalLlama  # noqa: E402
from scenarios.ipip50 import ipip50_survey  # noqa: E402

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--personas", type=int, default=4)
    ap.add_argument("--items", type=int, default=10)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    args = ap.parse_args()
    survey = ipip50_survey(args.data)
    items = survey.questions()[: args.items]
    personas = PERSONAS[: args.personas]
    per_type = {}
    for compute in ("native", "f32"):
        m = LocalLlama(n_threads=1, compute_type=compute)
        per_type[compute] = statistics.median(likert_latency(m, personas, items, cold=False))
    print(f"[0] compute type, 1 thread, {len(personas)} personas x {len(items)} items (median per-item latency):")
    print(
        f"    native Q4_1 {per_type['native'] * 1000:.1f} ms, f32 {per_type['f32'] * 1000:.1f} ms, "
        f"native/f32 = {per_type['native'] / per_type['f32']:.2f}x"
    )

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
