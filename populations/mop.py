r"""Mixture-of-Personas populations (Bui et al. 2025 [1]), fitted to a one-dimensional human target.

Each component is a pair (persona from a public pool, exemplar = one human answer from the *fit* split). Its system
prompt is the persona followed by the exemplar as an in-context example of how someone answered. The mixing
weights :math:`\pi` over the K = ``n_personas`` × ``n_exemplars`` components minimise
:math:`W_1(\sum_k \pi_k p_k, q)` against the fit split, solved exactly as a linear program (the same weight fit as
the prompt-mixture builders) — the ungated version, ``gate="lp"``.

With ``gate="context"`` the builder fits the contextual gate of [1] instead (:mod:`populations.mop_gate`): on a
scenario of several items (dimensions), the weight of each (persona, exemplar) component depends on the question
through a softmax over sentence embeddings, fitted on the mean per-item W1 of the fit questions; the gate also gives
weights for questions never seen in fitting (:meth:`MixtureOfPersonasBuilder.weights_for`). Exemplars then name the
question they answered. The population records which gate was used (``metadata["gate"]``).

The default fixed prompt is also a candidate component (``include_default=True``), so the fitted mixture is never
worse than the fixed-prompt baseline on the fit split.

References:
    [1] Bui, N. et al. (2025). "Mixture-of-Personas Language Models for Population Simulation", arXiv:2504.05019.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from alignment import fit_mixture_weights, pmf_from_samples
from populace_lm.base import LanguageModel
from populace_lm.progress import progress_bar
from populations.base import BaseBuilder, WeightSolverError, check_is_fitted
from populations.baselines import DEFAULT_SYSTEM_PROMPT
from populations.crafting import MeteredModel, PromptEvaluator
from populations.mixture import check_sample_weight, check_target_values
from populations.persona import Persona, Population

__all__ = ["MixtureOfPersonasBuilder", "exemplar_text"]


def exemplar_text(scenario: Any, value: float) -> str:
    """The in-context exemplar line for a human answer, in the scenario's own words (``describe_target``)."""
    return f"Earlier, someone like you answered like this: {scenario.describe_target(float(value))}."


class MixtureOfPersonasBuilder(BaseBuilder):
    """Fit a Mixture-of-Personas population (scikit-learn estimator contract).

    Args:
        respondent: the answering model (required).
        pool: persona pool name or path (``personahub``, ``personachat``, …).
        n_personas: personas drawn from the pool.
        n_exemplars: human exemplars drawn from the fit split per persona.
        weight_method: ``"lp"`` (exact) or ``"slsqp"`` (the ungated weights; with ``gate="context"`` the reference
            fit recorded as ``lp_fit_w1_``).
        gate: ``"lp"`` (one weight vector per scenario) or ``"context"`` (the question-dependent gate of [1]; needs
            a scenario of several items).
        encoder: sentence encoder of the context gate (:class:`populations.subgroups.Encoder`; None: MiniLM).
        gate_rank: rank of the gate's learned maps.
        gate_steps: optimiser steps of the gate fit.
        gate_l2: squared-norm penalty of the gate maps.
        include_default: also offer the default fixed prompt as a component.
        progress: show a progress bar while the components are evaluated.
        random_state: seed of the persona and exemplar draws.

    Attributes:
        prompts_: component system prompts, length K.
        weights_: shape ``(K,)``.
        component_pmfs_: shape ``(K, S)``.
        support_: shape ``(S,)``.
        fit_loss_: exact W1 to the fit split.
        baseline_loss_: W1 of the default prompt alone to the fit split.
        cost_: respondent requests, cache hits, backend calls, tokens.
        history_: one record of the fit (persona ids, exemplars, weights).
        n_iter_: solver iterations.
        converged_: whether the weight solver converged.
        population_: the :class:`~populations.persona.Population` (construction ``"mop"``).
        gate_: the fitted :class:`~populations.mop_gate.ContextGate` (``gate="context"`` only).
        item_weights_: gate weights per fit item, shape ``(D, K)`` (``gate="context"`` only).
        lp_fit_w1_: mean per-item W1 of the ungated LP weights on the same components (``gate="context"`` only).
        lp_weights_: those ungated weights, shape ``(K,)`` (``gate="context"`` only).
    """

    kind: ClassVar[str] = "populace.mop"

    def __init__(
        self,
        respondent: LanguageModel | None = None,
        *,
        pool: str = "personahub",
        n_personas: int = 8,
        n_exemplars: int = 2,
        weight_method: str = "lp",
        gate: str = "lp",
        encoder: Any = None,
        gate_rank: int = 8,
        gate_steps: int = 400,
        gate_l2: float = 1e-3,
        include_default: bool = True,
        progress: bool = True,
        random_state: int = 0,
    ) -> None:
        self.respondent = respondent
        self.pool = pool
        self.n_personas = n_personas
        self.n_exemplars = n_exemplars
        self.weight_method = weight_method
        self.gate = gate
        self.encoder = encoder
        self.gate_rank = gate_rank
        self.gate_steps = gate_steps
        self.gate_l2 = gate_l2
        self.include_default = include_default
        self.progress = progress
        self.random_state = random_state

    def fit(self, scenario: Any, values: Any, *, sample_weight: Any = None) -> MixtureOfPersonasBuilder:
        """Draw components and fit their weights to the human values (the fit split).

        Args:
            scenario: a scenario of the Scenario protocol (its ``describe_target`` words the exemplars);
                one-dimensional with ``gate="lp"``; with ``gate="context"`` a survey of several dimensions or an
                :class:`~populations.mop_context.ItemSet` of one-dimensional items.
            values: human answers on the scenario's support, shape ``(n,)`` (the fit split), or ``(n, D)`` with
                ``gate="context"`` (NaN where a human skipped an item).
            sample_weight: survey weights, shape ``(n,)`` (None: equal): they weight the target distribution and
                the draw of the exemplars.

        Returns:
            self.

        Raises:
            ValueError: no respondent, bad counts, empty or off-scale values, more exemplars than values.
            PoolError: the pool is missing or malformed.
            WeightSolverError: the weight solver fit worse than the default prompt it was given.
        """
        from populations.pools import load_pool

        if self.respondent is None:
            raise ValueError("MixtureOfPersonasBuilder needs a respondent model (respondent=...)")
        if self.gate not in ("lp", "context"):
            raise ValueError(f"gate must be 'lp' or 'context', got {self.gate!r}")
        if self.gate == "context":
            from populations.mop_context import fit_context_mop

            return fit_context_mop(self, scenario, values, sample_weight=sample_weight)
        values = check_target_values(scenario, values)
        sw = check_sample_weight(sample_weight, values.size)
        if self.n_personas < 1 or self.n_exemplars < 1:
            raise ValueError(f"n_personas and n_exemplars must be >= 1, got {self.n_personas}, {self.n_exemplars}")
        if self.n_exemplars > values.size:
            raise ValueError(f"n_exemplars={self.n_exemplars} is larger than the {values.size} human values")
        pool = load_pool(self.pool)
        if self.n_personas > len(pool):
            raise ValueError(f"n_personas={self.n_personas} exceeds the pool size {len(pool)} ({self.pool!r})")
        rng = np.random.default_rng(self.random_state)
        chosen = [pool[i] for i in np.sort(rng.choice(len(pool), size=self.n_personas, replace=False))]
        respondent = MeteredModel(self.respondent)
        evaluate = PromptEvaluator(respondent, scenario)
        self.support_ = np.asarray(scenario.support, dtype=float)
        target_pmf = pmf_from_samples(values, self.support_, sw)
        personas: list[Persona] = []
        for persona in chosen:
            drawn = rng.choice(values, size=self.n_exemplars, replace=False, p=sw)  # p=None: uniform, as before
            for j, ex in enumerate(drawn):
                text = f"You are the following person. {persona.text}\n{exemplar_text(scenario, float(ex))}"
                personas.append(
                    Persona(
                        id=f"{persona.id}-ex{j}",
                        text=text,
                        attributes={"persona_id": persona.id, "exemplar": float(ex), "pool": str(self.pool)},
                    )
                )
        if self.include_default:
            personas.insert(0, Persona(id="mop-default", text=DEFAULT_SYSTEM_PROMPT, attributes={"default": True}))
        evals = [
            evaluate(p.text)
            for p in progress_bar(personas, desc="MoP components", unit="prompt", enabled=self.progress)
        ]
        pmfs = np.stack([e.pmf for e in evals])
        fit = fit_mixture_weights(pmfs, self.support_, target_pmf, method=self.weight_method, rng=self.random_state)
        base = evaluate(DEFAULT_SYSTEM_PROMPT) if not self.include_default else evals[0]
        self.baseline_loss_ = float(fit_mixture_weights(base.pmf[None], self.support_, target_pmf).loss)
        self.fit_loss_ = float(fit.loss)
        if self.include_default and self.fit_loss_ > self.baseline_loss_ + 1e-6:
            raise WeightSolverError(
                f"MoP fit W1 {self.fit_loss_:.6g} exceeds the fixed-prompt baseline {self.baseline_loss_:.6g} although "
                f"the baseline prompt is a candidate; the {self.weight_method!r} weight solver failed "
                "(use weight_method='lp')"
            )
        self.prompts_ = [p.text for p in personas]
        self.weights_ = np.asarray(fit.weights, dtype=float)
        self.component_pmfs_ = pmfs
        self.valid_mass_ = np.array([e.valid_mass for e in evals])
        self.n_iter_ = fit.n_iter
        self.converged_ = fit.converged
        self.cost_ = {"respondent": respondent.cost(), "total": respondent.cost()}
        self.history_ = [
            {
                "personas": [p.id for p in chosen],
                "components": [p.id for p in personas],
                "weights": self.weights_.tolist(),
                "fit_w1": self.fit_loss_,
                "baseline_w1": self.baseline_loss_,
            }
        ]
        self.population_ = Population(
            personas=tuple(personas),
            weights=self.weights_,
            construction="mop",
            metadata={
                "scenario": scenario.name,
                "fit_w1": self.fit_loss_,
                "baseline_w1": self.baseline_loss_,
                "cost": self.cost_,
                "pool": str(self.pool),
                "n_personas": self.n_personas,
                "n_exemplars": self.n_exemplars,
                "random_state": self.random_state,
                "gate": {"kind": "lp"},
            },
        )
        return self

    def weights_for(self, scenario: Any) -> np.ndarray:
        """Component weights for a one-dimensional scenario, seen in fitting or not, shape ``(K,)``.

        With ``gate="lp"`` the one fitted vector; with ``gate="context"`` the gate's weights for the scenario's
        questions (embedded with the builder's encoder).
        """
        check_is_fitted(self, "weights_")
        if self.gate != "context":
            return self.weights_.copy()
        from populations.mop_gate import context_text

        return self.gate_.weights(self.encoder_.encode([context_text(scenario)]))[0]

    def _fit_record(self) -> dict[str, Any]:
        return {
            "prompts": list(self.prompts_),
            "weights": self.weights_.tolist(),
            "component_pmfs": self.component_pmfs_.tolist(),
            "support": self.support_.tolist(),
            "fit_w1": self.fit_loss_,
            "baseline_w1": self.baseline_loss_,
            "n_iter": self.n_iter_,
            "converged": self.converged_,
            "gate": self.gate,
            **({"gate_fit_w1": self.gate_.fit_w1_, "lp_fit_w1": self.lp_fit_w1_} if self.gate == "context" else {}),
            "cost": self.cost_,
            "history": self.history_,
        }
