"""``populace experiment seed002``: population-aligned persona sets, in the shape of the paper's Tables 1–2.

"Population-Aligned Persona Generation for LLM-based Social Simulation" (arXiv 2509.10127): a persona pool answers
a questionnaire as each persona; the pool is resampled (KDE importance sampling + optimal transport) so the set's
answers match human response vectors; the set is then evaluated in-domain (IPIP items vs the held-out half of
``big5_osp``) and out-of-domain (CFCS vs ``osp_cfcs``, Grit vs ``osp_grit``), and narrowed to subgroups by text
retrieval.

The experiment is a **study file**, ``experiments/configs/seed002.toml`` (``--study FILE`` for another one; its
keys: :mod:`experiments.seed002_study`): the pools, the items, the profiles, the out-of-domain surveys, the table
rows (label + alignment method) and the subgroup queries. Every option below of the same name overrides it. The
steps live in :mod:`experiments.seed002_pipeline` and the paper-shaped outputs in :mod:`experiments.seed002_tables`;
reusable pieces sit in ``populations`` (:mod:`populations.response_matrix`, :mod:`populations.aligned`,
:mod:`populations.evaluation`).

Rows: each public pool on its own, then the study's constructions (Raw = the whole combined pool, RandomSelect,
Resample, IS-only, OT-only). Columns: AMW, FD, SW, MMD, MAE-corr (see :mod:`alignment.metrics`), each as
``<metric> sampled`` (n vectors drawn from the set, mean over ``--repeats`` draws) beside ``<metric> floor`` (n test
humans against the *remaining* test humans — disjoint samples, :func:`populations.evaluation.score_vectors`, drawn
from the scenario's floor stream of the root seed, so the same ``--seed`` gives the same floor as other commands).

Same footing as humans: a persona's response vector is a seeded **integer** draw from its exact item pmfs (one
draw per persona by default, ``--draws R`` for R per persona); alignment and every metric use these draws. The
expected-value variant (``--expected``) is kept as a labelled option; it understates the spread.

Held-out data: the human rows each survey scenario of the one registry reads (``bigfive``, ``osp_cfcs``,
``osp_grit``) are split once (:func:`scenarios.split.split_indices`, before incomplete rows are dropped). The
alignment target and the ``big5_respondents`` pool come only from the **fit** half; metrics and subgroup targets
only from the **test** half. ``--profile paper``: 5,000-persona sets, IS then OT (``Resample``), item weights via
``--item-weights``. ``--plan`` prints the settings and a request estimate without loading a model.

Budget (embedded SmolLM2-135M on 2 cores): llama.cpp is compute-bound here, so the cost is the tokens evaluated —
about 360 per persona for 10 items (the persona prefix and the shared instruction once, then ~20 tokens per
item plus the re-evaluated part of a 32-token block, see :meth:`populace_lm.local.LocalLlama._segments`). The
defaults run ``--workers 2`` Ray actors with one llama.cpp thread each (a Ray instance in this process, or the
cluster of ``--executor ray --ray-address``; ``--workers 1`` answers in this process; :mod:`populace_lm.executor`), asking
10 IPIP items (two per trait, one of each keying) of 2,000 personas (~20k forward passes) and 6 CFCS + 6 Grit items
of ``--ood-n`` personas per construction. All answers go through the response cache and the response matrices are
stored as Parquet: a rerun makes no backend call.

Outputs in ``--out``: ``pool_raw.jsonl`` and ``aligned_resample.jsonl`` (weighted-persona JSONL for
``populace select``), ``table_in_domain.csv|md``, ``table_out_of_domain.csv|md``, ``subgroups.csv|md``,
``trait_scatter.png``, ``results.json``, ``report.md`` (the same for the same seed and inputs) and ``timings.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from experiments.seed002_pipeline import model_of as _model
from experiments.seed002_pipeline import questions_of as _questions  # noqa: F401 — the name the registry tests use
from experiments.seed002_pipeline import seed002_pool
from experiments.seed002_study import DEFAULT_STUDY, Seed002Error, Seed002Settings, resolve_settings

__all__ = ["main", "plan_text", "seed002_pool"]


def _parser() -> argparse.ArgumentParser:
    """The options; each one left out takes the study file's value."""
    from experiments.cmd_align import DEFAULT_MATRIX_DIR
    from experiments.common import add_data_args, add_model_args

    p = argparse.ArgumentParser(
        prog="populace experiment seed002", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    opt = p.add_argument
    opt("--study", default=str(DEFAULT_STUDY), help="the seed002 study file (default: the shipped seed002.toml)")
    opt("--out", default=None, help="output folder (required unless --plan)")
    opt("--pools", default=None, help="comma-separated NAME[:COUNT] pool specs (study: pool.specs)")
    opt("--n-pool", type=int, default=None, help="use the first N of the shuffled combined pool (study: pool.n)")
    opt("--items", default=None, help="comma-separated in-domain items asked (study: in_domain.items)")
    opt("--profile", default=None, help="fast (200-persona sets) or paper (5,000-persona sets, IS then OT)")
    opt("--n-select", type=int, default=None, help="size of each selected set (default: the profile's)")
    opt("--draws", type=int, default=None, help="integer answer vectors drawn per persona (study: 1)")
    opt("--expected", action="store_true", help="use expected answers instead of integer draws (labelled variant)")
    opt("--item-weights", default=None, help="comma-separated OT item weights, one per --items entry")
    opt("--repeats", type=int, default=None, help="draws of each sampled score and of the floor (study: 5)")
    opt("--plan", action="store_true", help="print settings and a request estimate; run nothing")
    opt("--ood-n", type=int, default=None, help="personas per construction asked the CFCS/Grit items (study: 100)")
    opt("--cfcs-items", default=None, help="items of the CFCS out-of-domain survey")
    opt("--grit-items", default=None, help="items of the Grit out-of-domain survey")
    opt("--subgroup-k", type=int, default=None, help="personas retrieved per subgroup query (study: 50)")
    opt("--eval-humans", type=int, default=None, help="random test humans the metrics use (MMD is quadratic; 3000)")
    opt("--no-wvs", action="store_true", help="skip the WVS poverty subgroup check (LLM calls)")
    opt(
        "--workers",
        type=int,
        default=None,
        help="Ray actors answering (study: 2); above 1 without --executor it runs them on a Ray instance in this "
        "process; --ray-workers wins",
    )
    opt("--matrix-dir", default=str(DEFAULT_MATRIX_DIR), help="where response matrices are stored")
    add_model_args(p)
    add_data_args(p)
    p.set_defaults(seed=None)  # the study file's seed unless --seed is given
    return p


def plan_text(s: Seed002Settings) -> str:
    """Settings table and request estimate (no model load): one request per (persona, item)."""
    from populations.pool_builders import parse_pool_spec

    n_pool = sum(parse_pool_spec(spec)[1] or 0 for spec in s.pools)
    n_pool = n_pool if s.n_pool is None else min(n_pool, s.n_pool)
    n_ood = len(s.methods) * min(s.ood_n, s.n_select)
    ood_items = sum(len(o.items) for o in s.out_of_domain)
    wvs = len(s.wvs_queries) * (s.subgroup_k + s.ood_n) if s.wvs else 0
    reqs = n_pool * len(s.items) + n_ood * ood_items + wvs
    tokens = n_pool * 360 + n_ood * ood_items * 40 + wvs * 90
    weights = ",".join(f"{w:g}" for w in s.item_weights) if s.item_weights else "uniform"
    vec = "expected answers (labelled variant)" if s.expected else f"{s.draws} integer draw(s)"
    rows = [
        ("study", s.study.name, ""),
        ("profile", s.profile, ""),
        ("persona set size", str(s.n_select), "5000"),
        ("alignment", "IS then OT (Resample)", "IS then OT"),
        ("table rows", ", ".join(label for label, _ in s.methods), ""),
        ("item weights", weights, "exposed (--item-weights)"),
        ("pool", f"{','.join(s.pools)} ({n_pool} personas)", "the paper's pool"),
        ("IPIP items", ", ".join(s.items), "all 50"),
        ("persona vectors", vec, ""),
        ("humans", "one seeded split: fit half aligns, test half scores", ""),
        ("metric repeats", str(s.repeats), ""),
    ]
    lines = ["| setting | this run | paper |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines.append(
        f"\nEstimate: at most {reqs} LLM requests (one per persona and item; cached answers are free) and about "
        f"{tokens} prompt tokens."
    )
    seconds = reqs / (s.workers * REQUESTS_PER_S_PER_WORKER)
    lines.append(
        f"Wall time: about {_duration(seconds)} on {s.workers} worker(s) at {REQUESTS_PER_S_PER_WORKER:g} requests/s "
        "each (embedded SmolLM2, one llama.cpp thread per worker, measured on 2 cores; --workers N, one per CPU of "
        "a Ray cluster, divides it by N; measure yours with benchmarks/bench_scale_ray.py)."
    )
    return "\n".join(lines)


REQUESTS_PER_S_PER_WORKER = 3.1
"""Likert distributions per second of one embedded SmolLM2 worker on one thread (issue 21: 2,000 personas x 10
items in 53 min on two workers, 2 cores)."""


def _duration(seconds: float) -> str:
    """``"42 s"``, ``"17 min"`` or ``"11.2 h"``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _executor_from_workers(args: argparse.Namespace, workers: int) -> None:
    """``--workers`` (study ``workers``) picks the executor when ``--executor``/``POPULACE_EXECUTOR`` do not.

    Above 1 it means that many Ray actors (on a Ray instance in this process unless ``--ray-address`` names a
    cluster); ``--ray-workers`` wins, and a study's default does not cap an explicitly chosen Ray cluster.
    """
    import os

    chosen = args.executor or os.environ.get("POPULACE_EXECUTOR", "").strip() or None
    if chosen is None and args.ray_address is None:
        args.executor = "ray" if workers > 1 else "local"
        if workers > 1 and args.ray_workers is None:
            args.ray_workers = workers
    elif args.ray_workers is None and args.workers is not None:
        args.ray_workers = args.workers


def main(argv: list[str]) -> int:
    """Run the experiment (or print its plan); returns 0."""
    from experiments.seed002_pipeline import (
        Responder,
        build_pool,
        fit_sets,
        in_domain_rows,
        out_of_domain_rows,
        prepare_humans,
    )
    from experiments.seed002_tables import plot_traits, subgroup_rows, write_outputs
    from populace_lm.seeds import seed_rng
    from populations.aligned import save_weighted_jsonl
    from populations.response_matrix import persona_vectors, trait_means

    args = _parser().parse_args(argv)
    s = resolve_settings(args)
    if args.plan:
        print(plan_text(s))
        return 0
    if not args.out:
        raise Seed002Error("--out is required (or pass --plan to print the plan only)")
    _executor_from_workers(args, s.workers)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    humans = prepare_humans(s)
    pool = build_pool(s, humans)
    responder = Responder(s, args, _model(args))
    print(f"seed002: pool of {len(pool)} personas x {len(s.items)} items ({','.join(s.pools)})", flush=True)
    survey, scenario = humans.target.survey, humans.target.scenario.name
    matrix = responder.matrix(pool, survey, s.scenario, list(s.items))
    vectors = persona_vectors(matrix, seed_rng(s.seed, "draws", scenario), draws=s.draws, expected=s.expected)
    _, traits = trait_means(survey, s.items, vectors.values)  # (R*K, D)
    sets, builders = fit_sets(s, vectors, humans, pool)
    save_weighted_jsonl(builders["Raw"].population_, out / "pool_raw.jsonl")  # inputs for `populace select`
    save_weighted_jsonl(builders["Resample"].population_, out / "aligned_resample.jsonl")
    tables = {"in_domain": in_domain_rows(s, traits, humans, sets)}
    tables["out_of_domain"], ood_sets = out_of_domain_rows(s, responder, pool, vectors, sets)
    plot_traits(out / "trait_scatter.png", s, humans, traits, sets)
    tables["subgroups"], index = subgroup_rows(s, responder, pool, vectors, traits, humans, sets, ood_sets)
    seconds = time.perf_counter() - t_start
    write_outputs(
        out, s, pool=pool, matrix=matrix, vectors=vectors, humans=humans, builders=builders,
        tables=tables, index=index, calls=responder.calls(), seconds=seconds,
    )  # fmt: skip
    print(f"seed002: done in {seconds:.1f} s, {responder.calls()} backend calls -> {out}", flush=True)
    return 0
