r"""Prompt-mixture populations fitted to a human answer distribution: EM and gradient boosting [1].

A population is a mixture of K system prompts with weights :math:`w` on the simplex; prompt :math:`k` answers with
the distribution :math:`p_k` over the scenario's support (read exactly from the respondent model). The weights
minimise :math:`W_1(\sum_k w_k p_k, q)` against the human pmf :math:`q` of the fit split, solved exactly as a linear
program (:func:`alignment.fit_mixture_weights`, ``weight_method="lp"``; ``"slsqp"`` reproduces [1]).

**EM (Algorithm 1 of [1]).** Craft K prompts towards K targets drawn at random from the data (Alg. 1, lines 1–3).
Then repeat:

* E-step (Alg. 1, line 5) — the responsibility of prompt :math:`k` for the observed value :math:`x_i`, with
  :math:`d_{ik} = \sum_s p_k(s)\,|s - x_i|` the *exact* expected distance under the prompt's distribution (the paper
  averages 10 samples). The default ``e_step="posterior"`` is a soft posterior

  .. math:: r_{ik} \propto \max(w_k, \varepsilon_w)\, \exp(-d_{ik} / \tau),

  a mixture of Laplace-like kernels with prior :math:`w_k`: a prompt close to :math:`x_i` *and* carrying weight wins
  it. The floor :math:`\varepsilon_w` (``weight_floor``) keeps a prompt the sparse LP gave zero weight in the race,
  so a new or currently unused component can still win the data near it and grow. The temperature :math:`\tau`
  (``temperature``) sets how sharply distance decides; by default (:func:`default_temperature`) it is the humans'
  mean absolute deviation from their median divided by K — the typical gap between neighbouring components when K
  prompts share the data — floored at the smallest answer step, so a prompt one such gap farther from
  :math:`x_i` loses a factor :math:`e`.

  ``e_step="literal"`` keeps the paper's formula :math:`r_{ik} \propto \exp(-d_{ik}\, w_k)`. It *inverts* the
  weights: :math:`d_{ik} w_k \ge 0`, so a component with :math:`w_k = 0` gets logit 0, the largest possible, for every
  :math:`x_i`, and the heavier a component the more its distances are penalised. With the sparse LP weights most
  components have weight 0 and absorb most of the responsibility (about 70 % on a bimodal fake) whatever their
  distance, so the M-step re-crafts the unused prompts towards arbitrary data and the used ones starve.
* M-step (Alg. 1, lines 6–9) — re-craft prompt :math:`k` towards a value drawn from the data with probabilities
  :math:`\propto r_{ik}` (times the value's count); the new prompt replaces the old one only when it is closer to that
  value (smaller expected distance);
* refit the weights (Alg. 1, line 10); stop when no prompt changed and the weights moved less than ``tol``, or after
  ``max_iter``. The iteration with the smallest fit W1 is returned.

**Gradient boosting (Algorithm 2 of [1]).** Start from the default prompt with weight 1 (Alg. 2, line 1). Each round
takes the residual between the human and mixture distributions (the derivative of the CDF difference:
:math:`q - \sum_k w_k p_k`, Alg. 2, line 3), draws a target from its positive part — where the mixture
under-represents the humans — crafts a prompt for it (line 4) and refits all weights (line 5); stop after
``n_rounds`` or when the fit W1 has not improved by ``tol`` for ``patience`` rounds.

**Crafting never aborts a fit.** A crafting failure (no usable prompt in the reply, a refusal, a prompt naming its
target) is recorded in ``history_`` and counted (``n_failed_``, ``failure_reasons_``); the job is skipped. A fit that
ends with no usable crafted prompt returns the fixed-prompt (default) population and says so in ``fallback_``.

Guarantee: the default (fixed-prompt baseline) prompt is always a candidate component (``include_default=True``), so
the LP weights can never fit worse than the baseline on the fit split; a solver that does raises
:class:`~populations.base.WeightSolverError`.

References:
    [1] "Distributional Alignment for Social Simulation with LLMs: A Prompt Mixture Modeling Approach",
        Algorithms 1–2 and Appendix A.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from alignment import fit_mixture_weights, mixture_pmf, pmf_from_samples
from populace_lm.base import LanguageModel
from populace_lm.progress import progress_bar
from populations.base import BaseBuilder, WeightSolverError
from populations.baselines import DEFAULT_SYSTEM_PROMPT
from populations.crafting import (
    CraftingError,
    CraftSystemPrompt,
    MeteredModel,
    PromptEvaluation,
    PromptEvaluator,
)
from populations.persona import Persona, Population

__all__ = [
    "E_STEPS",
    "FALLBACK_NO_CRAFTED",
    "PromptMixtureBuilder",
    "check_sample_weight",
    "check_target_values",
    "default_temperature",
    "e_step",
]

E_STEPS = ("posterior", "literal")
"""Valid ``e_step`` names of :class:`PromptMixtureBuilder`."""

FALLBACK_NO_CRAFTED = "no usable crafted prompt"
"""The ``fallback_`` mark of a fit that returned the fixed-prompt population."""


def check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    """Survey weights of ``n`` human values, normalised to sum 1, shape ``(n,)``; None stays None.

    Raises:
        ValueError: a wrong shape, a negative, NaN or infinite weight, or an all-zero vector.
    """
    from alignment._validation import sample_weights

    return sample_weights("sample_weight", sample_weight, n)


def check_target_values(scenario: Any, values: Any, *, name: str = "target_values") -> np.ndarray:
    """Validate human values for a scenario: non-empty, finite, on the scenario's support.

    Returns:
        The values as floats, shape ``(n,)``.

    Raises:
        ValueError: unordered categories (W1 needs an order), or naming the problem, the first offending index
            and the scenario's range.
    """
    if not scenario.ordered:
        raise ValueError(
            f"scenario {scenario.name!r} has unordered categories: fitting minimises W1, which needs an order; "
            "score fixed or persona populations on it with total variation instead"
        )
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


def default_temperature(values: Any, support: Any, n_components: int, weights: Any = None) -> float:
    r"""The default E-step temperature :math:`\tau` from the data's scale.

    .. math:: \tau = \max\Big(\frac{\operatorname{mean}_i |x_i - \operatorname{median}(x)|}{K},\ \min_j (s_{j+1}-s_j)\Big)

    The mean absolute deviation divided by K is the typical gap between neighbouring components when K prompts
    share the data; distances below one answer step are not resolved.

    Args:
        values: human values, shape ``(n,)``.
        support: answer values, shape ``(S,)``, increasing.
        n_components: K (>= 1).
        weights: optional non-negative weights of the values, shape ``(n,)`` (counts or survey weights); the
            median and the mean absolute deviation are then weighted.

    Returns:
        :math:`\tau > 0`.

    Example:
        >>> default_temperature([0, 0, 10, 10], [0, 5, 10], 1)
        5.0
    """
    x = np.asarray(values, dtype=float)
    s = np.asarray(support, dtype=float)
    step = float(np.diff(s).min()) if s.size > 1 else 1.0
    if weights is None:
        mad = float(np.mean(np.abs(x - np.median(x))))
    else:
        w = np.asarray(weights, dtype=float)
        order = np.argsort(x, kind="stable")
        cum = np.cumsum(w[order])
        median = float(x[order][np.searchsorted(cum, 0.5 * cum[-1])])  # lower weighted median
        mad = float(np.average(np.abs(x - median), weights=w))
    return max(mad / max(int(n_components), 1), step)


def e_step(
    distances: Any,
    weights: Any,
    *,
    method: str = "posterior",
    temperature: float = 1.0,
    weight_floor: float = 1e-3,
) -> np.ndarray:
    r"""Responsibilities of K components for U observed values (the E-step of Algorithm 1 of [1]).

    Args:
        distances: :math:`d_{ik}`, the expected absolute distance of component k's answers to value i, shape
            ``(U, K)``, non-negative.
        weights: the mixing weights :math:`w`, shape ``(K,)``.
        method: ``"posterior"`` (:math:`r_{ik} \propto \max(w_k, \varepsilon_w) e^{-d_{ik}/\tau}`) or ``"literal"``
            (the paper's :math:`r_{ik} \propto e^{-d_{ik} w_k}`, which inverts the weights; see the module text).
        temperature: :math:`\tau > 0` (posterior only).
        weight_floor: :math:`\varepsilon_w \ge 0` (posterior only).

    Returns:
        Responsibilities, shape ``(U, K)``, each row on the simplex.

    Raises:
        ValueError: an unknown ``method`` (listing the valid ones), bad shapes or a non-positive temperature.

    Example:
        >>> e_step([[0.0, 10.0]], [0.5, 0.5], temperature=10.0).round(3).tolist()
        [[0.731, 0.269]]
    """
    if method not in E_STEPS:
        raise ValueError(f"unknown e_step {method!r}; valid E-steps: {list(E_STEPS)}")
    d = np.asarray(distances, dtype=float)
    w = np.asarray(weights, dtype=float)
    if d.ndim != 2 or w.shape != (d.shape[1],):
        raise ValueError(f"distances must have shape (U, K) and weights (K,), got {d.shape} and {w.shape}")
    if method == "literal":
        logits = -d * w[None, :]
    else:
        if not (np.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        if not weight_floor >= 0:
            raise ValueError(f"weight_floor must be >= 0, got {weight_floor!r}")
        with np.errstate(divide="ignore"):
            prior = np.log(np.maximum(w, weight_floor))
        logits = prior[None, :] - d / temperature
    logits = logits - logits.max(axis=1, keepdims=True)
    resp = np.exp(logits)
    return resp / resp.sum(axis=1, keepdims=True)


@dataclass
class _Component:
    prompt: str
    evaluation: PromptEvaluation
    target: float | None  # None for the default prompt
    crafted: bool


class PromptMixtureBuilder(BaseBuilder):
    r"""Fit a mixture of crafted system prompts to human answers (scikit-learn estimator contract).

    Args:
        method: ``"em"`` (Algorithm 1) or ``"gb"`` (Algorithm 2).
        n_components: K, the number of crafted prompts for EM (GB grows its own; ignored).
        crafter: model writing prompts; None = the respondent.
        respondent: model answering as the prompts (required).
        max_iter: EM iterations (20 as in [1]).
        n_rounds: GB rounds (up to 200 as in [1]).
        patience: GB stops after this many rounds without a W1 improvement larger than ``tol``.
        e_step: ``"posterior"`` (default, :math:`r_{ik} \propto w_k e^{-d_{ik}/\tau}`) or ``"literal"`` (the paper's
            formula, kept for comparison; it inverts the weights — see the module text).
        temperature: the posterior E-step's :math:`\tau`, in answer units; None = :func:`default_temperature`
            (the humans' mean absolute deviation / K, at least one answer step).
        weight_floor: the floor on :math:`w_k` in the posterior E-step, so a zero-weight component can win data.
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
        progress: show progress bars (also subject to ``--quiet`` / ``POPULACE_QUIET``).
        random_state: root seed (targets, assignments, crafting seeds).

    Attributes:
        prompts_: the component system prompts, length K'.
        weights_: mixing weights, shape ``(K',)``.
        component_pmfs_: each prompt's answer distribution, shape ``(K', S)``.
        valid_mass_: each prompt's mean probability mass on valid answers, shape ``(K',)``.
        support_: the scenario's support, shape ``(S,)``.
        targets_: each component's crafting target (None for the default prompt).
        history_: one dict per iteration/round (targets, crafting attempts and failures, accepted changes, prompts,
            weights, fit W1).
        n_iter_: iterations (EM) or rounds (GB) run.
        converged_: whether the stopping rule fired before the iteration limit.
        temperature_: the E-step temperature used (EM posterior; None otherwise).
        fit_loss_: W1 of the fitted mixture to the fit split (exact).
        baseline_loss_: W1 of the default prompt alone to the fit split.
        n_crafted_: crafting jobs that returned a usable prompt.
        n_failed_: crafting jobs that failed (recorded in ``history_`` and skipped).
        failure_reasons_: failed jobs per reason code (:data:`populations.crafting.FAILURE_REASONS`).
        fallback_: ``"no usable crafted prompt"`` when the fit returned the fixed-prompt population, else None.
        cost_: requests, cache hits, backend calls and tokens of the crafter and the respondent.
        population_: the fitted :class:`~populations.persona.Population` (construction ``"em"``/``"gb"``).
    """

    kind: ClassVar[str] = "populace.prompt_mixture"

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
        e_step: str = "posterior",
        temperature: float | None = None,
        weight_floor: float = 1e-3,
        improve_rounds: int = 1,
        max_retries: int = 2,
        weight_method: str = "lp",
        tol: float = 1e-3,
        include_default: bool = True,
        default_prompt: str = DEFAULT_SYSTEM_PROMPT,
        forbid_target_number: bool = True,
        crafter_temperature: float = 0.8,
        crafter_max_tokens: int = 120,
        progress: bool = True,
        random_state: int = 0,
    ) -> None:
        self.method = method
        self.n_components = n_components
        self.crafter = crafter
        self.respondent = respondent
        self.max_iter = max_iter
        self.n_rounds = n_rounds
        self.patience = patience
        self.e_step = e_step
        self.temperature = temperature
        self.weight_floor = weight_floor
        self.improve_rounds = improve_rounds
        self.max_retries = max_retries
        self.weight_method = weight_method
        self.tol = tol
        self.include_default = include_default
        self.default_prompt = default_prompt
        self.forbid_target_number = forbid_target_number
        self.crafter_temperature = crafter_temperature
        self.crafter_max_tokens = crafter_max_tokens
        self.progress = progress
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
            if self.e_step not in E_STEPS:
                raise ValueError(f"unknown e_step {self.e_step!r}; valid E-steps: {list(E_STEPS)}")
            if self.temperature is not None and not (np.isfinite(self.temperature) and self.temperature > 0):
                raise ValueError(f"temperature must be a positive number or None, got {self.temperature!r}")
            if not (np.isfinite(self.weight_floor) and 0 <= self.weight_floor < 1):
                raise ValueError(f"weight_floor must be in [0, 1), got {self.weight_floor!r}")
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
        """Craft one component; a crafting failure is recorded in ``log``, counted, and returns None."""
        try:
            res = self._crafter_fn(target, self._scenario, key=key)
        except CraftingError as exc:
            self.n_failed_ += 1
            self._reasons[exc.reason] += 1
            log.append(
                {
                    "key": list(map(str, key)),
                    "target": target,
                    "failed": str(exc),
                    "reason": exc.reason,
                    "attempts": exc.history,
                }
            )
            return None
        self.n_crafted_ += 1
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
    def fit(self, scenario: Any, values: Any, *, sample_weight: Any = None) -> PromptMixtureBuilder:
        """Fit the mixture to human values of ``scenario``.

        Args:
            scenario: a one-dimensional scenario of the Scenario protocol (``name``, ``support``, ``questions()``,
                ``pmfs()``, ``describe()``, ``describe_target()``).
            values: human answers on the scenario's support, shape ``(n,)`` (the fit split).
            sample_weight: survey weights, shape ``(n,)`` (None: equal). They weight the target distribution, the
                EM responsibility mass of each value and the draw of the initial EM targets.

        Returns:
            self. A fit whose every crafting job failed returns the fixed-prompt population (``fallback_`` says so).

        Raises:
            ValueError: bad parameters (an unknown ``e_step`` lists the valid ones), empty or off-scale values, K
                larger than the data.
            WeightSolverError: the weight solver fit worse than the default prompt it was given.
        """
        values = check_target_values(scenario, values)
        sw = check_sample_weight(sample_weight, values.size)
        self._validate(values.size if sw is None else int(np.count_nonzero(sw)))
        self._scenario = scenario
        self.support_ = np.asarray(scenario.support, dtype=float)
        self._target_pmf = pmf_from_samples(values, self.support_, sw)
        self.n_crafted_, self.n_failed_ = 0, 0
        self._reasons: Counter[str] = Counter()
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
        self.temperature_: float | None = None
        if self.method == "em":
            comps, weights, loss = self._fit_em(values, sw, default, rng)
        else:
            comps, weights, loss = self._fit_gb(default, rng)
        self.fallback_: str | None = None
        if not any(c.crafted for c in comps):
            comps, weights, loss = [default], np.ones(1), self.baseline_loss_
            self.fallback_ = FALLBACK_NO_CRAFTED
            self.history_.append(
                {"fallback": FALLBACK_NO_CRAFTED, "n_failed": self.n_failed_, "failure_reasons": dict(self._reasons)}
            )
        elif (self.include_default or self.method == "gb") and loss > self.baseline_loss_ + 1e-6:
            raise WeightSolverError(
                f"fitted mixture W1 {loss:.6g} exceeds the fixed-prompt baseline {self.baseline_loss_:.6g} although "
                f"the baseline prompt is a candidate; the {self.weight_method!r} weight solver failed "
                "(use weight_method='lp')"
            )
        self.failure_reasons_ = dict(sorted(self._reasons.items()))
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
                "n_crafted": self.n_crafted_,
                "n_failed": self.n_failed_,
                "failure_reasons": self.failure_reasons_,
                "fallback": self.fallback_,
                "cost": self.cost_,
                "params": self.get_params(),
            },
        )
        del self._crafter_fn, self._scenario, self._reasons
        return self

    def _fit_em(
        self, values: np.ndarray, sw: np.ndarray | None, default: _Component, rng: np.random.Generator
    ) -> tuple[list[_Component], np.ndarray, float]:
        uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
        init_log: list[dict] = []
        if sw is None:
            targets = rng.choice(values, size=self.n_components, replace=False)
        else:  # survey weights: a value's mass is its weight total; initial targets drawn by weight
            counts = np.bincount(inverse, weights=sw, minlength=uniq.size)
            targets = rng.choice(values, size=self.n_components, replace=False, p=sw)
        crafted = [
            self._craft(float(t), ("em", "init", k), init_log)
            for k, t in enumerate(
                progress_bar(targets, desc="EM initial prompts", unit="prompt", enabled=self.progress)
            )
        ]
        comps = [c for c in crafted if c is not None]
        self.converged_ = False
        self.n_iter_ = 0
        n_failed = sum(c is None for c in crafted)
        if not comps:
            self.history_.append({"iteration": 0, "crafting": init_log, "n_failed": n_failed})
            return [default], np.ones(1), self.baseline_loss_
        if self.include_default:
            comps = [default, *comps]
        weights, loss = self._fit_weights(comps)
        tau = self.temperature
        if tau is None:
            n_crafted = sum(c.crafted for c in comps)
            tau = (
                default_temperature(values, self.support_, n_crafted)
                if sw is None
                else default_temperature(uniq, self.support_, n_crafted, weights=counts)
            )
        self.temperature_ = float(tau) if self.e_step == "posterior" else None
        self.history_.append(
            {
                "iteration": 0,
                "crafting": init_log,
                "prompts": [c.prompt for c in comps],
                "weights": weights.tolist(),
                "fit_w1": loss,
                "n_failed": n_failed,
            }
        )
        best = (loss, list(comps), weights)
        bar = progress_bar(total=self.max_iter, desc="EM iterations", unit="iter", enabled=self.progress)
        for it in range(1, self.max_iter + 1):
            self.n_iter_ = it
            # E-step over the crafted components only: the default prompt is a fixed LP candidate (the baseline
            # guarantee), not a component of Algorithm 1; letting it own data would hide that data from every
            # re-craftable prompt.
            em_idx = [k for k, c in enumerate(comps) if c.crafted]
            pmfs = np.stack([comps[k].evaluation.pmf for k in em_idx])  # (K, S)
            dist = np.abs(uniq[:, None] - self.support_[None, :]) @ pmfs.T  # (U, K): d_k(x_u)
            resp = e_step(
                dist, weights[em_idx], method=self.e_step, temperature=float(tau), weight_floor=self.weight_floor
            )  # (U, K)
            log: list[dict] = []
            changed = []
            for j, k in enumerate(em_idx):
                comp = comps[k]
                mass = counts * resp[:, j]
                if mass.sum() <= 0:
                    log.append({"component": k, "skipped": "no responsibility on any value"})
                    continue
                target = float(rng.choice(uniq, p=mass / mass.sum()))
                new = self._craft(target, ("em", it, k), log)
                log[-1].update(component=k, old_mean=comp.evaluation.mean)
                if new is None:
                    continue
                old_d = comp.evaluation.expected_distance(self.support_, target)
                new_d = new.evaluation.expected_distance(self.support_, target)
                accept = new_d < old_d and new.prompt != comp.prompt
                log[-1].update(old_distance=old_d, accepted=bool(accept))
                if accept:
                    comps[k] = new
                    changed.append(k)
            new_weights, loss = self._fit_weights(comps)
            shift = float(np.abs(new_weights - weights).max()) if new_weights.shape == weights.shape else np.inf
            weights = new_weights
            self.history_.append(
                {
                    "iteration": it,
                    "crafting": log,
                    "changed": changed,
                    "prompts": [c.prompt for c in comps],
                    "weights": weights.tolist(),
                    "fit_w1": loss,
                    "weight_shift": shift,
                    "responsibility_mass": (counts @ resp / counts.sum()).tolist(),
                }
            )
            bar.update(1)
            bar.set_postfix(fit_w1=f"{loss:.3g}", changed=len(changed))
            if loss < best[0] - 1e-12:
                best = (loss, list(comps), weights)
            if not changed and shift < self.tol:
                self.converged_ = True
                break
        bar.close()
        loss, comps, weights = best
        return comps, weights, loss

    def _fit_gb(self, default: _Component, rng: np.random.Generator) -> tuple[list[_Component], np.ndarray, float]:
        comps = [default]
        weights, loss = np.ones(1), self.baseline_loss_
        self.history_.append({"round": 0, "prompt": default.prompt, "weights": [1.0], "fit_w1": loss})
        best_loss, stale = loss, 0
        self.converged_ = False
        self.n_iter_ = 0
        bar = progress_bar(total=self.n_rounds, desc="GB rounds", unit="round", enabled=self.progress)
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
                    "residual": residual.tolist(),
                    "crafting": log,
                    "weights": weights.tolist(),
                    "fit_w1": loss,
                    "improved": bool(improved),
                }
            )
            bar.update(1)
            bar.set_postfix(fit_w1=f"{loss:.3g}", components=len(comps))
            if improved:
                best_loss, stale = loss, 0
            else:
                stale += 1
                if stale >= self.patience:
                    self.converged_ = True
                    break
        bar.close()
        return comps, weights, loss

    # ----------------------------------------------------------------------------------------- API
    def _fit_record(self) -> dict[str, Any]:
        return {
            "prompts": list(self.prompts_),
            "targets": list(self.targets_),
            "weights": self.weights_.tolist(),
            "component_pmfs": self.component_pmfs_.tolist(),
            "support": self.support_.tolist(),
            "fit_w1": self.fit_loss_,
            "baseline_w1": self.baseline_loss_,
            "n_iter": self.n_iter_,
            "converged": self.converged_,
            "temperature": self.temperature_,
            "n_crafted": self.n_crafted_,
            "n_failed": self.n_failed_,
            "failure_reasons": self.failure_reasons_,
            "fallback": self.fallback_,
            "cost": self.cost_,
            "history": self.history_,
        }
