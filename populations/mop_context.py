r"""The context-gated fit of :class:`~populations.mop.MixtureOfPersonasBuilder` (``gate="context"``, [1] §3).

On a scenario of D items (its dimensions, each a one-dimensional scenario), each of the ``n_personas`` pool
personas gets ``n_exemplars`` exemplars: a fit-half human answer to one of the items (items taken in turn), worded
with that item's question and :meth:`describe_target`. Every component (and the default prompt, when included)
answers every item; the :class:`~populations.mop_gate.ContextGate` is fitted on the items' questions against the
fit humans' distribution of each item, and the ungated LP weights on the same components are fitted beside it
(:func:`alignment.fit_mixture_weights_multi`) so the record shows what the gate adds on the fit items.

References:
    [1] Bui, N. et al. (2025). "Mixture-of-Personas Language Models for Population Simulation", arXiv:2504.05019.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from alignment import fit_mixture_weights_multi, pmf_from_samples
from populace_lm.progress import progress_bar
from populace_lm.seeds import seed_rng
from populations.baselines import DEFAULT_SYSTEM_PROMPT
from populations.crafting import MeteredModel, PromptEvaluator
from populations.mixture import check_sample_weight, check_target_values
from populations.mop_gate import ContextGate, context_text
from populations.persona import Persona, Population

__all__ = ["ItemSet", "context_exemplar_text", "fit_context_mop"]


@dataclass(frozen=True)
class ItemSet:
    """A scenario made of one-dimensional items, for the context gate (the study's parts of a survey, or a test's).

    Attributes:
        name: the set's name (provenance and seed streams).
        parts: the items, each a one-dimensional scenario.
    """

    name: str
    parts: tuple[Any, ...]

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Every item's dimension ids, in order."""
        return tuple(d for part in self.parts for d in part.dimensions)


def context_exemplar_text(part: Any, value: float) -> str:
    """The exemplar line of a context-gated component: the item's question and the human's answer in its words."""
    return f"Earlier, someone like you was asked: {context_text(part)}\nThey answered like this: {part.describe_target(float(value))}."


def _item_values(parts: tuple[Any, ...], values: Any) -> list[np.ndarray]:
    x = np.asarray(values, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != len(parts):
        raise ValueError(f"values must have shape (n, {len(parts)}) for {len(parts)} items, got {x.shape}")
    return [x[:, d] for d in range(len(parts))]


def fit_context_mop(builder: Any, scenario: Any, values: Any, *, sample_weight: Any = None) -> Any:
    """Fit ``builder`` (a :class:`~populations.mop.MixtureOfPersonasBuilder` with ``gate="context"``); returns it.

    Args:
        builder: the builder (its parameters are read; its fitted attributes are set).
        scenario: an :class:`ItemSet`, or a survey of several dimensions
            (:func:`scenarios.registry.dimension_scenarios` gives its items).
        values: fit-half human answers, shape ``(n, D)`` (NaN: item not answered).
        sample_weight: survey weights, shape ``(n,)``, or None.

    Raises:
        ValueError: fewer than 2 items, bad counts, off-scale values, more exemplars than an item's answers.
        PoolError: the pool is missing or malformed.
    """
    from populations.pools import load_pool

    if isinstance(scenario, ItemSet):
        parts = tuple(scenario.parts)
    else:
        from scenarios.registry import dimension_scenarios

        parts = tuple(dimension_scenarios(scenario))
    if len(parts) < 2:
        raise ValueError(
            f"gate='context' fits weights that depend on the question: scenario {scenario.name!r} has one item; "
            "use a scenario of several items (dimensions) or gate='lp'"
        )
    if builder.n_personas < 1 or builder.n_exemplars < 1:
        raise ValueError(f"n_personas and n_exemplars must be >= 1, got {builder.n_personas}, {builder.n_exemplars}")
    cols = _item_values(parts, values)
    sw_all = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    items: list[tuple[np.ndarray, np.ndarray | None]] = []
    for part, col in zip(parts, cols, strict=True):
        ok = np.isfinite(col)
        v = check_target_values(part, col[ok], name=f"values of item {part.name!r}")
        w = check_sample_weight(None if sw_all is None else sw_all[ok], v.size)
        if builder.n_exemplars > v.size:
            raise ValueError(f"n_exemplars={builder.n_exemplars} is larger than the {v.size} answers to {part.name!r}")
        items.append((v, w))
    pool = load_pool(builder.pool)
    if builder.n_personas > len(pool):
        raise ValueError(f"n_personas={builder.n_personas} exceeds the pool size {len(pool)} ({builder.pool!r})")
    rng = seed_rng(int(builder.random_state), "mop-context", scenario.name)
    chosen = [pool[i] for i in np.sort(rng.choice(len(pool), size=builder.n_personas, replace=False))]
    personas: list[Persona] = []
    exemplar_lines: list[str] = []
    groups: list[int] = []
    persona_texts: list[str] = []
    if builder.include_default:
        personas.append(Persona(id="mop-default", text=DEFAULT_SYSTEM_PROMPT, attributes={"default": True}))
        exemplar_lines.append(DEFAULT_SYSTEM_PROMPT)
        groups.append(0)
        persona_texts.append(DEFAULT_SYSTEM_PROMPT)
    for i, persona in enumerate(chosen):
        persona_texts.append(persona.text)
        for j in range(builder.n_exemplars):
            d = (i * builder.n_exemplars + j) % len(parts)
            v, w = items[d]
            ex = float(rng.choice(v, p=w))
            line = context_exemplar_text(parts[d], ex)
            personas.append(
                Persona(
                    id=f"{persona.id}-ex{j}",
                    text=f"You are the following person. {persona.text}\n{line}",
                    attributes={
                        "persona_id": persona.id,
                        "exemplar": ex,
                        "exemplar_item": parts[d].name,
                        "pool": str(builder.pool),
                    },
                )
            )
            exemplar_lines.append(line)
            groups.append(len(persona_texts) - 1)
    respondent = MeteredModel(builder.respondent)
    support = np.unique(np.concatenate([np.asarray(part.support, dtype=float) for part in parts]))
    comps = np.zeros((len(personas), len(parts), support.size))
    valid = np.zeros((len(personas), len(parts)))
    targets = np.zeros((len(parts), support.size))
    jobs = [(d, k) for d in range(len(parts)) for k in range(len(personas))]
    evaluators = [PromptEvaluator(respondent, part) for part in parts]
    for d, k in progress_bar(jobs, desc="MoP components x items", unit="prompt", enabled=builder.progress):
        e = evaluators[d](personas[k].text)
        at = np.searchsorted(support, np.asarray(parts[d].support, dtype=float))
        comps[k, d, at] = e.pmf
        valid[k, d] = e.valid_mass
    for d, (v, w) in enumerate(items):
        targets[d] = pmf_from_samples(v, support, w)
    lp = fit_mixture_weights_multi(comps, support, targets, method=builder.weight_method, rng=builder.random_state)
    encoder = builder.encoder
    if encoder is None:
        from populations.subgroups import MiniLMEncoder

        encoder = MiniLMEncoder()
    contexts = encoder.encode([context_text(part) for part in parts])
    gate = ContextGate(
        rank=builder.gate_rank, l2=builder.gate_l2, n_steps=builder.gate_steps, random_state=builder.random_state
    ).fit(
        contexts,
        encoder.encode(persona_texts),
        encoder.encode(exemplar_lines),
        groups,
        comps,
        support,
        targets,
    )
    item_w = gate.weights(contexts)  # (D, K)
    weights = item_w.mean(axis=0)
    weights = weights / weights.sum()
    builder.encoder_ = encoder
    builder.gate_ = gate
    builder.item_weights_ = item_w
    builder.lp_fit_w1_ = float(lp.loss)
    builder.lp_weights_ = np.asarray(lp.weights, dtype=float)
    builder.fit_loss_ = float(gate.fit_w1_)
    builder.baseline_loss_ = (
        float(fit_mixture_weights_multi(comps[:1], support, targets).loss) if builder.include_default else float("nan")
    )
    builder.support_ = support
    builder.prompts_ = [p.text for p in personas]
    builder.weights_ = weights
    builder.component_pmfs_ = comps
    builder.valid_mass_ = valid.mean(axis=1)
    builder.n_iter_ = gate.n_iter_
    builder.converged_ = True
    builder.cost_ = {"respondent": respondent.cost(), "total": respondent.cost()}
    builder.history_ = [
        {
            "personas": [p.id for p in chosen],
            "components": [p.id for p in personas],
            "items": [part.name for part in parts],
            "gate_fit_w1": builder.fit_loss_,
            "lp_fit_w1": builder.lp_fit_w1_,
            "best_step": gate.best_step_,
        }
    ]
    builder.population_ = Population(
        personas=tuple(personas),
        weights=weights,
        construction="mop",
        metadata={
            "scenario": scenario.name,
            "joint": True,
            "dimensions": [part.name for part in parts],
            "fit_w1": builder.fit_loss_,
            "lp_fit_w1": builder.lp_fit_w1_,
            "baseline_w1": builder.baseline_loss_,
            "cost": builder.cost_,
            "pool": str(builder.pool),
            "n_personas": builder.n_personas,
            "n_exemplars": builder.n_exemplars,
            "random_state": builder.random_state,
            "gate": {
                "kind": "context",
                "encoder": encoder.model_id,
                "weights": {part.name: w.tolist() for part, w in zip(parts, item_w, strict=True)},
                "state": gate.to_dict(),
            },
        },
    )
    return builder
