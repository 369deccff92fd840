"""Backend cost of fitting EM and GB prompt mixtures vs the prompt-mixture paper's protocol.

Ours: every candidate prompt is scored with one *exact* answer distribution per question (cached and shared), and
the paper-style evaluation (1,000 prompts by weight, one answer each) draws answers from those distributions, so it
costs no further calls. The paper's protocol instead samples n=10 answers per prompt and question while fitting and
then asks 1,000 sampled prompts once each per question to evaluate. This script fits both builders on one scenario
and prints both costs and their ratio.

    .venv/bin/python benchmarks/bench_fit.py                       # known-distribution test models (seconds)
    .venv/bin/python benchmarks/bench_fit.py --embedded --scenario dictator   # the embedded SmolLM2 (minutes)

Paper-protocol estimate: crafter calls are the same; respondent calls = 10 × (prompt, question) pairs scored while
fitting + 1,000 × questions for the evaluation; tokens = calls × (mean prompt tokens per request + 4 answer tokens),
with the mean prompt length measured on our own requests.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from populace_lm.types import GenerationRequest  # noqa: E402
from populations.mixture import PromptMixtureBuilder  # noqa: E402
from scenarios.registry import get_scenario  # noqa: E402

N_SAMPLES_PAPER = 10
N_EVAL_PROMPTS = 1000
ANSWER_TOKENS = 4


def fake_models():
    from populace_lm.fakes import KnownDistributionModel, ScriptedModel

    def craft(request: GenerationRequest) -> str:
        # the target is the last number of the request (the scenario's describe_target wording names it)
        x = float(re.findall(r"(\d+(?:\.\d+)?)", request.messages[-1].content)[-1])
        return f"You are a person who would answer about {x + 0.5:g}."

    def dist(messages, answers):
        m = re.search(r"answer about (\d+(?:\.\d+)?)", messages[0].content if messages[0].role == "system" else "")
        c = float(m.group(1)) if m else 50.0
        v = np.asarray(answers.values, dtype=float)
        return np.exp(-0.5 * ((v - c) / 3.0) ** 2) + 1e-12

    return ScriptedModel(craft), KnownDistributionModel(dist)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="dictator")
    p.add_argument("--embedded", action="store_true", help="use the embedded SmolLM2 (uncached) instead of fakes")
    p.add_argument("--data", default=None)
    p.add_argument("--k", type=int, default=10, help="EM components (paper: 10)")
    p.add_argument("--max-iter", type=int, default=5)
    p.add_argument("--rounds", type=int, default=20)
    args = p.parse_args()
    scenario = get_scenario(args.scenario, source=args.data)
    fit = scenario.human_values("fit", seed=0, source=args.data)
    if args.embedded:
        from populace_lm.local import LocalLlama

        crafter = respondent = LocalLlama()
        args.k, args.max_iter, args.rounds = min(args.k, 3), min(args.max_iter, 2), min(args.rounds, 4)
    else:
        crafter, respondent = fake_models()
    n_questions = len(scenario.questions())
    print(f"scenario {scenario.name} ({n_questions} question(s)); respondent {respondent.model_id}")
    print(
        f"{'method':6} {'ours calls':>11} {'ours tokens':>12} {'paper calls':>12} {'paper tokens':>13} "
        f"{'call ratio':>11} {'token ratio':>12} {'seconds':>8} {'crafted':>8} {'failed':>7}  fallback"
    )
    for method in ("em", "gb"):
        t0 = time.perf_counter()
        b = PromptMixtureBuilder(
            method,
            n_components=args.k,
            crafter=crafter,
            respondent=respondent,
            max_iter=args.max_iter,
            n_rounds=args.rounds,
            progress=False,
            random_state=0,
        ).fit(scenario, fit)
        secs = time.perf_counter() - t0
        c, r = b.cost_["crafter"], b.cost_["respondent"]
        ours_calls = c["backend_calls"] + r["backend_calls"]
        ours_tokens = sum(x["prompt_tokens"] + x["completion_tokens"] for x in (c, r))
        prompt_len = r["prompt_tokens"] / max(r["requests"], 1)
        paper_resp = N_SAMPLES_PAPER * r["requests"] + N_EVAL_PROMPTS * n_questions
        paper_calls = c["backend_calls"] + paper_resp
        paper_tokens = c["prompt_tokens"] + c["completion_tokens"] + paper_resp * (prompt_len + ANSWER_TOKENS)
        print(
            f"{method:6} {ours_calls:11d} {ours_tokens:12d} {paper_calls:12d} {int(paper_tokens):13d} "
            f"{paper_calls / max(ours_calls, 1):11.1f} {paper_tokens / max(ours_tokens, 1):12.1f} {secs:8.1f} "
            f"{b.n_crafted_:8d} {b.n_failed_:7d}  {b.fallback_ or '-'} {b.failure_reasons_ or ''}"
        )
    print(
        "ours = measured; paper = n=10 samples per (prompt, question) + 1,000-prompt evaluation, same crafter calls."
        " A local exact distribution counts its digit-tree forward passes as backend calls."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
