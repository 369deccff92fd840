r"""Mixture-of-Personas populations (Bui et al. 2025 [1]), fitted to a one-dimensional human target.

Each component is a pair (persona from a public pool, exemplar = one human answer from the *fit* split). Its system
prompt is the persona followed by the exemplar as an in-context example of how someone answered. The mixing
weights :math:`\pi` over the K = ``n_personas`` × ``n_exemplars`` components minimise
:math:`W_1(\sum_k \pi_k p_k, q)` against the fit split, solved exactly as a linear program (the same weight fit as
the prompt-mixture builders). [1] learns a softmax gate over persona and context embeddings so the weights depend on
the question; every scenario here has a single target distribution, so the weights are question-independent and no
gate is fitted (the gate is not implemented).

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
from populations.base import BaseBuilder, WeightSolverError
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
        weight_method: ``"lp"`` (exact) or ``"slsqp"``.
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
        include_default: bool = True,
        progress: bool = True,
        random_state: int = 0,
    ) -> None:
        self.respondent = respondent
        self.pool = pool
        self.n_personas = n_personas
        self.n_exemplars = n_exemplars
        self.weight_method = weight_method
        self.include_default = include_default
        self.progress = progress
        self.random_state = random_state

    def fit(self, scenario: Any, values: Any, *, sample_weight: Any = None) -> MixtureOfPersonasBuilder:
        """Draw components and fit their weights to the human values (the fit split).

        Args:
            scenario: a one-dimensional scenario of the Scenario protocol (its ``describe_target`` words the
                exemplars).
            values: human answers on the scenario's support, shape ``(n,)`` (the fit split).
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
            },
        )
        return self

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
            "cost": self.cost_,
            "history": self.history_,
        }
