"""seed002's answering processes: ``--workers N`` processes fill the shared response cache before a matrix is built.

The embedded llama.cpp model answers one request at a time (:func:`populace_lm.config.concurrency_of` is 1), so
the thread pool of :func:`populace_lm.budget.map_concurrent` (what :func:`populations.responses.answer_distributions`
uses) cannot run two of its requests at once; this module instead starts N processes, each building its own model
through the one factory (``--threads`` llama.cpp threads each, default 1) and answering a contiguous block of the
pool (so a persona's prefix is reused) into the same SQLite cache. The main process then assembles the response
matrix from cache hits (:func:`populations.response_matrix.compute_response_matrix`). One executor seam for every
command is later work; this is the only process pool of the package.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from populations.persona import Persona

__all__ = ["model_of", "prefetch", "questions_of"]


def model_of(args: argparse.Namespace):
    """The cache-wrapped model of :func:`experiments.common.model_from_args` (budget and accounting included)."""
    from experiments.common import model_from_args

    return model_from_args(args)


def questions_of(scenario: str, item_ids: Sequence[str], source) -> list:
    """The questions of some items of a registry scenario (``get_scenario``), in ``item_ids`` order."""
    from scenarios.registry import get_scenario

    by_id = {q.id: q for q in get_scenario(scenario, source=source).questions()}
    return [by_id[i] for i in item_ids]


def _worker(args: argparse.Namespace, scenario: str, item_ids: list[str], personas, position: int) -> int:
    """Answer a block of personas through the shared response cache (runs in a worker process).

    Returns:
        the worker's backend requests (response-cache misses).
    """
    import copy

    from populations.responses import answer_distributions

    questions = questions_of(scenario, item_ids, args.data)
    wargs = copy.copy(args)
    wargs.threads = args.threads or 1  # one llama.cpp thread per worker process
    model = model_of(wargs)
    done = 0
    for lo in range(0, len(personas), 25):
        answer_distributions(model, personas[lo : lo + 25], questions)
        done += len(personas[lo : lo + 25])
        print(f"seed002: worker {position}: {scenario} {done}/{len(personas)} personas", flush=True)
    return int(model.stats()["misses"]) if hasattr(model, "stats") else 0


def prefetch(
    args: argparse.Namespace,
    workers: int,
    scenario: str,
    item_ids: Sequence[str],
    personas: Sequence[Persona],
    matrix_file: Path,
) -> int:
    """With ``workers > 1`` and no stored matrix: that many processes fill the response cache in parallel.

    Args:
        args: the command's options (each worker builds its model from them).
        workers: processes.
        scenario: the registry name of the survey (``bigfive``, ``osp_cfcs``, ``osp_grit``).
        item_ids: the items asked.
        personas: the pool, K personas; each worker takes a contiguous block.
        matrix_file: the response matrix's file (nothing runs when it exists).

    Returns:
        backend requests made by the workers (0 when nothing ran).
    """
    if workers <= 1 or matrix_file.is_file() or len(personas) < 2 * workers:
        return 0
    import concurrent.futures as cf
    import multiprocessing as mp

    blocks = np.array_split(np.arange(len(personas)), workers)
    with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
        futs = [
            ex.submit(_worker, args, scenario, list(item_ids), tuple(personas[i] for i in b), w)
            for w, b in enumerate(blocks)
        ]
        return sum(f.result() for f in futs)
