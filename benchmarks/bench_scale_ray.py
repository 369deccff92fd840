"""Scaling past one process with the Ray executor: ratios measured in one run (prints; not a timed test).

The same response-matrix job (K personas x Q Big Five items, Likert distributions from the embedded SmolLM2
model, no response cache) runs four ways, each timed after a warm-up batch of other prompts (actors started,
weights loaded):

1. ``local``: :class:`~populace_lm.executor.LocalExecutor`, one llama.cpp thread, in this process;
2. ``ray x1``: :class:`~populace_lm.executor.RayExecutor` with one actor of one thread (on a Ray instance started
   in this process with two CPUs);
3. ``ray x2``: two actors of one thread each;
4. ``llama.cpp batched``: the ceiling — llama.cpp's own batched evaluation of the same prompts (each prompt's
   tokens, rendered exactly as :meth:`populace_lm.local.LocalLlama.prompt_tokens` renders them, decoded in one
   batch from an empty context on one thread), so tokens/s is ``sum(prompt tokens) / seconds``.

Ratios: ``ray x2 / ray x1`` speed-up (target >= 1.7 on 2 cores), ``ray x1 / local`` overhead (target <= 1.15) and
the response matrix against the ceiling (target >= 0.7), two ways: *evaluated* tokens/s (the tokens llama.cpp
actually evaluated for the matrix, from each answer's usage, per second of wall time: how close the matrix's
evaluation runs to llama.cpp's own batched speed) and *prompt* tokens/s (the same prompt tokens per second of wall
time: prefix reuse — the persona's KV state saved once, items evaluated in canonical segments — lets the matrix pass
the ceiling there). Every way must give the same answers as ``local`` (checked, exact equality).

    .venv/bin/python benchmarks/bench_scale_ray.py [--personas 40] [--items 10] [--small]

On a contended machine (other processes on the cores) the ratios are noisy: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from populace_lm.config import LLMConfig, build_model, close_model  # noqa: E402
from populace_lm.executor import RayExecutor, attach_executor, run_requests  # noqa: E402
from populace_lm.local import LocalLlama  # noqa: E402
from scenarios import get_scenario  # noqa: E402

TRAITS = ["calm", "lively", "shy", "curious", "tidy", "stubborn", "generous", "anxious"]


def job(n_personas: int, n_items: int, data: str | None, *, offset: int = 0) -> list:
    """K x Q distribution requests: persona-major (a persona's items in a row, as the response matrix asks them)."""
    questions = get_scenario("bigfive", source=data).questions()[:n_items]
    personas = [
        f"You are respondent {offset + i}, a {TRAITS[i % len(TRAITS)]} person aged {20 + (7 * i) % 60}."
        for i in range(n_personas)
    ]
    return [q.distribution_request(p) for p in personas for q in questions]


def timed(model, requests) -> tuple[float, list]:
    """Seconds to answer ``requests`` through ``model`` on its executor, and the answers."""
    start = time.perf_counter()
    out = run_requests(model, requests, progress=False)
    return time.perf_counter() - start, out


def ceiling(llama: LocalLlama, requests) -> tuple[float, int]:
    """llama.cpp's batched evaluation of every prompt from an empty context: (seconds, prompt tokens)."""
    llama._ensure_loaded()
    prompts = [llama.prompt_tokens(r.messages, r.answer_prefix)[0] for r in requests]
    llm = llama._llm
    start = time.perf_counter()
    for tokens in prompts:
        llm.n_tokens = 0
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        llm.eval(tokens)  # one llama_decode of n_batch (512) tokens: the whole prompt at once
    seconds = time.perf_counter() - start
    llm.n_tokens = 0
    llm._ctx.kv_cache_seq_rm(-1, 0, -1)
    return seconds, sum(len(t) for t in prompts)


def _answer(dist) -> dict:
    """An answer without its cost (tokens evaluated depend on the KV state an actor had before it)."""
    return {k: v for k, v in dist.to_dict().items() if k != "usage"}


def _evaluated(answers) -> int:
    """Prompt tokens llama.cpp evaluated for ``answers`` (their usage; reused KV entries are not counted)."""
    return sum(a.usage.prompt_tokens for a in answers)


def main(argv: list[str] | None = None) -> int:
    """Print the table and the ratios; returns 0 (1 when an executor's answers differ from local)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--personas", type=int, default=40)
    p.add_argument("--items", type=int, default=10)
    p.add_argument("--small", action="store_true", help="8 personas x 5 items: proves the script runs")
    p.add_argument("--data", default=os.environ.get("POPULACE_DATA"))
    args = p.parse_args(argv)
    k, q = (8, 5) if args.small else (args.personas, args.items)
    requests, warmup = job(k, q, args.data), job(2, q, args.data, offset=10_000)
    rows: list[tuple[str, float, int, int]] = []
    config = LLMConfig(cache_mode="off", n_threads=1)

    local = build_model(config)
    try:
        run_requests(local, warmup, progress=False)
        seconds, reference = timed(local, requests)
    finally:
        close_model(local)
    llama = LocalLlama(n_threads=1)
    c_seconds, tokens = ceiling(llama, requests)
    rows.append(("local (1 thread)", seconds, len(requests), _evaluated(reference)))
    same = True
    for workers in (1, 2):
        model = attach_executor(build_model(config), RayExecutor(config, workers=workers))
        try:
            run_requests(model, warmup, progress=False)  # actors up, weights loaded
            seconds_w, answers = timed(model, requests)
        finally:
            close_model(model)  # kills the actors and the Ray instance this executor started
        same &= [_answer(a) for a in answers] == [_answer(r) for r in reference]
        rows.append((f"ray x{workers} (1 thread each)", seconds_w, len(requests), _evaluated(answers)))
    rows.append(("llama.cpp batched (ceiling)", c_seconds, len(requests), tokens))

    print(f"job: {k} personas x {q} items = {len(requests)} Likert distributions; {tokens} prompt tokens")
    print(f"load average (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"{'way':32s} {'seconds':>9s} {'requests/s':>11s} {'evaluated tok/s':>16s} {'prompt tok/s':>13s}")
    for name, s, n, ev in rows:
        print(f"{name:32s} {s:9.2f} {n / s:11.2f} {ev / s:16.1f} {tokens / s:13.1f}")
    by = {name.split(" (")[0]: s for name, s, _, _ in rows}
    ev_local = rows[0][3] / by["local"]
    print(f"ray x2 vs ray x1 speed-up: {by['ray x1'] / by['ray x2']:.2f}x (target >= 1.7)")
    print(f"ray x1 vs local overhead: {by['ray x1'] / by['local']:.2f}x (target <= 1.15)")
    ceiling_tps = tokens / by["llama.cpp batched"]
    print(
        f"response matrix (local, 1 thread) vs llama.cpp batched ceiling (1 thread): evaluated tokens/s "
        f"{ev_local:.1f} / {ceiling_tps:.1f} = {ev_local / ceiling_tps:.2f}; prompt tokens/s "
        f"{tokens / by['local']:.1f} / {ceiling_tps:.1f} = {by['llama.cpp batched'] / by['local']:.2f} (target >= 0.7)"
    )
    print(f"same answers as local under every executor: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
