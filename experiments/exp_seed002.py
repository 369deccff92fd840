"""``populace experiment seed002``: population-aligned persona sets, in the shape of the paper's Tables 1–2.

"Population-Aligned Persona Generation for LLM-based Social Simulation": a persona pool answers a questionnaire
as each persona; the pool is resampled (KDE importance sampling + optimal transport) so the set's answers match
human response vectors; the set is then evaluated in-domain (IPIP items vs the held-out half of ``big5_osp``)
and out-of-domain (CFCS vs ``osp_cfcs``, Grit vs ``osp_grit``), and narrowed to subgroups by text retrieval.

Rows: each public pool on its own, Raw (the whole combined pool), RandomSelect, Resample, IS-only, OT-only.
Columns: AMW, FD, SW, MMD, MAE-corr (see :mod:`alignment.metrics`), each as ``<metric> sampled`` (n vectors drawn
from the set, mean over ``--repeats`` draws) beside ``<metric> floor`` (n test humans against the *remaining* test
humans — disjoint samples, :func:`populations.evaluation.score_vectors`).

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
item plus the re-evaluated part of a 32-token block, see :meth:`populace_lm.local.LocalLlama._segments`). The embedded
model runs dequantised F32 weights (:mod:`populace_lm.convert`, ~1.7x the Q4_1 speed on AVX2), and the
defaults run ``--workers 2`` processes with one llama.cpp thread each, asking 10 IPIP items (two per trait, one
of each keying) of 2,000 personas (~20k forward passes) and 6 CFCS + 6 Grit items of ``--ood-n`` personas per
construction. All answers go through the response cache and the response matrices are stored as Parquet: a
rerun makes no backend call.

Outputs in ``--out``: ``pool_raw.jsonl`` and ``aligned_resample.jsonl`` (weighted-persona JSONL for
``populace select``), ``table_in_domain.csv|md``, ``table_out_of_domain.csv|md``, ``subgroups.csv|md``,
``trait_scatter.png``, ``results.json``, ``report.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DEFAULT_POOLS = "personahub:800,synthetic_persona_chat:300,gss_narrative:300,big5_respondents:600"
DEFAULT_ITEMS = "E1,E2,N1,N2,A1,A2,C1,C2,O1,O2"
DEFAULT_CFCS = "Q1,Q2,Q6,Q3,Q4,Q5"
DEFAULT_GRIT = "GS1,GS4,GS6,GS2,GS3,GS5"
METRICS = ("amw", "frechet", "sliced_w", "mmd", "corr_mae")
METRIC_LABELS = {"amw": "AMW", "frechet": "FD", "sliced_w": "SW", "mmd": "MMD", "corr_mae": "MAE-corr"}
METHODS = (
    ("Raw", "raw"),
    ("RandomSelect", "random"),
    ("Resample", "resample"),
    ("IS-only", "is_only"),
    ("OT-only", "ot_only"),
)
COUNTRY_QUERIES = {
    "US": "a person living in the United States",
    "IN": "a person living in India",
    "GB": "a person living in the United Kingdom",
    "PH": "a person living in the Philippines",
}
AGE_QUERIES = {"teen (13-19)": ("a teenager in high school", 13, 19), "50+": ("a person over fifty years old", 50, 120)}
WVS_QUERIES = {
    "Australia": "an adult living in Australia",
    "Norway": "an adult living in Norway",
    "Sweden": "an adult living in Sweden",
    "USA": "an adult living in the United States",
}


PROFILES = {
    "fast": {"n_select": 200, "method": "resample"},
    "paper": {"n_select": 5000, "method": "resample"},
}


def _parser() -> argparse.ArgumentParser:
    from experiments.cmd_align import DEFAULT_MATRIX_DIR
    from experiments.common import add_data_args, add_model_args

    p = argparse.ArgumentParser(
        prog="populace experiment seed002", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", default=None, help="output folder (required unless --plan)")
    p.add_argument(
        "--pools", default=DEFAULT_POOLS, help=f"comma-separated NAME[:COUNT] pool specs (default {DEFAULT_POOLS})"
    )
    p.add_argument("--n-pool", type=int, default=None, help="use the first N of the shuffled combined pool")
    p.add_argument("--items", default=DEFAULT_ITEMS, help=f"IPIP items asked (default {DEFAULT_ITEMS})")
    p.add_argument(
        "--profile", default="fast", help="fast (200-persona sets) or paper (5,000-persona sets, IS then OT)"
    )
    p.add_argument("--n-select", type=int, default=None, help="size of each selected set (default: the profile's)")
    p.add_argument("--draws", type=int, default=1, help="integer answer vectors drawn per persona (default 1)")
    p.add_argument(
        "--expected", action="store_true", help="use expected answers instead of integer draws (labelled variant)"
    )
    p.add_argument("--item-weights", default=None, help="comma-separated OT item weights, one per --items entry")
    p.add_argument("--repeats", type=int, default=5, help="draws of each sampled score and of the floor")
    p.add_argument("--plan", action="store_true", help="print settings and a request estimate; run nothing")
    p.add_argument("--ood-n", type=int, default=100, help="personas per construction asked the CFCS/Grit items")
    p.add_argument("--cfcs-items", default=DEFAULT_CFCS)
    p.add_argument("--grit-items", default=DEFAULT_GRIT)
    p.add_argument("--subgroup-k", type=int, default=50, help="personas retrieved per subgroup query")
    p.add_argument(
        "--eval-humans",
        type=int,
        default=3000,
        help="random human subsample used by the metrics (MMD is quadratic; default 3000)",
    )
    p.add_argument("--no-wvs", action="store_true", help="skip the WVS poverty subgroup check (LLM calls)")
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        help="processes answering in parallel through the shared cache (local backend; default 2 = 2 cores)",
    )
    p.add_argument("--matrix-dir", default=str(DEFAULT_MATRIX_DIR), help="where response matrices are stored")
    add_model_args(p)
    add_data_args(p)
    return p


def _model(args):
    """The cache-wrapped model of :func:`experiments.common.model_from_args`, budget and accounting included.

    ``--threads`` sets llama.cpp's threads for the local backend (also in the worker processes).
    """
    from experiments.common import model_from_args

    return model_from_args(args)


def _questions(scenario: str, item_ids: list[str], source) -> list:
    """The questions of some items of a registry scenario (``get_scenario``), in ``item_ids`` order."""
    from scenarios.registry import get_scenario

    by_id = {q.id: q for q in get_scenario(scenario, source=source).questions()}
    return [by_id[i] for i in item_ids]


def _prefetch_worker(args, kind: str, item_ids: list[str], personas, position: int) -> int:
    """Answer a block of personas through the shared response cache (runs in a worker process).

    ``kind`` is the registry name of the survey (``bigfive``, ``osp_cfcs``, ``osp_grit``).

    Returns:
        the worker's backend requests (response-cache misses).
    """
    import copy

    from populations.responses import answer_distributions

    questions = _questions(kind, item_ids, args.data)
    wargs = copy.copy(args)
    wargs.threads = args.threads or 1  # one llama.cpp thread per worker process
    model = _model(wargs)
    done = 0
    for lo in range(0, len(personas), 25):
        answer_distributions(model, personas[lo : lo + 25], questions)
        done += len(personas[lo : lo + 25])
        print(f"seed002: worker {position}: {kind} {done}/{len(personas)} personas", flush=True)
    return int(model.stats()["misses"]) if hasattr(model, "stats") else 0


def _prefetch(args, kind: str, item_ids: list[str], personas, matrix_file: Path) -> int:
    """With ``--workers N > 1`` and no stored matrix: N processes fill the response cache in parallel.

    Each worker takes a contiguous block (so the persona prefix is reused) and writes to the same SQLite cache;
    the response matrix is then assembled from cache hits by the main process.

    Returns:
        backend requests made by the workers (0 when nothing ran).
    """
    if args.workers <= 1 or matrix_file.is_file() or len(personas) < 2 * args.workers:
        return 0
    import concurrent.futures as cf
    import multiprocessing as mp

    blocks = np.array_split(np.arange(len(personas)), args.workers)
    with cf.ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn")) as ex:
        futs = [
            ex.submit(_prefetch_worker, args, kind, item_ids, tuple(personas[i] for i in b), w)
            for w, b in enumerate(blocks)
        ]
        return sum(f.result() for f in futs)


def _split(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def _keyed(survey, item_ids, answers: np.ndarray) -> np.ndarray:
    """Keyed answers (reverse items flipped), shape preserved ``(n, Q)``."""
    return np.column_stack([survey.keyed(survey.item(i), answers[:, j]) for j, i in enumerate(item_ids)])


def _trait_means(survey, item_ids, answers: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Mean keyed answer per trait over the included items, shape ``(n, n_traits)``."""
    k = _keyed(survey, item_ids, answers)
    dims = [d for d in survey.dimensions if any(survey.item(i).dimension == d for i in item_ids)]
    cols = [[j for j, i in enumerate(item_ids) if survey.item(i).dimension == d] for d in dims]
    return dims, np.column_stack([k[:, c].mean(axis=1) for c in cols])


def _scores(sim: np.ndarray, human: np.ndarray, seed: int, weights=None) -> dict[str, float]:
    from alignment import score_table

    rows = score_table(sim, human, metrics=METRICS, simulated_weights=weights, seed=seed)
    return {r["metric"]: float(r["value"]) for r in rows if r["dimension"] is None}


def _md_table(rows: list[dict], columns: list[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = ""
    for r in rows:
        cells = [f"{r[c]:.4f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in columns]
        body += "| " + " | ".join(cells) + " |\n"
    return head + body


def _write_table(out: Path, name: str, rows: list[dict], columns: list[str]) -> str:
    import pandas as pd

    pd.DataFrame(rows, columns=columns).to_csv(out / f"{name}.csv", index=False)
    md = _md_table(rows, columns)
    (out / f"{name}.md").write_text(md)
    return md


METRIC_COLUMNS = [f"{METRIC_LABELS[m]} {kind}" for m in METRICS for kind in ("sampled", "floor")]


def _flat(scores: dict) -> dict[str, float]:
    """Table columns of :func:`populations.evaluation.score_vectors`: ``<metric> sampled`` beside ``<metric> floor``."""
    out = {}
    for m in METRICS:
        out[f"{METRIC_LABELS[m]} sampled"] = round(scores[m]["sampled_mean"], 6)
        out[f"{METRIC_LABELS[m]} floor"] = round(scores[m]["floor_mean"], 6)
    return out


def persona_vectors(matrix, rng: np.random.Generator, *, draws: int = 1, expected: bool = False) -> np.ndarray:
    """Persona response vectors: seeded integer draws from the exact item pmfs, stacked draw-major.

    Args:
        matrix: a :class:`~populations.response_matrix.ResponseMatrix` of K personas and Q items.
        rng: generator of the draws.
        draws: R vectors per persona.
        expected: the labelled expected-value variant instead (one row per persona, real numbers).

    Returns:
        shape ``(R*K, Q)``; row ``r*K + k`` is persona ``k``'s draw ``r`` (``(K, Q)`` when ``expected``).
    """
    if expected:
        return np.asarray(matrix.expected, dtype=float)
    a = matrix.draw_answers(rng, draws)  # (R, K, Q)
    return a.reshape(-1, a.shape[2])


def seed002_pool(specs: list[str], *, source, fit_rows: np.ndarray, seed: int):
    """The combined pool; ``big5_respondents`` personas come only from fit-half respondents (``fit_rows``).

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


def _item_weights(text: str | None, items: list[str]) -> list[float] | None:
    if text is None:
        return None
    try:
        w = [float(v) for v in _split(text)]
    except ValueError as exc:
        raise ValueError(f"--item-weights {text!r}: not comma-separated numbers") from exc
    if len(w) != len(items) or any(v < 0 for v in w) or sum(w) <= 0:
        raise ValueError(f"--item-weights needs {len(items)} non-negative numbers (one per --items entry), got {w}")
    return w


def plan_text(args, items: list[str], n_select: int) -> str:
    """Settings table and request estimate (no model load): one request per (persona, item)."""
    from populations.pool_builders import parse_pool_spec

    n_pool = sum(parse_pool_spec(s)[1] or 0 for s in _split(args.pools))
    if args.n_pool is not None:
        n_pool = min(n_pool, args.n_pool)
    n_ood = len(METHODS) * min(args.ood_n, n_select)
    ood_items = len(_split(args.cfcs_items)) + len(_split(args.grit_items))
    wvs = 0 if args.no_wvs else len(WVS_QUERIES) * (args.subgroup_k + args.ood_n)
    reqs = n_pool * len(items) + n_ood * ood_items + wvs
    tokens = n_pool * 360 + n_ood * ood_items * 40 + wvs * 90
    rows = [
        ("profile", args.profile, ""),
        ("persona set size", str(n_select), "5000"),
        ("alignment", "IS then OT (Resample)", "IS then OT"),
        ("item weights", args.item_weights or "uniform", "exposed (--item-weights)"),
        ("pool", f"{args.pools} ({n_pool} personas)", "the paper's pool"),
        ("IPIP items", ", ".join(items), "all 50"),
        (
            "persona vectors",
            "expected answers (labelled variant)" if args.expected else f"{args.draws} integer draw(s)",
            "",
        ),
        ("humans", "one seeded split: fit half aligns, test half scores", ""),
        ("metric repeats", str(args.repeats), ""),
    ]
    lines = ["| setting | this run | paper |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines.append(
        f"\nEstimate: at most {reqs} LLM requests (one per persona and item; cached answers are free) and about "
        f"{tokens} prompt tokens."
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:  # noqa: C901 — one linear script of the experiment's steps
    """Run the experiment; returns 0."""
    args = _parser().parse_args(argv)
    from alignment import mixture_pmf, pmf_from_samples, wasserstein_1d
    from experiments.cmd_align import align_target
    from experiments.common import write_json
    from populations.aligned import AlignedPersonaBuilder
    from populations.evaluation import score_vectors
    from populations.persona import Population
    from populations.pool_builders import shuffled
    from populations.response_matrix import compute_response_matrix, matrix_path, pool_digest, scenario_key
    from populations.responses import answer_distributions
    from populations.subgroups import NoMatchError, PersonaIndex
    from scenarios.big5 import load_big5
    from scenarios.registry import get_scenario
    from scenarios.split import split_indices

    t_start = time.perf_counter()
    if args.profile not in PROFILES:
        raise ValueError(f"unknown profile {args.profile!r}; profiles: {sorted(PROFILES)}")
    if args.draws < 1 or args.repeats < 1:
        raise ValueError(f"--draws and --repeats must be >= 1, got {args.draws} and {args.repeats}")
    n_select = args.n_select if args.n_select is not None else PROFILES[args.profile]["n_select"]
    items = _split(args.items)
    item_weights = _item_weights(args.item_weights, items)
    if args.plan:
        print(plan_text(args, items, n_select))
        return 0
    if not args.out:
        raise ValueError("--out is required (or pass --plan to print the plan only)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = np.random.SeedSequence(args.seed)
    ss_draws, ss_fit, ss_ood, ss_plot, ss_eval = root.spawn(5)

    # ---- humans: the one split; pool (fit-half respondents only), response matrix -------------------------
    target = align_target("bigfive", args.data, items)  # the IPIP-50 items of the one registry (ScenarioError)
    survey = target.survey
    rows = target.scenario.rows(args.data)
    fit_rows, test_rows = split_indices(rows.n, seed=args.seed)
    pool = shuffled(seed002_pool(_split(args.pools), source=args.data, fit_rows=fit_rows, seed=args.seed), args.seed)
    if args.n_pool is not None:
        if args.n_pool > len(pool):
            raise ValueError(f"--n-pool {args.n_pool} exceeds the combined pool's {len(pool)} personas")
        pool = pool[: args.n_pool]
    if n_select > len(pool) * args.draws:
        raise ValueError(f"the pool has {len(pool)} personas, fewer than the set size {n_select}; lower --n-select")
    human_all = rows.answers[:, [rows.columns.index(i) for i in items]]
    complete = ~np.isnan(human_all).any(axis=1)
    fit_keep = fit_rows[complete[fit_rows]]
    test_keep = test_rows[complete[test_rows]]
    h_train = human_all[fit_keep]  # the alignment target: fit half only
    h_test = human_all[test_keep]  # evaluation and subgroup targets: test half only
    # Cleaned age and country of the same respondents (birth years recoded, junk set missing): the scenario's
    # rows carry these columns as written in the file.
    big5 = load_big5(args.data)
    if big5.n != rows.n:
        raise ValueError(f"big5_osp: {big5.n} cleaned respondents but the bigfive scenario reads {rows.n} rows")
    demo_test = big5.demographics.iloc[test_keep].reset_index(drop=True)
    rng_eval = np.random.default_rng(ss_eval)
    eval_rows = (
        np.sort(rng_eval.choice(len(h_test), size=args.eval_humans, replace=False))
        if len(h_test) > args.eval_humans
        else np.arange(len(h_test))
    )

    model = _model(args)
    calls_before = model.stats()["misses"] if hasattr(model, "stats") else 0
    worker_calls = 0
    print(f"seed002: pool of {len(pool)} personas x {len(items)} IPIP items ({args.pools})", flush=True)
    worker_calls += _prefetch(
        args,
        "bigfive",
        items,
        pool,
        matrix_path(args.matrix_dir, pool_digest(pool), model.model_id, scenario_key(survey, items)),
    )
    matrix = compute_response_matrix(model, pool, survey, cache_dir=args.matrix_dir, item_ids=items)
    R, K = args.draws, len(pool)
    x = persona_vectors(matrix, np.random.default_rng(ss_draws), draws=R, expected=args.expected)  # (R*K, Q)
    personas_rows = tuple(pool) * (1 if args.expected else R)
    R = 1 if args.expected else R
    dims, x_traits = _trait_means(survey, items, x)
    _, h_test_traits = _trait_means(survey, items, h_test)
    h_eval_traits = h_test_traits[eval_rows]

    # ---- constructions (aligned to the fit half only) -----------------------------------------------------
    sets: dict[str, np.ndarray] = {}
    pools_of = np.tile(np.array([p.attributes.get("pool", "?") for p in pool]), R)
    for name in dict.fromkeys(pools_of):
        sets[f"pool: {name}"] = np.flatnonzero(pools_of == name)
    builders = {}
    fit_seed = int(ss_fit.generate_state(1)[0])
    for label, method in METHODS:
        b = AlignedPersonaBuilder(
            method, n_select=None if method == "raw" else n_select, item_weights=item_weights, random_state=fit_seed
        )
        b.fit_vectors(x, h_train, personas=personas_rows)
        builders[label] = b
        sets[label] = b.selected_

    from populations.aligned import save_weighted_jsonl

    for label, fname in (("Raw", "pool_raw.jsonl"), ("Resample", "aligned_resample.jsonl")):
        save_weighted_jsonl(builders[label].population_, out / fname)  # inputs for `populace select`

    # ---- in-domain table: sampled beside the floor (disjoint test humans) --------------------------------
    rows_in = []
    for label, idx in sets.items():
        n = min(idx.size, len(h_eval_traits) - 1)
        sc = score_vectors(x_traits[idx], h_eval_traits, n=n, repeats=args.repeats, rng=rng_eval)
        rows_in.append({"set": label, "n": int(n), **_flat(sc)})
    cols_md = ["set", "n", *METRIC_COLUMNS]
    md_in = _write_table(out, "table_in_domain", rows_in, cols_md)
    print(f"seed002: in-domain table -> {out / 'table_in_domain.md'}", flush=True)

    # ---- out-of-domain: CFCS and Grit (their own humans, never sampled from the scored set) ---------------
    rng_ood = np.random.default_rng(ss_ood)
    ood_sets = {}
    for label, _ in METHODS:
        idx = sets[label]
        ood_sets[label] = idx if idx.size <= args.ood_n else rng_ood.choice(idx, size=args.ood_n, replace=False)
    union = np.unique(np.concatenate([i % K for i in ood_sets.values()]))
    ood_personas = tuple(pool[i] for i in union)
    pos = {int(i): j for j, i in enumerate(union)}
    U = len(union)
    rows_ood = []
    for name, scenario_name, item_str in (("CFCS", "osp_cfcs", args.cfcs_items), ("Grit", "osp_grit", args.grit_items)):
        # score on the test half of these humans too (the one split over the scenario's rows)
        ood = align_target(scenario_name, args.data, _split(item_str), split="test", seed=args.seed)
        s, ids = ood.survey, list(ood.item_ids)
        hum_test = _keyed(s, ids, ood.human)
        if len(hum_test) > args.eval_humans:
            hum_test = hum_test[rng_ood.choice(len(hum_test), size=args.eval_humans, replace=False)]
        print(f"seed002: {name} ({len(ids)} items) for {len(ood_personas)} personas", flush=True)
        worker_calls += _prefetch(
            args,
            scenario_name,
            ids,
            ood_personas,
            matrix_path(args.matrix_dir, pool_digest(ood_personas), model.model_id, scenario_key(s, ids)),
        )
        m = compute_response_matrix(model, ood_personas, s, cache_dir=args.matrix_dir, item_ids=ids)
        sim = _keyed(s, ids, persona_vectors(m, rng_ood, draws=R, expected=args.expected))  # (R*U, Q')
        for label, idx in ood_sets.items():
            rows = np.array([(int(i) // K) * U + pos[int(i) % K] for i in idx])
            n = min(rows.size, len(hum_test) - 1)
            sc = score_vectors(sim[rows], hum_test, n=n, repeats=args.repeats, rng=rng_ood)
            rows_ood.append({"survey": name, "set": label, "n": int(n), **_flat(sc)})
    md_ood = _write_table(out, "table_out_of_domain", rows_ood, ["survey", *cols_md])
    print(f"seed002: out-of-domain table -> {out / 'table_out_of_domain.md'}", flush=True)

    # ---- plots: two traits jointly ---------------------------------------------------------------------
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng_plot = np.random.default_rng(ss_plot)
    hp = h_test_traits[rng_plot.choice(len(h_test_traits), size=min(3000, len(h_test_traits)), replace=False)]
    jitter = rng_plot.normal(0, 0.04, hp.shape)
    show = ["Raw", "RandomSelect", "Resample", "IS-only", "OT-only"]
    fig, axes = plt.subplots(1, len(show), figsize=(4 * len(show), 4), sharex=True, sharey=True)
    for ax, label in zip(axes, show, strict=True):
        ax.scatter(hp[:, 0] + jitter[:, 0], hp[:, 1] + jitter[:, 1], s=3, alpha=0.15, color="grey", label="humans")
        pts = x_traits[sets[label]]
        ax.scatter(pts[:, 0], pts[:, 1], s=6, alpha=0.7, color="C3", label=label)
        ax.set_title(f"{label} (n={len(pts)})")
        ax.set_xlabel(f"{dims[0]} (mean keyed answer)")
    axes[0].set_ylabel(f"{dims[1]} (mean keyed answer)")
    axes[0].legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "trait_scatter.png", dpi=110)
    plt.close(fig)

    # ---- subgroups -----------------------------------------------------------------------------------
    whole = Population(personas=pool, weights=np.full(len(pool), 1.0 / len(pool)), construction="raw")
    t_idx = time.perf_counter()
    index = PersonaIndex(whole)
    index_seconds = time.perf_counter() - t_idx
    row_of = {p.id: i for i, p in enumerate(pool)}
    resample_idx = sets["Resample"]

    def rows_of(persona_idx: np.ndarray) -> np.ndarray:
        """Every draw's row of these personas in the stacked vectors, shape ``(R * len,)``."""
        return (np.asarray(persona_idx)[None, :] + K * np.arange(R)[:, None]).ravel()

    rows_sub = []
    query_ms = []

    def select(query: str):
        t = time.perf_counter()
        try:
            sub = index.select(query, args.subgroup_k, min_score=0.2)
        except NoMatchError as exc:
            print(f"seed002: subgroup {query!r}: {exc}", flush=True)
            return None
        query_ms.append(1000 * (time.perf_counter() - t))
        return np.array([row_of[p.id] for p in sub.personas])

    country = demo_test["country"].to_numpy()
    age = demo_test["age"].to_numpy(dtype=float)
    groups = [(f"country {c}", q, country == c, "country", c) for c, q in COUNTRY_QUERIES.items()]
    groups += [(f"age {g}", q, (age >= lo) & (age <= hi), "age", (lo, hi)) for g, (q, lo, hi) in AGE_QUERIES.items()]
    for gname, query, mask, attr, val in groups:
        if mask.sum() < 30:
            continue
        sel = select(query)
        if sel is None:
            continue
        group_h = h_test_traits[mask]
        if len(group_h) > args.eval_humans:
            group_h = group_h[rng_plot.choice(len(group_h), size=args.eval_humans, replace=False)]
        attrs = [pool[i].attributes.get(attr) for i in sel]  # sel: persona indices
        if attr == "country":
            match = np.mean([a == val for a in attrs])
        else:
            ages = np.array([float(a) if isinstance(a, int | float) else np.nan for a in attrs])
            match = float(np.mean((ages >= val[0]) & (ages <= val[1]))) if np.isfinite(ages).any() else float("nan")
        for set_label, idx in (
            ("subgroup (retrieved)", rows_of(sel)),
            ("global Resample set", resample_idx),
            ("global Raw pool", np.arange(x_traits.shape[0])),
        ):
            sc = _scores(x_traits[idx], group_h, args.seed)
            rows_sub.append(
                {
                    "group": gname,
                    "query": query,
                    "humans": int(mask.sum()),
                    "set": set_label,
                    "n": int(idx.size),
                    "attr_match": round(float(match), 3) if set_label.startswith("subgroup") else "",
                    "AMW": sc["amw"],
                    "FD": sc["frechet"],
                    "SW": sc["sliced_w"],
                    "MMD": sc["mmd"],
                }
            )
    if not args.no_wvs:
        glob = np.unique(ood_sets["Raw"] % K)
        for c, query in WVS_QUERIES.items():
            sel = select(query)
            if sel is None:
                continue
            wvs = get_scenario(f"wvs_poverty@{c}", source=args.data)  # never fitted on here: every respondent
            support = np.asarray(wvs.support, dtype=float)
            human = wvs.human_values("all", seed=args.seed)
            human_pmf = pmf_from_samples(human, support)
            for set_label, idx in (("subgroup (retrieved)", sel), ("global (Raw sample)", glob)):
                tensor = answer_distributions(model, [pool[i] for i in idx], wvs.questions())
                pmf = mixture_pmf(np.full(len(idx), 1.0 / len(idx)), wvs.pmfs(tensor.probs))
                w1 = wasserstein_1d(support, support, u_weights=pmf, v_weights=human_pmf)
                rows_sub.append(
                    {
                        "group": f"WVS poverty {c}",
                        "query": query,
                        "humans": int(human.size),
                        "set": set_label,
                        "n": int(idx.size),
                        "attr_match": "",
                        "W1 exact": w1,
                        "AMW": "",
                        "FD": "",
                        "SW": "",
                        "MMD": "",
                        "pmf": [round(float(v), 3) for v in pmf],
                        "human_pmf": [round(float(v), 3) for v in human_pmf],
                    }
                )
    md_sub = _write_table(
        out,
        "subgroups",
        rows_sub,
        ["group", "query", "humans", "set", "n", "attr_match", "AMW", "FD", "SW", "MMD", "W1 exact"],
    )
    print(f"seed002: subgroups -> {out / 'subgroups.md'}", flush=True)

    # ---- persona-following diagnostics and report -------------------------------------------------------
    calls = worker_calls + (model.stats()["misses"] - calls_before) if hasattr(model, "stats") else None
    persona_sd = x.std(axis=0)
    human_sd = h_test.std(axis=0)
    valid = float(matrix.valid_mass.mean())
    b_res = builders["Resample"]
    ess = float(1.0 / np.sum(b_res.weights_**2))
    results = {
        "pools": args.pools,
        "n_pool": len(pool),
        "items": items,
        "n_select": n_select,
        "profile": args.profile,
        "persona_vectors": "expected answers" if args.expected else f"{R} integer draw(s) per persona",
        "item_weights": item_weights,
        "split": {"seed": args.seed, "n_fit_complete": len(h_train), "n_test_complete": len(h_test)},
        "ood_n": args.ood_n,
        "model_id": matrix.model_id,
        "response_matrix": {"scenario": matrix.scenario, "pool_digest": matrix.pool_digest},
        "in_domain": rows_in,
        "out_of_domain": rows_ood,
        "subgroups": rows_sub,
        "persona_sd_per_item": dict(zip(items, persona_sd.round(4).tolist(), strict=True)),
        "human_sd_per_item": dict(zip(items, human_sd.round(4).tolist(), strict=True)),
        "mean_valid_mass": valid,
        "resample_effective_n": ess,
        "index": {
            "build_seconds": round(index_seconds, 2),
            "exact": index.exact_,
            "nprobe": index.nprobe_,
            "recall": round(index.recall_, 4),
            "recall_k": index.recall_k,
            "query_ms_median": round(float(np.median(query_ms)), 2) if query_ms else None,
        },
        "backend_calls_this_run": calls,
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    write_json(out / "results.json", results)
    ratio = float(np.mean(persona_sd / human_sd))
    report = f"""# seed002 — population-aligned persona sets

Pool: {len(pool)} personas ({args.pools}), shuffled with seed {args.seed}. Respondent model `{matrix.model_id}`.
In-domain: {len(items)} IPIP items ({", ".join(items)}); humans = `big5_osp` rows split once with seed {args.seed}
(fit half: {len(h_train)} complete cases = alignment target and the only source of `big5_respondents` personas;
test half: {len(h_test)} = evaluation and subgroup targets). Metrics on the per-trait mean keyed answer.
Persona vectors: {results["persona_vectors"]} from the model's exact answer pmfs (humans: their actual answers).
Each selected set has {n_select} personas; out-of-domain uses {args.ood_n} of each set. Every metric is shown as
`sampled` (n vectors of the set against the test humans, mean over {args.repeats} draws) beside `floor` (n test
humans against the remaining test humans: disjoint samples).

## In-domain (IPIP vs big5_osp test half)
{md_in}
## Out-of-domain (CFCS vs osp_cfcs, Grit vs osp_grit; keyed item answers)
{md_ood}
## Subgroups (retrieval over the whole pool, k={args.subgroup_k})
`attr_match` = fraction of retrieved personas whose recorded attribute (country / age) matches the group, where the
persona has one. WVS rows: `W1 exact` between the set's exact mixture answer distribution and the country's humans.

{md_sub}
## How far the embedded model's persona-following limits this
- Spread of persona answers: the standard deviation of the persona item answers (as used above) across the pool
  is on average {ratio:.2f} x the human standard deviation (per item: {
        ", ".join(f"{i} {a:.2f}/{b:.2f}" for i, a, b in zip(items, persona_sd, human_sd, strict=True))
    }).
- Mean valid answer mass: {valid:.3f}. Effective number of personas under the Resample mass: {ess:.0f}.
- Resampling can only reweight the answers the model gives; when persona prompts barely move the answers, the
  selected set is a reweighting of nearly identical vectors, and the out-of-domain rows test whether the selection
  carries over to surveys it was not fitted on. Read the tables above for whether it did — no number here was tuned.
- Subgroup retrieval works on the persona texts only; subgroup fidelity additionally needs the model to answer
  differently for those personas, which the tiny model mostly does not.

Backend requests in this run (response-cache misses, worker processes included): {calls}. Wall time: {
        results["seconds"]
    } s. Index build {index_seconds:.1f} s;
median query {results["index"]["query_ms_median"]} ms.
"""
    (out / "report.md").write_text(report)
    print(f"seed002: done in {results['seconds']} s, {calls} backend calls -> {out}", flush=True)
    return 0
