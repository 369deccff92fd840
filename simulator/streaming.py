"""A survey replicate in chunks: the same draws as :class:`~simulator.survey.SurveyModel`, in memory O(agents), not O(agents × items).

:class:`~simulator.survey.SurveyModel` holds one Mesa agent per respondent and every record row until the run
ends: about 490 bytes per decision, so a 1M-agent, 10-item survey needed 4.9 GB and 10M agents did not fit. A
survey has no interaction between agents, so the Mesa machinery is only there to fix *who draws which uniform
number*. This module reproduces that exactly, without agent objects:

* the population draw, in chunks (``Population.sample`` on the same generator: the same uniforms in order);
* per item, the activation order of ``AgentSet.shuffle_do`` — ``random.Random(seed).shuffle`` of the agents in
  creation order, done here on a compact ``array`` of indices with the same ``Random`` instance;
* per item, the answers, drawn by :meth:`~simulator.decisions.DecisionService.draw_keys` chunk by chunk in
  submission order from the same ``numpy`` generator (one uniform per submission, so chunks give the same stream);
* the records of each item, handed to ``on_records`` in agent order, ``chunk_rows`` rows at a time, with the columns
  and dtypes :meth:`~simulator.base.SimulationModel.records` gives;
* the per-item outcomes (``mean_decision`` from the exact integer sum; ``parse_failure_rate`` from a float sum in
  numpy's own pairwise order, :func:`pairwise_sum`), and the scores, computed in agent chunks from answer columns
  spilled to ``spill_dir``.

Memory: about 10 bytes per agent (persona index, activation order, one answer column) plus one chunk, whatever
the number of items. ``tests/simulator/test_streaming.py`` checks records, outcomes, scores and decision counts
against :class:`~simulator.survey.SurveyModel` for several sizes, seeds, scenarios and a treatment.
"""

from __future__ import annotations

import array
import random
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from populations.persona import Population
from simulator.base import OUTCOME_COLUMNS, RECORD_COLUMNS
from simulator.decisions import DecisionService
from simulator.treatment import Treatment, treated_question, treated_system_prompt

__all__ = ["CHUNK_ROWS", "pairwise_sum", "stream_survey_replicate"]

CHUNK_ROWS = 1 << 16
"""Rows per record chunk (and per Parquet row group when the caller writes each chunk as one)."""

_PW_BLOCKSIZE = 128  # numpy's pairwise summation: leaves of at most 128 elements, split at multiples of 8


def pairwise_sum(get: Callable[[int, int], np.ndarray], n: int, *, leaf: int = CHUNK_ROWS) -> float:
    """``np.add.reduce`` of a float64 vector of length ``n`` read in slices, bit for bit.

    numpy sums a contiguous float64 vector pairwise: a vector longer than 128 is split at
    ``n2 = n // 2 - (n // 2) % 8`` and both halves summed recursively. Splitting the same way down to slices of at
    most ``leaf`` elements and summing each slice with numpy gives the same float, without the whole vector.

    Args:
        get: ``get(lo, hi)`` returns elements ``lo..hi-1``, shape ``(hi - lo,)``, float64.
        n: the vector's length.
        leaf: the largest slice read at once.

    >>> x = np.random.default_rng(0).random(100_003)
    >>> pairwise_sum(lambda lo, hi: x[lo:hi], x.size, leaf=1000) == np.add.reduce(x)
    True
    """
    leaf = max(leaf, _PW_BLOCKSIZE)

    def rec(lo: int, m: int) -> float:
        if m <= leaf:
            return np.add.reduce(np.ascontiguousarray(get(lo, lo + m), dtype=np.float64))
        half = m // 2
        half -= half % 8
        return rec(lo, half) + rec(lo + half, m - half)

    if n <= 0:
        return 0.0
    return rec(0, n)


def _sample_in_chunks(population: Population, n: int, rng: np.random.Generator, chunk: int) -> np.ndarray:
    """``population.sample(n, rng=rng)`` drawn ``chunk`` at a time (one uniform per draw, in order), as int32."""
    out = np.empty(n, dtype=np.int32 if len(population) < 2**31 else np.int64)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        out[lo:hi] = population.sample(hi - lo, rng=rng)
    return out


def _activation_order(n: int, rnd: random.Random) -> np.ndarray:
    """The order ``AgentSet.shuffle_do`` activates ``n`` agents created in order: ``rnd.shuffle`` of ``0..n-1``."""
    order = array.array("i" if n < 2**31 else "q", range(n))
    rnd.shuffle(order)  # the same calls to the same generator as shuffling the list of agent references
    return np.frombuffer(order, dtype=np.int32 if order.typecode == "i" else np.int64)


def _first_seen(values: Callable[[int, int], np.ndarray], n: int, chunk: int, wanted: int) -> list[int]:
    """Distinct entries of a vector read in slices (``values(lo, hi)``), in order of first appearance.

    Stops once ``wanted`` distinct entries were seen (usually within the first slice).
    """
    seen: dict[int, None] = {}
    for lo in range(0, n, chunk):
        part = values(lo, min(n, lo + chunk))
        uniq, first = np.unique(part, return_index=True)
        for v in uniq[np.argsort(first, kind="stable")].tolist():
            seen.setdefault(int(v), None)
        if len(seen) >= wanted:
            break
    return list(seen)


def stream_survey_replicate(
    *,
    scenario: Any,
    population: Population,
    n_agents: int,
    seeds: dict[str, int],
    service: DecisionService,
    on_records: Callable[[pd.DataFrame], None],
    replicate: int,
    treatment: Treatment | None = None,
    chunk_rows: int = CHUNK_ROWS,
    spill_dir: str | Path | None = None,
    on_step: Callable[[], None] | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Administer every question of ``scenario`` to ``n_agents`` respondents, streaming the records.

    Args:
        scenario: a survey scenario (``questions()``, ``scores(answers)``).
        population: who the agents are.
        n_agents: respondents, ``N``.
        seeds: the replicate's ``population`` and ``model`` seeds (:func:`simulator.runner.build_model`'s).
        service: the decision service (distributions shared by key; its decision count advances by ``N`` per item).
        on_records: receives each chunk of records (a ``replicate`` column first, then
            :data:`~simulator.base.RECORD_COLUMNS`), item by item, agents in order.
        replicate: the replicate number written in the ``replicate`` column.
        treatment: an intervention message (survey what-if).
        chunk_rows: rows per chunk.
        spill_dir: where the answer columns wait for scoring (a temporary folder inside it, removed at the end);
            None = the system's temporary folder.
        on_step: called after each item (a progress bar).

    Returns:
        ``(outcomes, scores)``: one outcome row per item (:data:`~simulator.base.OUTCOME_COLUMNS`), and the scores,
        shape ``(N,)`` or ``(N, D)`` — equal to :class:`~simulator.survey.SurveyModel`'s.
    """
    questions = tuple(scenario.questions())
    asked = tuple(treated_question(treatment, q) for q in questions)
    texts = [treated_system_prompt(treatment, p.text) for p in population.personas]
    persona_ids = np.asarray([p.id for p in population.personas], dtype=object)
    indices = _sample_in_chunks(population, n_agents, np.random.default_rng(seeds["population"]), chunk_rows)
    if indices.size < 1 or indices.min() < 0 or indices.max() >= len(population):
        raise ValueError(f"persona_indices must be in 0..{len(population) - 1}")
    drawn = np.flatnonzero(np.bincount(indices, minlength=len(population)))
    rnd = random.Random(int(seeds["model"]))  # mesa.Model(seed=s): random.Random(s) and np.random.default_rng(s)
    rng = np.random.default_rng(int(seeds["model"]))
    low = min(q.answers.low for q in questions)
    high = max(q.answers.high for q in questions)
    answer_dtype = np.int16 if low >= -(2**15) and high < 2**15 else np.int64
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix=".populace-spill-", dir=spill_dir) as spill:
        columns: list[Path] = []
        for step, (question, q_asked) in enumerate(zip(questions, asked, strict=True), start=1):
            order = _activation_order(n_agents, rnd)
            # the distinct prompts in first-submission order, as DecisionService.draw requests them
            personas_in_order = _first_seen(
                lambda lo, hi, order=order: indices[order[lo:hi]], n_agents, chunk_rows, drawn.size
            )
            ids = service.prefetch([(texts[k], q_asked) for k in personas_in_order], desc=f"survey {question.id}")
            key_of_persona = np.full(len(population), -1, dtype=np.int64)
            key_of_persona[personas_in_order] = ids
            mass_of_persona = np.zeros(len(population))
            mass_of_persona[personas_in_order] = [
                service.distribution(texts[k], q_asked).valid_mass for k in personas_in_order
            ]
            by_agent = np.empty(n_agents, dtype=answer_dtype)
            total = 0
            for lo in range(0, n_agents, chunk_rows):  # submission order: one uniform each, in order
                who = order[lo : lo + chunk_rows]
                draws = service.draw_keys(key_of_persona[indices[who]], rng)
                by_agent[who] = draws.values
                total += int(draws.values.sum(dtype=np.int64))

            def mass_in_submission_order(
                lo: int, hi: int, order: np.ndarray = order, mass: np.ndarray = mass_of_persona
            ) -> np.ndarray:
                return mass[indices[order[lo:hi]]]

            mass_sum = pairwise_sum(mass_in_submission_order, n_agents, leaf=chunk_rows)
            del order, mass_in_submission_order  # the next item's order is built without this one alive
            rows.append(
                {
                    "round": float(step),
                    "mean_decision": float(np.float64(total) / n_agents),
                    "parse_failure_rate": float(1.0 - np.float64(mass_sum) / n_agents),
                }
            )
            for lo in range(0, n_agents, chunk_rows):
                hi = min(n_agents, lo + chunk_rows)
                persona = indices[lo:hi].astype(np.int64)
                n = hi - lo
                frame = pd.DataFrame(
                    {
                        "round": np.full(n, step, dtype=np.int64),
                        "agent": np.arange(lo, hi, dtype=np.int64),
                        "persona_index": persona,
                        "persona_id": persona_ids[persona],
                        "role": np.full(n, "respondent", dtype=object),
                        "question": np.full(n, question.id, dtype=object),
                        "partner": np.full(n, -1, dtype=np.int64),
                        "group_size": np.full(n, 1, dtype=np.int64),
                        "decision": by_agent[lo:hi].astype(float),
                        "valid_mass": mass_of_persona[persona],
                        "payoff": np.full(n, np.nan),
                    },
                    columns=list(RECORD_COLUMNS),
                )
                frame.insert(0, "replicate", replicate)
                on_records(frame)
            path = Path(spill) / f"answers_{step}.bin"
            by_agent.tofile(path)
            columns.append(path)
            del by_agent
            if on_step is not None:
                on_step()
        scores = _scores_in_chunks(scenario, questions, columns, n_agents, answer_dtype, chunk_rows)
    outcomes = pd.DataFrame(
        [{name: row.get(name, float("nan")) for name in OUTCOME_COLUMNS} for row in rows], columns=OUTCOME_COLUMNS
    )
    outcomes["round"] = outcomes["round"].astype(np.int64)
    return outcomes, scores


def _scores_in_chunks(
    scenario: Any, questions: Sequence[Any], columns: list[Path], n_agents: int, dtype: Any, chunk: int
) -> np.ndarray:
    """``scenario.scores`` of every agent's answers, read back ``chunk`` agents at a time from the spilled columns."""
    size = np.dtype(dtype).itemsize
    out: np.ndarray | None = None
    for lo in range(0, n_agents, chunk):
        count = min(chunk, n_agents - lo)
        answers = np.stack(
            [np.fromfile(path, dtype=dtype, count=count, offset=lo * size) for path in columns], axis=1
        ).astype(np.int64)
        part = np.asarray(scenario.scores(answers), dtype=float)
        if out is None:  # (N,) or (N, D), filled in place: no list of parts to concatenate
            out = np.empty((n_agents, *part.shape[1:]), dtype=float)
        out[lo : lo + count] = part
    assert out is not None
    return out
