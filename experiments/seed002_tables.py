"""The paper-shaped outputs of ``populace experiment seed002``: subgroup rows, tables, the scatter plot and report.

Tables are written as CSV and Markdown (:func:`experiments.reporting.markdown_table`); ``results.json`` and
``report.md`` hold no timing, so the same seed and inputs give the same files (wall times go to ``timings.json``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from experiments.seed002_pipeline import VECTOR_COLUMNS, Humans, Responder
from experiments.seed002_study import Seed002Settings
from populace_lm.seeds import seed_int, seed_rng
from populations.response_matrix import PersonaVectors

__all__ = ["SUBGROUP_COLUMNS", "plot_traits", "subgroup_rows", "write_outputs", "write_table"]

SUBGROUP_COLUMNS = ["group", "query", "humans", "set", "n", "attr_match", "AMW", "FD", "SW", "MMD", "W1 exact"]
_SUBGROUP_METRICS = {"amw": "AMW", "frechet": "FD", "sliced_w": "SW", "mmd": "MMD"}


def write_table(out: Path, name: str, rows: list[dict], columns: list[str]) -> str:
    """``<name>.csv`` and ``<name>.md`` of some records; returns the Markdown."""
    import pandas as pd

    from experiments.reporting import markdown_table

    pd.DataFrame(rows, columns=columns).to_csv(out / f"{name}.csv", index=False)
    md = markdown_table(rows, columns) + "\n"
    (out / f"{name}.md").write_text(md)
    return md


def plot_traits(path: Path, s: Seed002Settings, humans: Humans, traits: np.ndarray, sets: dict) -> Path:
    """Two traits jointly: the test humans (grey, jittered) behind each construction's set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = seed_rng(s.seed, "plot")
    h = humans.test_traits
    hp = h[rng.choice(len(h), size=min(3000, len(h)), replace=False)]
    jitter = rng.normal(0, 0.04, hp.shape)
    show = [label for label, _ in s.methods]
    fig, axes = plt.subplots(1, len(show), figsize=(4 * len(show), 4), sharex=True, sharey=True, squeeze=False)
    for ax, label in zip(axes[0], show, strict=True):
        ax.scatter(hp[:, 0] + jitter[:, 0], hp[:, 1] + jitter[:, 1], s=3, alpha=0.15, color="grey", label="humans")
        pts = traits[sets[label]]
        ax.scatter(pts[:, 0], pts[:, 1], s=6, alpha=0.7, color="C3", label=label)
        ax.set_title(f"{label} (n={len(pts)})")
        ax.set_xlabel(f"{humans.dims[0]} (mean keyed answer)")
    axes[0][0].set_ylabel(f"{humans.dims[1]} (mean keyed answer)")
    axes[0][0].legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def _match(pool, sel: np.ndarray, attr: str, val: Any) -> float:
    """Share of retrieved personas whose recorded attribute (country, or age in ``val = (low, high)``) matches."""
    attrs = [pool[i].attributes.get(attr) for i in sel]
    if attr == "country":
        return float(np.mean([a == val for a in attrs]))
    ages = np.array([float(a) if isinstance(a, int | float) else np.nan for a in attrs])
    return float(np.mean((ages >= val[0]) & (ages <= val[1]))) if np.isfinite(ages).any() else float("nan")


def _scores(sim: np.ndarray, human: np.ndarray, seed: int) -> dict[str, float]:
    from alignment import score_table

    rows = score_table(sim, human, metrics=tuple(_SUBGROUP_METRICS), seed=seed)
    return {_SUBGROUP_METRICS[r["metric"]]: float(r["value"]) for r in rows if r["dimension"] is None}


def subgroup_rows(
    s: Seed002Settings,
    responder: Responder,
    pool,
    vectors: PersonaVectors,
    traits: np.ndarray,
    humans: Humans,
    sets: dict,
    ood_sets: dict,
) -> tuple[list[dict], dict]:
    """Subgroups by text retrieval over the whole pool, against the test humans of each group.

    Country and age groups score the retrieved personas, the global Resample set and the whole pool on the
    group's test humans (AMW, FD, SW, MMD); the WVS rows compare the exact mixture answer distribution of the
    retrieved personas and of the Raw out-of-domain sample with each country's humans (W1).

    Returns:
        ``(rows, index)``: the table rows and the retrieval index's statistics.
    """
    from alignment import mixture_pmf, pmf_from_samples, wasserstein_1d
    from populations.persona import Population
    from populations.responses import answer_distributions
    from populations.subgroups import NoMatchError, PersonaIndex
    from scenarios.registry import get_scenario

    whole = Population(personas=pool, weights=np.full(len(pool), 1.0 / len(pool)), construction="raw")
    t0 = time.perf_counter()
    index = PersonaIndex(whole, seed=seed_int(s.seed, "subgroup", "index"))
    index_seconds = time.perf_counter() - t0
    row_of = {p.id: i for i, p in enumerate(pool)}
    rows, query_ms = [], []

    def select(query: str) -> np.ndarray | None:
        t = time.perf_counter()
        try:
            sub = index.select(query, s.subgroup_k, min_score=s.min_score)
        except NoMatchError as exc:
            print(f"seed002: subgroup {query!r}: {exc}", flush=True)
            return None
        query_ms.append(1000 * (time.perf_counter() - t))
        return np.array([row_of[p.id] for p in sub.personas])

    country = humans.demographics["country"].to_numpy()
    age = humans.demographics["age"].to_numpy(dtype=float)
    groups = [(f"country {c}", q, country == c, "country", c) for c, q in s.country_queries]
    groups += [(f"age {g}", q, (age >= lo) & (age <= hi), "age", (lo, hi)) for g, q, lo, hi in s.age_queries]
    for gname, query, mask, attr, val in groups:
        if mask.sum() < s.min_humans or (sel := select(query)) is None:
            continue
        group_h = humans.test_traits[mask]
        if len(group_h) > s.eval_humans:
            group_h = group_h[seed_rng(s.seed, "subgroup", gname).choice(len(group_h), s.eval_humans, replace=False)]
        match = round(_match(pool, sel, attr, val), 3)
        for set_label, idx in (
            ("subgroup (retrieved)", vectors.rows_of(sel)),
            ("global Resample set", sets["Resample"]),
            ("global Raw pool", np.arange(traits.shape[0])),
        ):
            sc = _scores(traits[idx], group_h, seed_int(s.seed, "subgroup", gname, set_label))
            rows.append(
                {
                    "group": gname,
                    "query": query,
                    "humans": int(mask.sum()),
                    "set": set_label,
                    "n": int(idx.size),
                    "attr_match": match if set_label.startswith("subgroup") else "",
                    **sc,
                }
            )
    if s.wvs:
        glob = np.unique(vectors.persona_of(ood_sets["Raw"]))
        for c, query in s.wvs_queries:
            if (sel := select(query)) is None:
                continue
            wvs = get_scenario(f"{s.wvs_scenario}@{c}", source=s.data)  # never fitted on here: every respondent
            support = np.asarray(wvs.support, dtype=float)
            human = wvs.human_values("all", seed=s.seed)
            human_pmf = pmf_from_samples(human, support)
            for set_label, idx in (("subgroup (retrieved)", sel), ("global (Raw sample)", glob)):
                tensor = answer_distributions(responder.model, [pool[i] for i in idx], wvs.questions())
                pmf = mixture_pmf(np.full(len(idx), 1.0 / len(idx)), wvs.pmfs(tensor.probs))
                rows.append(
                    {
                        "group": f"WVS poverty {c}",
                        "query": query,
                        "humans": int(human.size),
                        "set": set_label,
                        "n": int(idx.size),
                        "attr_match": "",
                        "W1 exact": wasserstein_1d(support, support, u_weights=pmf, v_weights=human_pmf),
                        "pmf": [round(float(v), 3) for v in pmf],
                        "human_pmf": [round(float(v), 3) for v in human_pmf],
                    }
                )
    info = {
        "exact": index.exact_,
        "nprobe": index.nprobe_,
        "recall": round(index.recall_, 4),
        "recall_k": index.recall_k,
        "build_seconds": round(index_seconds, 2),
        "query_ms_median": round(float(np.median(query_ms)), 2) if query_ms else None,
    }
    return rows, info


def write_outputs(
    out: Path,
    s: Seed002Settings,
    *,
    pool,
    matrix,
    vectors: PersonaVectors,
    humans: Humans,
    builders: dict,
    tables: dict[str, list[dict]],
    index: dict,
    calls: int | None,
    seconds: float,
) -> dict[str, Any]:
    """Write the tables, ``results.json``, ``report.md`` and ``timings.json``; returns the results."""
    from experiments.common import write_json

    cols = ["set", "n", *VECTOR_COLUMNS]
    md_in = write_table(out, "table_in_domain", tables["in_domain"], cols)
    md_ood = write_table(out, "table_out_of_domain", tables["out_of_domain"], ["survey", *cols])
    md_sub = write_table(out, "subgroups", tables["subgroups"], SUBGROUP_COLUMNS)
    persona_sd, human_sd = vectors.values.std(axis=0), humans.test.std(axis=0)
    valid = float(matrix.valid_mass.mean())
    ess = float(1.0 / np.sum(builders["Resample"].weights_ ** 2))
    vec_kind = "expected answers" if s.expected else f"{s.draws} integer draw(s) per persona"
    results = {
        "settings": s.to_dict(),
        "n_pool": len(pool),
        "persona_vectors": vec_kind,
        "split": {"seed": s.seed, "n_fit_complete": len(humans.fit), "n_test_complete": len(humans.test)},
        "model_id": matrix.model_id,
        "response_matrix": {"scenario": matrix.scenario, "pool_digest": matrix.pool_digest},
        "in_domain": tables["in_domain"],
        "out_of_domain": tables["out_of_domain"],
        "subgroups": tables["subgroups"],
        "persona_sd_per_item": dict(zip(s.items, persona_sd.round(4).tolist(), strict=True)),
        "human_sd_per_item": dict(zip(s.items, human_sd.round(4).tolist(), strict=True)),
        "mean_valid_mass": round(valid, 6),
        "resample_effective_n": round(ess, 4),
        "index": {k: v for k, v in index.items() if k not in ("build_seconds", "query_ms_median")},
        "backend_calls_this_run": calls,
    }
    write_json(out / "results.json", results)
    write_json(
        out / "timings.json",
        {"seconds": round(seconds, 1), **{k: index[k] for k in ("build_seconds", "query_ms_median")}},
    )
    ood = ", ".join(f"{o.label} vs {o.scenario}" for o in s.out_of_domain)
    per_item = ", ".join(f"{i} {a:.2f}/{b:.2f}" for i, a, b in zip(s.items, persona_sd, human_sd, strict=True))
    report = f"""# seed002 — population-aligned persona sets

Study `{s.study.name}`, root seed {s.seed}. Pool: {len(pool)} personas ({", ".join(s.pools)}), shuffled.
Respondent model `{matrix.model_id}`. In-domain: {len(s.items)} items of `{s.scenario}` ({", ".join(s.items)});
humans split once with seed {s.seed} (fit half: {len(humans.fit)} complete cases = alignment target and the only
source of `big5_respondents` personas; test half: {len(humans.test)} = evaluation and subgroup targets). Metrics on
the per-trait mean keyed answer. Persona vectors: {vec_kind} from the model's exact answer pmfs (humans: their
actual answers). Each selected set has {s.n_select} personas; out-of-domain uses {s.ood_n} of each set. Every metric
is shown as `sampled` (n vectors of the set against the test humans, mean over {s.repeats} draws) beside `floor`
(n test humans against the remaining test humans: disjoint samples, the same for every set of the same n).

## In-domain ({s.scenario} test half)
{md_in}
## Out-of-domain ({ood}; keyed item answers)
{md_ood}
## Subgroups (retrieval over the whole pool, k={s.subgroup_k})
`attr_match` = fraction of retrieved personas whose recorded attribute (country / age) matches the group, where the
persona has one. WVS rows: `W1 exact` between the set's exact mixture answer distribution and the country's humans.

{md_sub}
## How far the embedded model's persona-following limits this
- Spread of persona answers: the standard deviation of the persona item answers (as used above) across the pool
  is on average {float(np.mean(persona_sd / human_sd)):.2f} x the human standard deviation (per item: {per_item}).
- Mean valid answer mass: {valid:.3f}. Effective number of personas under the Resample mass: {ess:.0f}.
- Resampling can only reweight the answers the model gives; when persona prompts barely move the answers, the
  selected set is a reweighting of nearly identical vectors, and the out-of-domain rows test whether the selection
  carries over to surveys it was not fitted on. Read the tables above for whether it did — no number here was tuned.
- Subgroup retrieval works on the persona texts only; subgroup fidelity additionally needs the model to answer
  differently for those personas, which the tiny model mostly does not.

Backend requests in this run (response-cache misses, worker processes included): {calls}. Wall time and index
timings: `timings.json`.
"""
    (out / "report.md").write_text(report)
    return results
