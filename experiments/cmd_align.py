"""``populace align``: resample a persona pool so its survey answers match the human data.

Computes (or loads) the pool's response matrix for the scenario's items, fits
:class:`populations.aligned.AlignedPersonaBuilder` against the human answers and writes the aligned set as
weighted-persona JSONL (see :func:`populations.aligned.save_weighted_jsonl`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.common import add_data_args, add_model_args, model_from_args

DEFAULT_MATRIX_DIR = Path.home() / ".cache" / "populace" / "response_matrices"
ALIGN_SCENARIOS = ("bigfive", "cfcs", "grit")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``align`` sub-command."""
    p = sub.add_parser(
        "align", help="build a population-aligned persona set from a pool (IS + OT)", description=__doc__
    )
    p.add_argument("--pool", required=True, help="persona pool: JSONL path, folder or shared pool name")
    p.add_argument(
        "--scenario",
        required=True,
        choices=ALIGN_SCENARIOS,
        help="survey the pool answers: bigfive (IPIP-50 vs big5_osp), cfcs (osp_cfcs), grit (osp_grit)",
    )
    p.add_argument("--out", required=True, help="aligned population (weighted-persona JSONL)")
    p.add_argument("--items", default=None, help="comma-separated item subset (default: all items)")
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
    add_model_args(p)
    add_data_args(p)
    p.set_defaults(func=run)


def survey_and_humans(scenario: str, source, item_ids=None, *, split: str = "all", seed: int = 0):
    """``(survey, item_ids, human answers (M, Q) complete cases)`` of an align scenario.

    ``split`` = ``"fit"`` or ``"test"`` keeps one half of the one split of human rows
    (:func:`scenarios.split.split_indices` on all rows, before dropping incomplete ones, as every command does).
    """
    import numpy as np

    if scenario == "bigfive":
        from scenarios.big5 import load_big5
        from scenarios.ipip50 import ITEM_IDS, ipip50_survey

        survey, items, all_ids = ipip50_survey(source), load_big5(source).items, ITEM_IDS
    elif scenario in ("cfcs", "grit"):
        from scenarios.osp import osp_survey_and_data

        survey, data = osp_survey_and_data(f"osp_{scenario}", source)
        items, all_ids = data.items, data.item_ids
    else:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {ALIGN_SCENARIOS}")
    ids = tuple(item_ids) if item_ids else tuple(all_ids)
    for i in ids:
        survey.item(i)  # ScenarioError naming the known items
    cols = [list(all_ids).index(i) for i in ids]
    human = items[:, cols]
    if split != "all":
        from scenarios.split import SPLITS, split_indices

        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use one of {list(SPLITS)}")
        fit_rows, test_rows = split_indices(human.shape[0], seed=seed)
        human = human[fit_rows if split == "fit" else test_rows]
    return survey, ids, human[~np.isnan(human).any(axis=1)]


def run(args: argparse.Namespace) -> int:
    """Compute/load the response matrix, align, write the set."""
    from populations.aligned import AlignedPersonaBuilder, save_weighted_jsonl
    from populations.pools import load_pool
    from populations.response_matrix import compute_response_matrix

    personas = load_pool(args.pool, limit=args.limit)
    if args.n_select is not None and args.n_select > len(personas):
        raise ValueError(f"the pool has {len(personas)} personas, fewer than --n-select {args.n_select}")
    items = [s.strip() for s in args.items.split(",")] if args.items else None
    survey, ids, human = survey_and_humans(args.scenario, args.data, items, split=args.split, seed=args.seed)
    model = model_from_args(args)
    matrix = compute_response_matrix(model, personas, survey, cache_dir=args.matrix_dir, item_ids=ids)
    builder = AlignedPersonaBuilder(args.method, n_select=args.n_select, random_state=args.seed)
    import numpy as np

    # Persona vectors on the humans' footing: one seeded integer draw per persona from its exact item pmfs.
    vectors = matrix.draw_answers(np.random.default_rng(np.random.SeedSequence([args.seed, 0xA119])), 1)[0]
    builder.fit(vectors, human, personas=personas)
    pop = builder.population_
    pop = type(pop)(
        personas=pop.personas,
        weights=pop.weights,
        construction=pop.construction,
        metadata={
            **pop.metadata,
            "scenario": matrix.scenario,
            "model_id": matrix.model_id,
            "pool_digest": matrix.pool_digest,
            "pool": str(args.pool),
            "humans": f"{args.split} half" if args.split != "all" else "all",
            "persona_vectors": "one integer draw per persona from its exact item pmfs",
        },
    )
    out = save_weighted_jsonl(pop, args.out)
    print(
        f"aligned {len(pop)} of {len(personas)} personas ({args.method}, {matrix.scenario}; "
        f"{matrix.metadata.get('backend_calls', 0)} backend calls) -> {out}"
    )
    return 0
