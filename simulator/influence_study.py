"""A social-influence study: fit on some human groups, simulate the held-out ones, score every source alike.

The human groups are split; classical models are fitted on the fit groups; the held-out groups are simulated with
LLM populations and classical models; every source is summarised with the same metrics.

Held-out groups are scored like with like: every simulated source starts from the held-out groups' own round-1
estimates (``start = "humans"``, the default) and runs rounds ``2..R`` under each group's condition, so the metrics
compare the *dynamics*; with ``start = "model"`` the LLM answers round 1 too. Seed streams (one root seed):

* ``("influence-split", scenario, condition)``: the fit/test permutation of each condition's groups;
* ``("influence-network", condition/item, g)``: the graph of group ``g`` (:mod:`simulator.influence_graph`);
* ``("influence-population", source, condition, item)`` and ``("influence-model", source, condition, item)``;
* ``("bootstrap", "influence", source, condition, metric)``: each CI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alignment.influence import ConditionSummary, InfluencePanel, influence_summary
from populace_lm.seeds import seed_int, seed_rng
from populations.persona import Population
from scenarios.influence import HumanRounds, InfluenceSpec
from simulator.decisions import DecisionService
from simulator.errors import SimulationError
from simulator.influence import InfluenceModel, InfluenceRun
from simulator.influence_graph import society_graph
from simulator.opinion_models import OpinionModel, fit_opinion_model, simulate_opinions

__all__ = [
    "InfluenceEffect",
    "SourcePanel",
    "classical_panel",
    "human_panel",
    "influence_whatif",
    "llm_panel",
    "split_groups",
    "summarise",
]


@dataclass(frozen=True, kw_only=True)
class SourcePanel:
    """One source's held-out panel with the references of its revision weights and what produced it.

    Attributes:
        panel: the estimates.
        references: ``(G, N, R)`` reference of each revision weight, or None (the group's geometric mean).
        params: fitted parameters per condition (classical models), or run facts (LLM: answer grid, prompts).
        runs: the LLM runs (one per condition and item), empty for other sources.
    """

    panel: InfluencePanel
    references: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)
    runs: tuple[InfluenceRun, ...] = ()


def split_groups(humans: HumanRounds, *, seed: int, name: str, fit_fraction: float = 0.5) -> np.ndarray:
    """Which groups are fit groups (the rest are held out), stratified by condition, shape ``(G,)`` bool.

    Raises:
        SimulationError: a fit fraction outside (0, 1) or a condition left without a fit or a test group.
    """
    if not 0.0 < fit_fraction < 1.0:
        raise SimulationError(f"fit_fraction must be in (0, 1), got {fit_fraction}")
    cond = np.asarray(humans.conditions)
    fit = np.zeros(cond.size, dtype=bool)
    for c in dict.fromkeys(humans.conditions):
        idx = np.flatnonzero(cond == c)
        k = int(round(fit_fraction * idx.size))
        if not 0 < k < idx.size:
            raise SimulationError(f"condition {c!r} has {idx.size} group(s): too few to split into fit and test")
        fit[seed_rng(seed, "influence-split", name, c).permutation(idx)[:k]] = True
    return fit


def human_panel(humans: HumanRounds, mask: np.ndarray | None = None, *, source: str = "humans") -> InfluencePanel:
    """The human groups (all, or those where ``mask`` is True) as a panel."""
    m = np.ones(len(humans.conditions), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    pick = np.flatnonzero(m)
    return InfluencePanel(
        estimates=humans.estimates[pick],
        conditions=tuple(humans.conditions[i] for i in pick),
        truth=humans.truth[pick],
        groups=tuple(humans.groups[i] for i in pick),
        source=source,
    )


def _complete(x: np.ndarray, what: str) -> None:
    if np.isnan(x).any():
        raise SimulationError(f"{what}: groups with missing members cannot be simulated; drop them from the data")


def classical_panel(
    kind: str, spec: InfluenceSpec, humans: HumanRounds, fit: np.ndarray, *, seed: int, start_mask: np.ndarray
) -> SourcePanel:
    """Fit ``kind`` per condition on the fit groups and run it from the held-out groups' round-1 estimates.

    Args:
        kind: a classical model (:data:`simulator.opinion_models.OPINION_MODELS`).
        spec: the scenario (rules, networks, rounds).
        humans: all human groups.
        fit: fit-group mask, shape ``(G,)``.
        seed: root seed (graphs of non-complete networks).
        start_mask: the held-out groups to simulate, shape ``(G,)``.
    """
    held = human_panel(humans, start_mask, source=kind)
    out = np.empty_like(held.estimates)
    refs = np.empty_like(held.estimates)
    params: dict[str, Any] = {}
    for c in held.condition_names():
        cond = spec.condition(c)
        fit_x = humans.estimates[fit & (np.asarray(humans.conditions) == c)]
        _complete(fit_x, f"{spec.name} condition {c}")
        model: OpinionModel = fit_opinion_model(kind, fit_x)
        params[c] = model.params()
        rows = np.flatnonzero(np.asarray(held.conditions) == c)
        x1 = held.estimates[rows, :, 0]
        _complete(x1, f"{spec.name} condition {c}")
        graph = society_graph(cond.network, n_groups=rows.size, group_size=x1.shape[1], seed=seed, name=c)
        est, ref = simulate_opinions(model, x1.reshape(-1), graph, cond.rule, held.rounds)
        out[rows] = est.reshape(rows.size, x1.shape[1], held.rounds)
        refs[rows] = ref.reshape(rows.size, x1.shape[1], held.rounds)
    panel = InfluencePanel(estimates=out, conditions=held.conditions, truth=held.truth, groups=held.groups,
                           source=kind)  # fmt: skip
    return SourcePanel(panel=panel, references=refs, params=params)


def llm_panel(
    spec: InfluenceSpec,
    humans: HumanRounds,
    test: np.ndarray,
    population: Population,
    service: DecisionService,
    *,
    source: str,
    seed: int,
    shown_digits: int | None = 3,
    start: str = "humans",
) -> SourcePanel:
    """Simulate the held-out groups with LLM agents of ``population``, one Mesa model per condition and item.

    Args:
        spec: the scenario.
        humans: all human groups.
        test: the groups to simulate, shape ``(G,)`` bool.
        population: who the agents are.
        service: the decision service (shares distributions across conditions and items).
        source: the construction's name.
        seed: root seed.
        shown_digits: significant figures of shown numbers.
        start: ``"humans"`` (round 1 = the humans' own, snapped to the answer grid) or ``"model"``.
    """
    if start not in ("humans", "model"):
        raise SimulationError(f"start must be 'humans' or 'model', got {start!r}")
    held = human_panel(humans, test, source=source)
    items = np.asarray([humans.items[i] for i in np.flatnonzero(test)])
    out = np.empty_like(held.estimates)
    refs = np.empty_like(held.estimates)
    runs = []
    for c in held.condition_names():
        cond = spec.condition(c)
        for item_id in dict.fromkeys(items.tolist()):
            rows = np.flatnonzero((np.asarray(held.conditions) == c) & (items == item_id))
            if rows.size == 0:
                continue
            item = spec.item(item_id)
            x1 = held.estimates[rows, :, 0]
            _complete(x1, f"{spec.name} condition {c} item {item_id}")
            n = x1.size
            graph = society_graph(cond.network, n_groups=rows.size, group_size=x1.shape[1], seed=seed,
                                  name=f"{c}/{item_id}")  # fmt: skip
            personas = population.sample(n, rng=seed_rng(seed, "influence-population", source, c, item_id))
            model = InfluenceModel(
                spec=spec,
                item=item,
                condition=c,
                graph=graph,
                population=population,
                persona_indices=personas,
                service=service,
                seed=seed_int(seed, "influence-model", source, c, item_id),
                rounds=held.rounds,
                shown_digits=shown_digits,
                initial=item.grid.nearest(x1.reshape(-1)) if start == "humans" else None,
            )
            while model.running:
                model.step()
            run = model.result(source=source)
            out[rows], refs[rows] = run.estimates, run.references
            runs.append(run)
    panel = InfluencePanel(estimates=out, conditions=held.conditions, truth=held.truth, groups=held.groups,
                           source=source)  # fmt: skip
    grids = sorted({r.answer_grid for r in runs})
    asked = [r.valid_mass[:, :, r.asked_from :] for r in runs]
    facts = {
        "answer_grid": "; ".join(grids),
        "start": start,
        "shown_digits": shown_digits,
        "parse_failure_rate": float(1.0 - np.mean(np.concatenate([a.reshape(-1) for a in asked]))) if runs else 0.0,
        "distinct_prompts": int(sum(sum(r.distinct_prompts) for r in runs)),
    }
    return SourcePanel(panel=panel, references=refs, params=facts, runs=tuple(runs))


def summarise(source: SourcePanel | InfluencePanel, *, seed: int, n_boot: int = 2000) -> list[ConditionSummary]:
    """Per-condition metrics with bootstrap CIs (stream ``("bootstrap", "influence", source, condition, metric)``)."""
    sp = source if isinstance(source, SourcePanel) else SourcePanel(panel=source)
    name = sp.panel.source
    return influence_summary(
        sp.panel,
        lambda cond, metric: seed_rng(seed, "bootstrap", "influence", name, cond, metric),
        references=sp.references,
        n_boot=n_boot,
    )


@dataclass(frozen=True, kw_only=True)
class InfluenceEffect:
    """A paired what-if between two arms (information rule and/or network) on the same agents and seeds.

    Attributes:
        outcome: ``"diversity_ratio"`` or ``"error_last"``.
        control: mean of the outcome over groups in the control arm.
        treated: the same in the treated arm.
        difference: mean over groups of (treated − control), each group paired with its control twin.
        ci_low: 2.5 % percentile bootstrap bound of the difference (groups resampled).
        ci_high: 97.5 % bound.
        groups: paired groups.
    """

    outcome: str
    control: float
    treated: float
    difference: float
    ci_low: float
    ci_high: float
    groups: int

    def row(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return dict(self.__dict__)


def influence_whatif(
    spec: InfluenceSpec,
    item: str,
    population: Population,
    service: DecisionService,
    *,
    control: tuple[str, str],
    treated: tuple[str, str],
    n_groups: int,
    seed: int,
    shown_digits: int | None = 3,
    n_boot: int = 2000,
) -> tuple[list[InfluenceEffect], dict[str, InfluenceRun]]:
    """Run two arms — ``(rule, network)`` each — on the same personas and model seeds; effects with paired CIs.

    Group ``g`` of both arms holds the same personas (stream ``("influence-population", "whatif", item)``) and is
    driven by the same model seed, so the difference isolates the rule or the network.

    Returns:
        The effects on ``diversity_ratio`` and ``error_last`` (truth-free items: NaN), and the two runs.
    """
    from alignment.influence import diversity_ratio, geometric_mean_error

    it = spec.item(item)
    n = n_groups * spec.group_size
    personas = population.sample(n, rng=seed_rng(seed, "influence-population", "whatif", it.id))
    runs: dict[str, InfluenceRun] = {}
    base = spec.conditions[0].name
    for arm, (rule, network) in (("control", control), ("treated", treated)):
        graph = society_graph(network, n_groups=n_groups, group_size=spec.group_size, seed=seed, name=f"whatif/{arm}")
        model = InfluenceModel(spec=spec, item=it, condition=base, graph=graph, population=population,
                               persona_indices=personas, service=service,
                               seed=seed_int(seed, "influence-model", "whatif", it.id), shown_digits=shown_digits,
                               rule=rule)  # fmt: skip
        while model.running:
            model.step()
        runs[arm] = model.result(source=f"{arm}: {rule} on {network}")
    effects = []
    truth = np.full(n_groups, it.truth)
    for outcome in ("diversity_ratio", "error_last"):
        vals = {}
        for arm, run in runs.items():
            vals[arm] = diversity_ratio(run.estimates) if outcome == "diversity_ratio" else (
                geometric_mean_error(run.estimates, truth)[:, -1])  # fmt: skip
        d = vals["treated"] - vals["control"]
        ok = np.isfinite(d)
        rng = seed_rng(seed, "bootstrap", "influence-whatif", it.id, outcome)
        if ok.any():
            boots = d[ok][rng.integers(0, ok.sum(), size=(n_boot, ok.sum()))].mean(axis=1)
            lo, hi = float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))
        else:
            lo = hi = float("nan")
        effects.append(InfluenceEffect(outcome=outcome, control=float(np.nanmean(vals["control"])),
                                       treated=float(np.nanmean(vals["treated"])),
                                       difference=float(d[ok].mean()) if ok.any() else float("nan"),
                                       ci_low=lo, ci_high=hi, groups=int(ok.sum())))  # fmt: skip
    return effects, runs
