"""Benchmark of social-influence runs (run once, prints numbers; not a test).

(a) classical opinion models (DeGroot, Friedkin–Johnsen, bounded confidence), vectorised: ``--classical-agents``
    agents (default 1,000,000) × ``--classical-rounds`` rounds (default 10) on one Watts–Strogatz graph (k=4,
    p=0.1) and on groups of 12 (complete graphs, the Lorenz et al. 2011 design). Graph building and the rounds
    are timed apart; the target is < 60 s for the rounds.
(b) the LLM model on ``--llm-agents`` agents (default 10,000) × ``--llm-rounds`` rounds (default 5) on one
    Watts–Strogatz graph with the embedded model (or ``--fake`` for a known-distribution fake): distinct prompts
    per round and wall time, with numbers shown at ``--digits`` significant figures (default 3), item Q1 of
    lorenz2011 on a ``--per-decade`` log grid, every agent seeing its neighbours' mean.

Usage: python benchmarks/bench_influence.py [--skip-classical] [--skip-llm] [--llm-agents 10000] [--fake]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def cpu_seconds() -> float:
    """User + system CPU time of this process (exposes contention from other processes)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def bench_classical(n: int, rounds: int) -> None:
    from simulator.influence_graph import society_graph
    from simulator.opinion_models import OpinionModel, simulate_opinions

    rng = np.random.default_rng(0)
    x1 = np.exp(rng.normal(5.0, 1.5, size=n))
    models = [
        OpinionModel(kind="degroot", alpha=0.3),
        OpinionModel(kind="friedkin_johnsen", alpha=0.3, stubbornness=0.2),
        OpinionModel(kind="bounded_confidence", alpha=0.3, epsilon=1.0),
    ]
    for network, groups, size in (("watts_strogatz:k=4,p=0.1", 1, n), ("complete", n // 12, 12)):
        t0, c0 = time.perf_counter(), cpu_seconds()
        g = society_graph(network, n_groups=groups, group_size=size, seed=0)
        print(f"graph {network} {groups} × {size}: {time.perf_counter() - t0:.1f} s wall, "
              f"{cpu_seconds() - c0:.1f} s cpu, {g.indices.size // 2} edges")  # fmt: skip
        for m in models:
            t0, c0 = time.perf_counter(), cpu_seconds()
            est, _ = simulate_opinions(m, x1[: g.n], g, "mean", rounds)
            wall = time.perf_counter() - t0
            print(f"  {m.kind:<20} {g.n:,} agents × {rounds} rounds: {wall:.2f} s wall, {cpu_seconds() - c0:.2f} s cpu"
                  f" ({'OK' if wall < 60 else 'over'} the 60 s target); final var(log x) "
                  f"{np.var(np.log(est[:, -1])):.3f}")  # fmt: skip


def bench_llm(n: int, rounds: int, digits: int, fake: bool, per_decade: int) -> None:
    from populace_lm.fakes import KnownDistributionModel
    from populations.baselines import DEFAULT_SYSTEM_PROMPT
    from populations.persona import Persona, Population
    from scenarios.influence import get_influence, with_grid
    from simulator.decisions import DecisionService
    from simulator.influence import InfluenceModel
    from simulator.influence_graph import society_graph

    spec = with_grid(get_influence("lorenz2011"), per_decade)
    if fake:
        model = KnownDistributionModel(lambda messages, answers: np.linspace(1.0, 2.0, answers.size))
    else:
        from populace_lm.config import LLMConfig, build_model

        model = build_model(LLMConfig.from_env())
    pop = Population(personas=(Persona(id="default", text=DEFAULT_SYSTEM_PROMPT),), weights=np.ones(1),
                     construction="fixed")  # fmt: skip
    graph = society_graph("watts_strogatz:k=4,p=0.1", n_groups=1, group_size=n, seed=0)
    service = DecisionService(model, progress=True)
    m = InfluenceModel(spec=spec, item="Q1", condition="aggregated", graph=graph, population=pop,
                       persona_indices=np.zeros(n, dtype=int), service=service, seed=0, rounds=rounds,
                       shown_digits=digits, rule="neighbours")  # fmt: skip
    t0 = time.perf_counter()
    while m.running:
        m.step()
    run = m.result()
    print(f"LLM {'fake' if fake else getattr(model, 'model_id', '?')}: {n:,} agents × {rounds} rounds on "
          f"watts_strogatz:k=4,p=0.1, {digits} significant figures shown, {run.answer_grid}: "
          f"{time.perf_counter() - t0:.1f} s wall; distinct prompts per round {list(run.distinct_prompts)}; "
          f"parse failure rate {run.parse_failure_rate:.3f}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--classical-agents", type=int, default=1_000_000)
    ap.add_argument("--classical-rounds", type=int, default=10)
    ap.add_argument("--llm-agents", type=int, default=10_000)
    ap.add_argument("--llm-rounds", type=int, default=5)
    ap.add_argument("--digits", type=int, default=3)
    ap.add_argument("--per-decade", type=int, default=2, help="answer-grid options a decade (default 2: 11 options)")
    ap.add_argument("--fake", action="store_true", help="a known-distribution fake instead of the embedded model")
    ap.add_argument("--skip-classical", action="store_true")
    ap.add_argument("--skip-llm", action="store_true")
    a = ap.parse_args()
    if not a.skip_classical:
        bench_classical(a.classical_agents, a.classical_rounds)
    if not a.skip_llm:
        bench_llm(a.llm_agents, a.llm_rounds, a.digits, a.fake, a.per_decade)


if __name__ == "__main__":
    main()
