"""``populace align``: resample a persona pool so its survey answers match the human data.

The scenario is any survey the one registry resolves (:func:`scenarios.registry.get_scenario`: a built-in
instrument or the user's ``FILE.toml[:DIMENSION]``); the asked items must share one integer answer range. Computes
(or loads) the pool's response matrix for those items, fits :class:`populations.aligned.AlignedPersonaBuilder`
against the complete human answer vectors of the fit half (the one seeded split) and writes the aligned set as
weighted-persona JSONL (see :func:`populations.aligned.save_weighted_jsonl`).

The features are those of the ``aligned`` construction in ``compare``: each persona's **expected** answer under
its exact pmf (:func:`populations.aligned.expected_scores`) on each asked item, against the humans weighted by
their survey weights (see :meth:`populations.aligned.AlignedPersonaBuilder.fit` for why).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from experiments.common import add_data_args, add_model_args, model_from_args
from experiments.errors import UsageError
from experiments.plan import add_plan_flag

if TYPE_CHECKING:  # heavy modules load inside the functions, so `populace --help` stays fast
    import numpy as np

    from scenarios.file_scenarios import SurveyScenario
    from scenarios.survey import Survey

DEFAULT_MATRIX_DIR = Path.home() / ".cache" / "populace" / "response_matrices"
# Response matrices computed before the instruments came from files were stored under these survey names. The
# questions are bit-identical, so keeping the names keeps every stored matrix (a new name would only re-assemble
# the matrix from response-cache hits, with no backend call).
_STORED_AS = {"bigfive": "ipip50", "osp_cfcs": "cfcs", "osp_grit": "grit"}

__all__ = ["DEFAULT_MATRIX_DIR", "AlignTarget", "align_target", "register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``align`` sub-command."""
    p = sub.add_parser(
        "align", help="build a population-aligned persona set from a pool (IS + OT)", description=__doc__
    )
    p.add_argument("--pool", required=True, help="persona pool: JSONL path, folder or shared pool name")
    p.add_argument(
        "--scenario",
        required=True,
        help="survey the pool answers: a built-in instrument (bigfive, bigfive:E, osp_cfcs, osp_grit, "
        "yrbss:physically_active_7d, ...) or your FILE.toml / FILE.toml:DIMENSION; its human rows are the target",
    )
    p.add_argument("--out", required=True, help="aligned population (weighted-persona JSONL)")
    p.add_argument("--items", default=None, help="comma-separated item subset (default: all items of the scenario)")
    p.add_argument("--method", default="resample", choices=("resample", "raw", "random", "is_only", "ot_only"))
    p.add_argument("--n-select", type=int, default=None, help="size of the aligned set (default min(M, N/2))")
    p.add_argument("--limit", type=int, default=None, help="use only the first N personas of the pool")
    p.add_argument(
        "--split",
        default="fit",
        choices=("fit", "all"),
        help="humans to align to: the fit half of the one seeded split (default; the test half stays held out) or all",
    )
    p.add_argument("--matrix-dir", default=str(DEFAULT_MATRIX_DIR), help="where response matrices are stored")
    add_plan_flag(p)
    add_model_args(p)
    add_data_args(p)
    p.set_defaults(func=run)


@dataclass(frozen=True, kw_only=True)
class AlignTarget:
    """What a pool is aligned to: the asked items and the humans' answers to them.

    Attributes:
        scenario: the survey scenario, narrowed to the dimensions of the asked items.
        survey: its items as a :class:`~scenarios.survey.Survey` (the response-matrix key and keying).
        item_ids: the asked items, length Q.
        human: complete human answer vectors of the chosen half, shape ``(M, Q)``.
        weights: their survey weights, shape ``(M,)``, or None (the file declares no weight column).
    """

    scenario: SurveyScenario
    survey: Survey
    item_ids: tuple[str, ...]
    human: np.ndarray
    weights: np.ndarray | None


def align_target(
    name: str,
    source: str | os.PathLike[str] | None = None,
    item_ids: Sequence[str] | None = None,
    *,
    split: str = "all",
    seed: int = 0,
) -> AlignTarget:
    """The items and human answer vectors of a survey scenario the registry resolves.

    Human rows are split once (:func:`scenarios.file_scenarios.split_rows` over every row the scenario reads, before
    incomplete ones are dropped, as every command does); the complete answer vectors of the chosen half remain.

    Args:
        name: ``bigfive``, ``bigfive:E``, ``osp_cfcs``, ``FILE.toml``, ``FILE.toml:DIMENSION``, ``…@GROUP``.
        source: data source (``--data``).
        item_ids: the items to ask (default: every item of the scenario, in its order).
        split: ``"all"``, ``"fit"`` or ``"test"``.
        seed: root seed of the split.

    Raises:
        ScenarioError: an unknown scenario or item, a decision task or game, or items not on one integer range.
    """
    import numpy as np

    from scenarios.errors import ScenarioError
    from scenarios.file_scenarios import SurveyScenario, split_rows
    from scenarios.registry import get_scenario

    scenario = get_scenario(name, source=source)
    if not isinstance(scenario, SurveyScenario):
        raise ScenarioError(
            f"align resamples personas on survey item answers, and {name!r} is a decision (a task or game role) "
            "with one answer; "
            'align on its score with a kind = "aligned" construction in `populace compare STUDY.toml --out OUT '
            "--save-populations`, then narrow it with `populace select --population OUT/populations/…`"
        )
    known = [q.id for q in scenario.questions()]
    ids = tuple(item_ids) if item_ids else tuple(known)
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ScenarioError(f"scenario {scenario.name!r} has no item {unknown[0]!r}; items: {known}; fix --items")
    dims = tuple(d for d in scenario.dimensions if set(scenario.spec.dimension(d).items) & set(ids))
    scenario = replace(scenario, dimensions=dims)
    try:
        survey = scenario.survey
    except ScenarioError:
        raise ScenarioError(
            f"align compares answer vectors on one integer answer range, and the items {list(ids)} of "
            f"{scenario.name!r} use answer categories or several scales; pick items of one integer-range scale "
            "with --items"
        ) from None
    survey = replace(survey, name=_STORED_AS.get(survey.name, survey.name))
    rows = scenario.rows(source)
    half = rows.take(split_rows(rows.n, split, seed))
    human = half.answers[:, [rows.columns.index(i) for i in ids]]
    complete = ~np.isnan(human).any(axis=1)
    return AlignTarget(
        scenario=scenario,
        survey=survey,
        item_ids=ids,
        human=human[complete],
        weights=None if half.weights is None else half.weights[complete],
    )


def run(args: argparse.Namespace) -> int:
    """Compute/load the response matrix, align, write the set."""
    from populations.aligned import AlignedPersonaBuilder, expected_scores, save_weighted_jsonl
    from populations.pools import load_pool
    from populations.response_matrix import compute_response_matrix

    personas = load_pool(args.pool, limit=args.limit)
    if args.n_select is not None and args.n_select > len(personas):
        raise UsageError(f"the pool has {len(personas)} personas, fewer than --n-select {args.n_select}")
    items = [s.strip() for s in args.items.split(",")] if args.items else None
    target = align_target(args.scenario, args.data, items, split=args.split, seed=args.seed)
    if args.plan:
        from experiments.plan import ANSWER_TOKENS, Plan, print_plan

        n = len(personas) * len(target.item_ids)
        return print_plan(
            Plan(
                "align",
                checks=[
                    f"pool {args.pool}: {len(personas)} personas",
                    f"human data of {target.scenario.name}: {target.human.shape[0]} complete answer vectors "
                    f"({args.split} half) on {len(target.item_ids)} items",
                ],
                rows=[{"what": "response matrix (pool × items)", "est_requests": n, "est_tokens": n * ANSWER_TOKENS}],
                notes=[f"0 when the matrix is already stored in {args.matrix_dir}"],
            )
        )
    model = model_from_args(args)
    matrix = compute_response_matrix(
        model, personas, target.survey, cache_dir=args.matrix_dir, item_ids=target.item_ids
    )
    if matrix.probs is None or matrix.support is None:
        raise ValueError(f"response matrix {matrix.scenario!r} holds no answer pmfs; recompute it (delete it)")
    # The features of the `aligned` construction in `compare` (AlignedPersonaBuilder.fit): each persona's expected
    # answer under its exact pmf on each asked item, against the humans weighted by their survey weights.
    vectors = expected_scores(matrix.probs, matrix.support)
    builder = AlignedPersonaBuilder(args.method, n_select=args.n_select, random_state=args.seed)
    builder.fit_vectors(vectors, target.human, personas=personas, sample_weight=target.weights)
    pop = builder.population_
    pop = type(pop)(
        personas=pop.personas,
        weights=pop.weights,
        construction=pop.construction,
        metadata={
            **pop.metadata,
            "scenario": matrix.scenario,
            "scenario_name": target.scenario.name,
            "items": list(target.item_ids),
            "model_id": matrix.model_id,
            "pool_digest": matrix.pool_digest,
            "pool": str(args.pool),
            "humans": f"{args.split} half" if args.split != "all" else "all",
            "n_humans": int(target.human.shape[0]),
            "human_weights": "survey weights" if target.weights is not None else "none declared",
            "persona_vectors": "expected answer per item under each persona's exact pmf",
        },
    )
    out = save_weighted_jsonl(pop, args.out)
    print(
        f"aligned {len(pop)} of {len(personas)} personas ({args.method}, {matrix.scenario}; "
        f"{matrix.metadata.get('backend_calls', 0)} backend calls) -> {out}"
    )
    return 0
