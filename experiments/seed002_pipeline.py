"""The steps of ``populace experiment seed002``: humans, pool, response matrices, aligned sets and their scores.

Every random choice is a named stream of the root seed (:mod:`populace_lm.seeds`): ``("pool", ...)`` for the
pool, ``("draws", scenario)`` for the persona answer draws, ``("fit", scenario, row)`` for each alignment,
``("eval_humans", scenario)`` for the metrics' human subsample, ``("score", scenario, row)`` for a set's sampled
score and ``("floor", scenario)`` for the floor, as in every other command. The split is the one split
(:func:`scenarios.split.split_indices`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from experiments.seed002_study import Seed002Error, Seed002Settings
from populace_lm.seeds import seed_int, seed_rng
from populations.response_matrix import PersonaVectors, ResponseMatrix

__all__ = [
    "Humans",
    "Responder",
    "VECTOR_COLUMNS",
    "build_pool",
    "fit_sets",
    "in_domain_rows",
    "out_of_domain_rows",
    "prepare_humans",
    "score_set",
    "seed002_pool",
]

METRIC_LABELS = {"amw": "AMW", "frechet": "FD", "sliced_w": "SW", "mmd": "MMD", "corr_mae": "MAE-corr"}
#: The metric columns of Tables 1-2: each metric's ``sampled`` score beside its ``floor``.
VECTOR_COLUMNS = [f"{label} {kind}" for label in METRIC_LABELS.values() for kind in ("sampled", "floor")]


@dataclass(frozen=True)
class Humans:
    """The in-domain humans after the one split.

    Attributes:
        target: the :class:`experiments.cmd_align.AlignTarget` of the in-domain scenario (survey, items).
        fit_rows: data rows of the fit half (every row, before incomplete ones are dropped), shape ``(n_fit,)``.
        fit: complete fit-half answer vectors (the alignment target), shape ``(m_fit, Q)``.
        test: complete test-half answer vectors, shape ``(m_test, Q)``.
        dims: the dimensions with an included item, D of them.
        test_traits: mean keyed answer per dimension of ``test``, shape ``(m_test, D)``.
        eval_traits: the metrics' random subsample of ``test_traits``, shape ``(≤ eval_humans, D)``.
        demographics: age and country of the ``test`` respondents, one row each.
    """

    target: Any
    fit_rows: np.ndarray
    fit: np.ndarray
    test: np.ndarray
    dims: tuple[str, ...]
    test_traits: np.ndarray
    eval_traits: np.ndarray
    demographics: Any


def _subsample(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``k`` rows of ``x`` drawn without replacement (in row order), all of them when there are fewer."""
    return x[np.sort(rng.choice(len(x), size=k, replace=False))] if len(x) > k else x


def prepare_humans(s: Seed002Settings) -> Humans:
    """Split the in-domain humans once; the fit half aligns, the test half scores.

    Raises:
        ScenarioError: an unknown scenario or item.
        Seed002Error: the cleaned big5 demographics do not line up with the scenario's rows.
    """
    from experiments.cmd_align import align_target
    from populations.response_matrix import trait_means
    from scenarios.big5 import load_big5
    from scenarios.split import split_indices

    target = align_target(s.scenario, s.data, s.items)  # the items of the one registry (ScenarioError)
    rows = target.scenario.rows(s.data)
    fit_rows, test_rows = split_indices(rows.n, seed=s.seed)
    answers = rows.answers[:, [rows.columns.index(i) for i in s.items]]
    complete = ~np.isnan(answers).any(axis=1)
    fit_keep, test_keep = fit_rows[complete[fit_rows]], test_rows[complete[test_rows]]
    # Cleaned age and country of the same respondents (birth years recoded, junk set missing).
    big5 = load_big5(s.data)
    if big5.n != rows.n:
        raise Seed002Error(f"big5_osp: {big5.n} cleaned respondents but the {s.scenario} scenario reads {rows.n} rows")
    dims, test_traits = trait_means(target.survey, s.items, answers[test_keep])
    eval_traits = _subsample(test_traits, s.eval_humans, seed_rng(s.seed, "eval_humans", target.scenario.name))
    return Humans(
        target=target,
        fit_rows=fit_rows,
        fit=answers[fit_keep],
        test=answers[test_keep],
        dims=dims,
        test_traits=test_traits,
        eval_traits=eval_traits,
        demographics=big5.demographics.iloc[test_keep].reset_index(drop=True),
    )


def seed002_pool(specs: list[str], *, source, fit_rows: np.ndarray, seed: int):
    """The combined pool; ``big5_respondents`` personas come only from fit-half respondents (``fit_rows``).

    Args:
        specs: ``NAME[:COUNT]`` pool specs.
        source: data source.
        fit_rows: BIG5 rows of the fit half.
        seed: seed of the ``big5_respondents`` draw.

    Raises:
        PoolError: no specs or the same persona id in two pools.
    """
    from populations.persona import Persona
    from populations.pool_builders import PoolError, big5_respondent_pool, load_pool_spec, parse_pool_spec

    if not specs:
        raise PoolError("no pools given")
    out, seen = [], {}
    for spec in specs:
        name, n = parse_pool_spec(spec)
        if name == "big5_respondents":
            members = big5_respondent_pool(source, n=n, rows=fit_rows, rng=seed)
        else:
            members = load_pool_spec(spec, source=source)
        for p in members:
            if p.id in seen:
                raise PoolError(f"persona id {p.id!r} occurs in pools {seen[p.id]!r} and {name!r}")
            seen[p.id] = name
            out.append(Persona(id=p.id, text=p.text, attributes={**p.attributes, "pool": name}))
    return tuple(out)


def build_pool(s: Seed002Settings, humans: Humans) -> tuple:
    """The shuffled combined pool, cut to ``n_pool``.

    Raises:
        Seed002Error: ``n_pool`` larger than the pool, or a pool smaller than the set size.
    """
    from populations.pool_builders import shuffled

    pool = seed002_pool(
        list(s.pools), source=s.data, fit_rows=humans.fit_rows, seed=seed_int(s.seed, "pool", "big5_respondents")
    )
    pool = shuffled(pool, seed_int(s.seed, "pool", "shuffle"))
    if s.n_pool is not None:
        if s.n_pool > len(pool):
            raise Seed002Error(f"--n-pool {s.n_pool} exceeds the combined pool's {len(pool)} personas")
        pool = pool[: s.n_pool]
    if s.n_select > len(pool) * s.draws_per_persona:
        raise Seed002Error(f"the pool has {len(pool)} personas, fewer than the set size {s.n_select}; lower --n-select")
    return pool


def model_of(args: argparse.Namespace):
    """The cache-wrapped model of :func:`experiments.common.model_from_args` (budget, accounting, executor)."""
    from experiments.common import model_from_args

    return model_from_args(args)


def questions_of(scenario: str, item_ids: Sequence[str], source) -> list:
    """The questions of some items of a registry scenario (``get_scenario``), in ``item_ids`` order."""
    from scenarios.registry import get_scenario

    by_id = {q.id: q for q in get_scenario(scenario, source=source).questions()}
    return [by_id[i] for i in item_ids]


@dataclass
class Responder:
    """Response matrices of personas through one model, counting backend calls.

    The model's executor (:mod:`populace_lm.executor`: this process, or Ray actors under ``--executor ray`` or
    ``--workers N``) answers the batches; the driver alone writes the response cache.

    Attributes:
        settings: the run's settings.
        args: the command's options.
        model: the cache-wrapped model of the main process.
    """

    settings: Seed002Settings
    args: argparse.Namespace
    model: Any
    _before: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._before = self.model.stats()["misses"] if hasattr(self.model, "stats") else 0

    def matrix(self, personas, survey, scenario: str, item_ids) -> ResponseMatrix:
        """The (stored or computed) response matrix of ``personas`` on some items of a survey scenario."""
        from populations.response_matrix import compute_response_matrix

        s = self.settings
        return compute_response_matrix(self.model, personas, survey, cache_dir=s.matrix_dir, item_ids=item_ids)

    def calls(self) -> int | None:
        """Backend requests of this run so far (response-cache misses of the driver, whatever the executor)."""
        if not hasattr(self.model, "stats"):
            return None
        return int(self.model.stats()["misses"] - self._before)


def fit_sets(s: Seed002Settings, vectors: PersonaVectors, humans: Humans, pool) -> tuple[dict, dict]:
    """The table's sets: each public pool on its own, then one aligned set per construction row.

    Returns:
        ``(sets, builders)``: row label → rows of ``vectors.values``, and construction label → fitted
        :class:`populations.aligned.AlignedPersonaBuilder`.
    """
    from populations.aligned import AlignedPersonaBuilder

    pools_of = np.tile(np.array([p.attributes.get("pool", "?") for p in pool]), vectors.draws)
    sets: dict[str, np.ndarray] = {f"pool: {n}": np.flatnonzero(pools_of == n) for n in dict.fromkeys(pools_of)}
    builders = {}
    personas_rows = tuple(pool) * vectors.draws
    for label, method in s.methods:
        b = AlignedPersonaBuilder(
            method,
            n_select=None if method == "raw" else s.n_select,
            item_weights=s.item_weights,
            random_state=seed_int(s.seed, "fit", humans.target.scenario.name, label),
        )
        b.fit_vectors(vectors.values, humans.fit, personas=personas_rows)
        builders[label] = b
        sets[label] = b.selected_
    return sets, builders


def _flat(scores: dict) -> dict[str, float]:
    """Table columns of :func:`populations.evaluation.score_vectors`: ``<metric> sampled`` beside ``<metric> floor``."""
    out = {}
    for m, label in METRIC_LABELS.items():
        out[f"{label} sampled"] = round(scores[m]["sampled_mean"], 6)
        out[f"{label} floor"] = round(scores[m]["floor_mean"], 6)
    return out


def score_set(s: Seed002Settings, scenario: str, label: str, sim: np.ndarray, human: np.ndarray) -> dict[str, Any]:
    """One table row's numbers: ``n`` vectors of the set against the test humans, beside the floor.

    The floor (``n`` test humans against the remaining test humans) is drawn from the scenario's floor stream
    ``seed_rng(root, "floor", scenario)`` alone, so every set with the same ``n`` has the same floor; the sampled
    score from ``("score", scenario, label)``.

    Args:
        s: settings (root seed, repeats).
        scenario: the registry name of the scenario scored.
        label: the set's row label.
        sim: the set's response vectors, shape ``(k, D)``.
        human: the test humans, shape ``(m, D)``.

    Returns:
        ``{"n", "<metric> sampled", "<metric> floor", ...}``.
    """
    from populations.evaluation import score_vectors

    n = min(len(sim), len(human) - 1)
    sc = score_vectors(
        sim,
        human,
        n=n,
        repeats=s.repeats,
        rng=seed_rng(s.seed, "score", scenario, label),
        floor_rng=seed_rng(s.seed, "floor", scenario),  # the one floor call site of seed002
    )
    return {"n": int(n), **_flat(sc)}


def in_domain_rows(s: Seed002Settings, traits: np.ndarray, humans: Humans, sets: dict) -> list[dict]:
    """Table 1: every set's per-trait mean keyed answers against the test humans' (``traits``: ``(R*K, D)``)."""
    name = humans.target.scenario.name
    return [{"set": label, **score_set(s, name, label, traits[idx], humans.eval_traits)} for label, idx in sets.items()]


def out_of_domain_rows(
    s: Seed002Settings, responder: Responder, pool, vectors: PersonaVectors, sets: dict
) -> tuple[list[dict], dict]:
    """Table 2: ``ood_n`` personas of each construction's set answer surveys the sets were not fitted on.

    Each survey is scored on its own test half (the one split over its rows), never sampled from the scored set.

    Returns:
        ``(rows, ood_sets)``: the table rows and construction label → rows (of ``vectors``) asked.
    """
    from experiments.cmd_align import align_target
    from populations.response_matrix import keyed_answers, persona_vectors

    ood_sets = {}
    for label, _ in s.methods:
        idx = sets[label]
        rng = seed_rng(s.seed, "ood_subset", label)
        ood_sets[label] = idx if idx.size <= s.ood_n else rng.choice(idx, size=s.ood_n, replace=False)
    union = np.unique(np.concatenate([vectors.persona_of(i) for i in ood_sets.values()]))
    personas = tuple(pool[i] for i in union)
    pos = np.full(vectors.n_personas, -1)
    pos[union] = np.arange(union.size)
    rows_out = []
    for survey in s.out_of_domain:
        ood = align_target(survey.scenario, s.data, survey.items, split="test", seed=s.seed)
        name, ids = ood.scenario.name, list(ood.item_ids)
        human = _subsample(
            keyed_answers(ood.survey, ids, ood.human), s.eval_humans, seed_rng(s.seed, "eval_humans", name)
        )
        print(f"seed002: {survey.label} ({len(ids)} items) for {len(personas)} personas", flush=True)
        m = responder.matrix(personas, ood.survey, survey.scenario, ids)
        v = persona_vectors(m, seed_rng(s.seed, "draws", name), draws=vectors.draws, expected=s.expected)
        sim = keyed_answers(ood.survey, ids, v.values)  # (R*U, Q')
        for label, idx in ood_sets.items():
            rows = vectors.draw_of(idx) * union.size + pos[vectors.persona_of(idx)]
            rows_out.append({"survey": survey.label, "set": label, **score_set(s, name, label, sim[rows], human)})
    return rows_out, ood_sets
