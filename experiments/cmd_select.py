"""``populace select``: narrow a weighted population to the personas matching a text query.

Reads weighted-persona JSONL (written by ``populace align``), builds or loads the sentence-embedding index
saved beside it (``<population>.index/``; ``--encoder`` retrieves with a trained encoder), keeps the top-k personas with similarity >= ``--min-score`` and
writes them, re-weighted, in the same format. ``--revise`` additionally rewrites them toward the query with
the LLM; ``--generate N`` writes N new group personas from the query and the retrieved seed set (Eq. 15 of
arXiv:2509.10127). Every revised or generated persona is checked (not empty, not a copy of a seed, not naming a
target answer); failures are recorded in the output's metadata and never stop the run.
"""

from __future__ import annotations

import argparse

from experiments.common import add_model_args
from experiments.errors import UsageError
from experiments.plan import add_plan_flag


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``select`` sub-command."""
    p = sub.add_parser("select", help="select a subgroup of a population by a text query (FAISS)", description=__doc__)
    p.add_argument("--population", required=True, help="any population file (populace fit, align or select output)")
    p.add_argument(
        "--query",
        required=True,
        action="append",
        help="subgroup description, e.g. 'adults in Sweden' (repeat for several; one output each)",
    )
    p.add_argument("--k", type=int, required=True, help="number of personas to retrieve")
    p.add_argument("--out", required=True, help="output JSONL (with several queries: OUT-1.jsonl, OUT-2.jsonl …)")
    p.add_argument("--min-score", type=float, default=0.2, help="minimum cosine similarity (default 0.2)")
    p.add_argument("--revise", action="store_true", help="rewrite selected personas toward the query with the LLM")
    p.add_argument(
        "--generate",
        type=int,
        default=None,
        metavar="N",
        help="write N new group personas from the query and the retrieved ones with the LLM (Eq. 15 of "
        "arXiv:2509.10127); each is checked, failures are recorded in the output's metadata",
    )
    p.add_argument(
        "--forbid",
        action="append",
        default=[],
        metavar="WORD",
        help="a target answer a generated or revised persona must not name (repeatable)",
    )
    p.add_argument(
        "--encoder",
        default=None,
        metavar="PATH",
        help="sentence-transformers folder to retrieve with (populace train-encoder output; default the shipped MiniLM)",
    )
    add_plan_flag(p)
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Select and write the subgroup(s)."""
    import time
    from pathlib import Path

    from populations.aligned import save_weighted_jsonl
    from populations.io import load_population_file
    from populations.subgroups import PersonaIndex, revise_toward

    if args.k < 1:
        raise UsageError(f"--k must be >= 1, got {args.k}")
    if args.generate is not None and args.generate < 1:
        raise UsageError(f"--generate must be >= 1, got {args.generate}")
    if any(not query.strip() for query in args.query):
        raise UsageError('--query is empty; describe the subgroup, e.g. --query "retired farmers"')
    encoder = None
    if args.encoder:
        from populations.encoder_training import load_encoder

        encoder = load_encoder(args.encoder)
    pop = load_population_file(args.population)
    if args.plan:
        from experiments.plan import GENERATION_TOKENS, Plan, print_plan

        n = min(args.k, len(pop)) * len(args.query) if args.revise else 0
        n += (args.generate or 0) * len(args.query)
        jobs = [
            j for j, on in (("persona revisions (--revise)", args.revise), ("generated personas", args.generate)) if on
        ]
        what = " and ".join(jobs) if jobs else "no LLM request (the index embeds locally)"
        return print_plan(
            Plan(
                "select",
                checks=[
                    f"population {args.population}: {len(pop)} personas",
                    f"{len(args.query)} query(ies), k = {args.k}",
                ],
                rows=[{"what": what, "est_requests": n, "est_tokens": n * GENERATION_TOKENS}],
            )
        )
    t0 = time.perf_counter()
    index = PersonaIndex.for_file(pop, args.population, encoder=encoder)
    print(
        f"index over {len(pop)} personas ready in {time.perf_counter() - t0:.2f} s "
        f"({'exact' if index.exact_ else f'IVF nprobe={index.nprobe_}, recall@{index.recall_k} {index.recall_:.3f}'})"
    )
    index.search("warm-up", 1)  # loads the encoder once so the timings below are per query
    out = Path(args.out)
    for n, query in enumerate(args.query, start=1):
        t = time.perf_counter()
        sub = index.select(query, args.k, min_score=args.min_score)
        ms = 1000 * (time.perf_counter() - t)
        if args.revise:
            sub = revise_toward(model_from_args_lazy(args), sub, query, forbid=args.forbid)
            rev = sub.metadata["revision"]
            print(f"{query!r}: {rev['revised']} revised, {len(rev['failures'])} revisions failed the checks")
        if args.generate is not None:
            from populations.group_generation import generate_for_group

            sub = generate_for_group(model_from_args_lazy(args), sub, query, args.generate, forbid=args.forbid)
            gen = sub.metadata["generation"]
            print(
                f"{query!r}: {gen['accepted']} of {gen['requested']} generated personas passed the checks"
                + ("" if gen["accepted"] else " (the retrieved personas are written instead)")
            )
        target = out if len(args.query) == 1 else out.with_name(f"{out.stem}-{n}{out.suffix}")
        save_weighted_jsonl(sub, target)
        print(
            f"{query!r}: {len(sub)} personas (best similarity {sub.metadata['subgroup']['scores'][0]:.3f}) "
            f"in {ms:.1f} ms -> {target}"
        )
    return 0


def model_from_args_lazy(args: argparse.Namespace):
    """The LLM, built once and only when ``--revise`` or ``--generate`` asks for it."""
    from experiments.common import model_from_args

    if getattr(args, "_select_model", None) is None:
        args._select_model = model_from_args(args)
    return args._select_model
