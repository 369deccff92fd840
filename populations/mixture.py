r"""Prompt-mixture populations fitted to a human answer distribution: EM and gradient boosting [1].

A population is a mixture of K system prompts with weights :math:`w` on the simplex; prompt :math:`k` answers with
the distribution :math:`p_k` over the scenario's support (read exactly from the respondent model). The weights
minimise :math:`W_1(\sum_k w_k p_k, q)` against the human pmf :math:`q` of the fit split, solved exactly as a linear
program (:func:`alignment.fit_mixture_weights`, ``weight_method="lp"``; ``"slsqp"`` reproduces [1]).

**EM (Algorithm 1 of [1]).** Craft K prompts towards K targets drawn at random from the data. Then repeat:

* E-step — each observed value :math:`x_i` is assigned to prompt :math:`k` with
  :math:`r_{ik} \propto \exp(-d_k(x_i)\, w_k)`, where :math:`d_k(x) = \sum_s p_k(s)\,|s - x|` is the *exact* expected
  distance under the prompt's distribution (the paper averages 10 samples);
* M-step — re-craft prompt :math:`k` towards a value drawn from the data with probabilities :math:`\propto r_{ik}`;
  the new prompt replaces the old one when it is closer to that value (smaller expected distance);
* refit the weights; stop when no prompt changed and the weights moved less than ``tol``, or after ``max_iter``.

**Gradient boosting (Algorithm 2 of [1]).** Start from the default prompt with weight 1. Each round takes the
residual between the human and mixture distributions (the derivative of the CDF difference: :math:`q - \sum_k w_k
p_k`), draws a target where the mixture under-represents the humans (positive residual), crafts a prompt for it and
refits all weights; stop after ``n_rounds`` or when the fit W1 has not improved by ``tol`` for ``patience`` rounds.

Guarantee: the default (fixed-prompt baseline) prompt is always a candidate component (``include_default=True``), so
the LP weights can never fit worse than the baseline on the fit split; :meth:`PromptMixtureBuilder.fit` asserts it.

References:
    [1] "Distributional Alignment for Social Simulation with LLMs: A Prompt Mixture Modeling Approach",
        Algorithms 1–2 and Appendix A.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from alignment import fit_mixture_weights, mixture_pmf, pmf_from_samples
from populace_lm.base import LanguageModel
from populations.baselines import DEFAULT_SYSTEM_PROMPT
from populations.crafting import (
    CraftingError,
    CraftSystemPrompt,
    MeteredModel,
    PromptEvaluation,
    PromptEvaluator,
)
from populations.persona import Persona, Population

__all__ = ["PromptMixtureBuilder", "check_target_values"]


def check_target_values(scenario: Any, values: Any, *, name: str = "target_values") -> np.ndarray:
    """Validate human values for a scenario: non-empty, finite, on the scenario's support.

    Returns:
        The values as floats, shape ``(n,)``.

    Raises:
        ValueError: naming the problem, the first offending index and the scenario's range.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty: the fit split holds no human values (check the data and the split)")
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"{name}[{int(np.flatnonzero(bad)[0])}] is not a finite number; drop missing values first")
    support = np.asarray(scenario.support, dtype=float)
    off = ~np.isin(x, support)
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"{name}[{i}] = {x[i]:g} is not on the answer scale of scenario {scenario.name!r} "
            f"(integers {support[0]:g}..{support[-1]:g})"
        )
    return x


@dataclass
class _Component:
    prompt: str
    evaluation: PromptEvaluation
    target: float | None  # None for the default prompt
    crafted: bool


class PromptMixtureBuilder:
    """Fit a mixture of crafted system prompts to human answers (scikit-learn estimator contract).

    Args:
        method: ``"em"`` (Algorithm 1) or ``"gb"`` (Algorithm 2).
        n_components: K, the number of crafted prompts for EM (GB grows its own; ignored).
        crafter: model writing prompts; None = the respondent.
        respondent: model answering as the prompts (required).
        max_iter: EM iterations (20 as in [1]).
        n_rounds: GB rounds (up to 200 as in [1]).
        patience: GB stops after this many rounds without a W1 improvement larger than ``tol``.
        improve_rounds: improve rounds R of each :class:`~populations.crafting.CraftSystemPrompt` call.
        max_retries: extra crafter attempts when a reply holds no usable prompt.
        weight_method: ``"lp"`` (exact) or ``"slsqp"`` (as in [1]).
        tol: EM weight-change tolerance and GB improvement threshold (in W1 units).
        include_default: keep the default prompt as a candidate EM component (guarantees "never worse than the
            fixed-prompt baseline" on the fit split); GB always starts from it (Algorithm 2).
        default_prompt: the baseline / GB starting prompt.
        forbid_target_number: reject crafted prompts that name their target number.
        crafter_temperature: crafter sampling temperature.
        crafter_max_tokens: crafter reply length.
        random_state: root seed (targets, assignments, crafting seeds).

    Attributes:
        prompts_: the component system prompts, length K'.
        weights_: mixing weights, shape ``(K',)``.
        component_pmfs_: each prompt's answer distribution, shape ``(K', S)``.
        support_: the scenario's support, shape ``(S,)``.
        targets_: each component's crafting target (None for the default prompt).
        history_: one dict per iteration/round (targets, crafting attempts, accepted changes, weights, fit W1).
        n_iter_: iterations (EM) or rounds (GB) run.
        converged_: whether the stopping rule fired before the iteration limit.
        fit_loss_: W1 of the fitted mixture to the fit split (exact).
        baseline_loss_: W1 of the default prompt alone to the fit split.
        cost_: requests, cache hits, backend calls and tokens of the crafter and the respondent.
        population_: the fitted :class:`~populations.persona.Population` (construction ``"em"``/``"gb"``).
    """

    def __init__(
        self,
        method: str = "em",
        n_components: int = 5,
        crafter: LanguageModel | None = None,
        respondent: LanguageModel | None = None,
        *,
        max_iter: int = 20,
        n_rounds: int = 200,
        patience: int = 3,
        improve_rounds: int = 1,
        max_retries: int = 2,
        weight_method: str = "lp",
        tol: float = 1e-3,
        include_default: bool = True,
        default_prompt: str = DEFAULT_SYSTEM_PROMPT,
        forbid_target_number: bool = True,
        crafter_temperature: float = 0.8,
        crafter_max_tokens: int = 120,
        random_state: int = 0,
    ) -> None:
        self.method = method
        self.n_components = n_components
        self.crafter = crafter
        self.respondent = respondent
        self.max_iter = max_iter
        self.n_rounds = n_rounds
        self.patience = patience
        self.improve_rounds = improve_rounds
        self.max_retries = max_retries
        self.weight_method = weight_method
        self.tol = tol
        self.include_default = include_default
        self.default_prompt = default_prompt
        self.forbid_target_number = forbid_target_number
        self.crafter_temperature = crafter_temperature
        self.crafter_max_tokens = crafter_max_tokens
        self.random_state = random_state

    # ----------------------------------------------------------------------------------------- helpers
    def _validate(self, n: int) -> None:
        if self.method not in ("em", "gb"):
            raise ValueError(f"method must be 'em' or 'gb', got {self.method!r}")
        if self.respondent is None:
            raise ValueError("PromptMixtureBuilder needs a respondent model (respondent=...)")
        if self.method == "em":
            if not isinstance(self.n_components, int) or self.n_components < 1:
                raise ValueError(f"n_components must be a positive integer, got {self.n_components!r}")
            if self.n_components > n:
                raise ValueError(
                    f"n_components={self.n_components} is larger than the {n} human values to fit; "
                    "use fewer components or more data"
                )
            if self.max_iter < 1:
                raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")
        elif self.n_rounds < 1:
            raise ValueError(f"n_rounds must be >= 1, got {self.n_rounds}")
        if self.weight_method not in ("lp", "slsqp"):
            raise ValueError(f"weight_method must be 'lp' or 'slsqp', got {self.weight_method!r}")

    def _fit_weights(self, comps: list[_Component]) -> tuple[np.ndarray, float]:
        pmfs = np.stack([c.evaluation.pmf for c in comps])
        fit = fit_mixture_weights(
            pmfs, self.support_, self._target_pmf, method=self.weight_method, rng=self.random_state
        )
        return fit.weights, float(fit.loss)

    def _craft(self, target: float, key: tuple[Any, ...], log: list[dict]) -> _Component | None:
        """Craft one component; a crafting failure is recorded in ``log`` and returns None."""
        try:
            res = self._crafter_fn(target, self._scenario, key=key)
        except CraftingError as exc:
            log.append({"key": list(map(str, key)), "target": target, "failed": str(exc), "attempts": exc.history})
            return None
        log.append(
            {
                "key": list(map(str, key)),
                "target": target,
                "prompt": res.prompt,
                "mean": res.evaluation.mean,
                "distance": res.distance,
                "rounds": res.rounds,
                "attempts": res.history,
            }
        )
        return _Component(prompt=res.prompt, evaluation=res.evaluation, target=target, crafted=True)

    # ----------------------------------------------------------------------------------------- fit
    def fit(self, scenario: Any, target_values: Any) -> PromptMixtureBuilder:
        """Fit the mixture to human values of ``scenario``.

        Args:
            scenario: a one-dimensional scenario (``support``, ``questions()``, ``pmfs()``, ``name``).
            target_values: human answers on the scenario's support, shape ``(n,)`` (the fit split).

        Returns:
            self.

        Raises:
            ValueError: bad parameters, empty or off-scale values, K larger than the data.
            CraftingError: no component could be crafted at all (every failure is in the error's history).
        """
        values = check_target_values(scenario, target_values)
        self._validate(values.size)
        self._scenario = scenario
        self.support_ = np.asarray(scenario.support, dtype=float)
        self._target_pmf = pmf_from_samples(values, self.support_)
        respondent = MeteredModel(self.respondent)
        crafter = MeteredModel(self.crafter if self.crafter is not None else self.respondent)
        self._crafter_fn = CraftSystemPrompt(
            crafter,
            respondent,
            max_rounds=self.improve_rounds,
            max_retries=self.max_retries,
            temperature=self.crafter_temperature,
            max_tokens=self.crafter_max_tokens,
            forbid_target_number=self.forbid_target_number,
            random_state=self.random_state,
        )
        evaluate: PromptEvaluator = self._crafter_fn.evaluator(scenario)
        rng = np.random.default_rng(self.random_state)
        default = _Component(
            prompt=self.default_prompt, evaluation=evaluate(self.default_prompt), target=None, crafted=False
        )
        self.baseline_loss_ = float(
            fit_mixture_weights(default.evaluation.pmf[None], self.support_, self._target_pmf).loss
        )
        self.history_: list[dict[str, Any]] = []
        if self.method == "em":
            comps, weights, loss = self._fit_em(values, default, rng)
        else:
            comps, weights, loss = self._fit_gb(default, rng)
        if (self.include_default or self.method == "gb") and loss > self.baseline_loss_ + 1e-6:
            raise AssertionError(
                f"fitted mixture W1 {loss:.6g} exceeds the fixed-prompt baseline {self.baseline_loss_:.6g} although "
                "the baseline prompt is a candidate; the weight solver failed"
            )
        self.prompts_ = [c.prompt for c in comps]
        self.targets_ = [c.target for c in comps]
        self.weights_ = np.asarray(weights, dtype=float)
        self.component_pmfs_ = np.stack([c.evaluation.pmf for c in comps])
        self.valid_mass_ = np.array([c.evaluation.valid_mass for c in comps])
        self.fit_loss_ = float(loss)
        parts = {"crafter": crafter.cost(), "respondent": respondent.cost()}
        self.cost_ = {**parts, "total": {k: parts["crafter"][k] + parts["respondent"][k] for k in parts["crafter"]}}
        personas = tuple(
            Persona(
                id=f"{self.method}-{i:03d}" if c.crafted else f"{self.method}-default",
                text=c.prompt,
                attributes={"target": c.target, "mean": c.evaluation.mean, "valid_mass": c.evaluation.valid_mass},
            )
            for i, c in enumerate(comps)
        )
        self.population_ = Population(
            personas=personas,
            weights=self.weights_,
            construction=self.method,
            metadata={
                "scenario": scenario.name,
                "fit_w1": self.fit_loss_,
                "baseline_w1": self.baseline_loss_,
                "n_iter": self.n_iter_,
                "converged": self.converged_,
                "cost": self.cost_,
                "params": self.get_params(),
            },
        )
        del self._crafter_fn, self._scenario
        return self

    def _fit_em(
        self, values: np.ndarray, default: _Component, rng: np.random.Generator
    ) -> tuple[list[_Component], np.ndarray, float]:
        uniq, counts = np.unique(values, return_counts=True)
        init_log: list[dict] = []
        targets = rng.choice(values, size=self.n_components, replace=False)
        crafted = [self._craft(float(t), ("em", "init", k), init_log) for k, t in enumerate(targets)]
        comps = [c for c in crafted if c is not None]
        if not comps:
            raise CraftingError(
                f"EM could not craft any of its {self.n_components} initial prompts (last failure: "
                f"{init_log[-1]['failed']}); the crafter replies are in the error history",
                init_log,
            )
        if self.include_default:
            comps = [default, *comps]
        weights, loss = self._fit_weights(comps)
        self.history_.append(
            {
                "iteration": 0,
                "crafting": init_log,
                "weights": weights.tolist(),
                "fit_w1": loss,
                "n_failed": sum(c is None for c in crafted),
            }
        )
        best = (loss, list(comps), weights)
        self.converged_ = False
        self.n_iter_ = 0
        for it in range(1, self.max_iter + 1):
            self.n_iter_ = it
            pmfs = np.stack([c.evaluation.pmf for c in comps])  # (K, S)
            dist = np.abs(uniq[:, None] - self.support_[None, :]) @ pmfs.T  # (U, K): d_k(x_u)
            logits = -dist * weights[None, :]
            resp = np.exp(logits - logits.max(axis=1, keepdims=True))
            resp /= resp.sum(axis=1, keepdims=True)  # E-step, (U, K)
            log: list[dict] = []
            changed = []
            for k, comp in enumerate(comps):
                if not comp.crafted:
                    continue
                mass = counts * resp[:, k]
                target = float(rng.choice(uniq, p=mass / mass.sum()))
                new = self._craft(target, ("em", it, k), log)
                if new is None:
                    continue
                old_d = comp.evaluation.expected_distance(self.support_, target)
                new_d = new.evaluation.expected_distance(self.support_, target)
                log[-1].update(old_distance=old_d, accepted=bool(new_d < old_d and new.prompt != comp.prompt))
                if new_d < old_d and new.prompt != comp.prompt:
                    comps[k] = new
                    changed.append(k)
            new_weights, loss = self._fit_weights(comps)
            shift = float(np.abs(new_weights - weights).max())
            weights = new_weights
            self.history_.append(
                {
                    "iteration": it,
                    "crafting": log,
                    "changed": changed,
                    "weights": weights.tolist(),
                    "fit_w1": loss,
                    "weight_shift": shift,
                    "responsibility_mass": (counts @ resp / counts.sum()).tolist(),
                }
            )
            if loss < best[0] - 1e-12:
                best = (loss, list(comps), weights)
            if not changed and shift < self.tol:
                self.converged_ = True
                break
        loss, comps, weights = best
        return comps, weights, loss

    def _fit_gb(self, default: _Component, rng: np.random.Generator) -> tuple[list[_Component], np.ndarray, float]:
        comps = [default]
        weights, loss = np.ones(1), self.baseline_loss_
        self.history_.append({"round": 0, "prompt": default.prompt, "weights": [1.0], "fit_w1": loss})
        best_loss, stale = loss, 0
        self.converged_ = False
        self.n_iter_ = 0
        for rnd in range(1, self.n_rounds + 1):
            self.n_iter_ = rnd
            mix = mixture_pmf(weights, np.stack([c.evaluation.pmf for c in comps]))
            residual = np.clip(self._target_pmf - mix, 0.0, None)
            if residual.sum() <= 1e-12:
                self.converged_ = True
                self.history_.append({"round": rnd, "stopped": "the mixture matches the target exactly"})
                break
            target = float(rng.choice(self.support_, p=residual / residual.sum()))
            log: list[dict] = []
            new = self._craft(target, ("gb", rnd), log)
            if new is not None:
                comps.append(new)
                weights, loss = self._fit_weights(comps)
            improved = loss < best_loss - self.tol
            self.history_.append(
                {
                    "round": rnd,
                    "target": target,
                    "crafting": log,
                    "weights": weights.tolist(),
                    "fit_w1": loss,
                    "improved": bool(improved),
                }
            )
            if improved:
                best_loss, stale = loss, 0
            else:
                stale += 1
                if stale >= self.patience:
                    self.converged_ = True
                    break
        if len(comps) == 1:
            failures = [c for h in self.history_[1:] for c in h.get("crafting", []) if "failed" in c]
            if failures:
                raise CraftingError(
                    f"GB could not craft any prompt in {self.n_iter_} rounds (last failure: {failures[-1]['failed']}); "
                    "the crafter replies are in the error history",
                    failures,
                )
        return comps, weights, loss

    # ----------------------------------------------------------------------------------------- API
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters as plain JSON (models by ``model_id``)."""
        return {
            "method": self.method,
            "n_components": self.n_components,
            "crafter": getattr(self.crafter, "model_id", None) if self.crafter is not None else None,
            "respondent": getattr(self.respondent, "model_id", None),
            "max_iter": self.max_iter,
            "n_rounds": self.n_rounds,
            "patience": self.patience,
            "improve_rounds": self.improve_rounds,
            "max_retries": self.max_retries,
            "weight_method": self.weight_method,
            "tol": self.tol,
            "include_default": self.include_default,
            "default_prompt": self.default_prompt,
            "forbid_target_number": self.forbid_target_number,
            "crafter_temperature": self.crafter_temperature,
            "crafter_max_tokens": self.crafter_max_tokens,
            "random_state": self.random_state,
        }

    def sample(self, n: int, *, rng: np.random.Generator | int | None = None) -> Population:
        """The empirical population of ``n`` prompts drawn by weight (the paper's evaluation protocol).

        Raises:
            RuntimeError: not fitted.
        """
        if not hasattr(self, "population_"):
            raise RuntimeError("PromptMixtureBuilder is not fitted: call fit(scenario, target_values) first")
        return self.population_.resample(n, rng=rng)

    def to_dict(self) -> dict[str, Any]:
        """Prompts, weights, history and cost as plain JSON (what ``populace fit`` saves)."""
        if not hasattr(self, "population_"):
            raise RuntimeError("PromptMixtureBuilder is not fitted: call fit(scenario, target_values) first")
        return {
            "kind": "populace.prompt_mixture",
            "version": 1,
            "params": self.get_params(),
            "prompts": list(self.prompts_),
            "targets": list(self.targets_),
            "weights": self.weights_.tolist(),
            "component_pmfs": self.component_pmfs_.tolist(),
            "support": self.support_.tolist(),
            "fit_w1": self.fit_loss_,
            "baseline_w1": self.baseline_loss_,
            "n_iter": self.n_iter_,
            "converged": self.converged_,
            "cost": self.cost_,
            "history": self.history_,
            "population": self.population_.to_dict(),
        }
