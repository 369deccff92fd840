r"""The evaluation protocol of the prompt-mixture paper [1], on a held-out half of the humans.

1. Split the humans into a fit and a test half (default 50/50, seeded): :func:`split_humans`.
2. Fit a population on the fit half.
3. Score on the **test** half with W1, two ways (:func:`evaluate_mixture`):

   * *exact* — the mixture's answer distribution :math:`\sum_k w_k p_k` (no sampling noise);
   * *as the paper does* — draw 1,000 prompts by weight and one answer per prompt, repeated ``repeats`` times
     (mean ± SD, as in Tables 2 and 4 of [1]). The one answer is drawn from the prompt's exact answer
     distribution, which is what sampling the respondent at temperature 1 would give, without further LLM calls.

4. The floor: W1 between 1,000 random humans and the rest (:func:`human_floor`).

References:
    [1] "Distributional Alignment for Social Simulation with LLMs: A Prompt Mixture Modeling Approach".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alignment import human_sample_floor_stats, mixture_pmf, wasserstein_1d
from populace_lm.base import LanguageModel
from populations.persona import Population
from populations.responses import answer_distributions

__all__ = ["evaluate_mixture", "human_floor", "population_pmfs", "split_humans"]


def split_humans(
    values: Any, *, fit_fraction: float = 0.5, rng: np.random.Generator | int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random fit/test split of human values.

    Args:
        values: human answers, shape ``(n,)``.
        fit_fraction: share of humans in the fit half, in (0, 1).
        rng: generator or int seed.

    Returns:
        ``(fit, test)``, shapes ``(n_fit,)`` and ``(n - n_fit,)``.

    Raises:
        ValueError: fewer than 2 values, or a fraction that leaves a half empty.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"human values must be one-dimensional, got shape {x.shape}")
    if not 0.0 < fit_fraction < 1.0:
        raise ValueError(f"fit_fraction must be in (0, 1), got {fit_fraction}")
    n_fit = int(round(fit_fraction * x.size))
    if n_fit < 1 or n_fit >= x.size:
        raise ValueError(
            f"splitting {x.size} human values with fit_fraction={fit_fraction} leaves an empty half; "
            "need more humans or another fraction"
        )
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    perm = gen.permutation(x.size)
    return x[perm[:n_fit]], x[perm[n_fit:]]


def evaluate_mixture(
    weights: Any,
    component_pmfs: Any,
    support: Any,
    test_values: Any,
    *,
    n_prompts: int = 1000,
    repeats: int = 10,
    rng: np.random.Generator | int | None = 0,
) -> dict[str, float]:
    """W1 of a mixture population to held-out humans, exactly and with the paper's sampling protocol.

    Args:
        weights: mixing weights, shape ``(K,)``.
        component_pmfs: component answer distributions, shape ``(K, S)``.
        support: answer values, shape ``(S,)``.
        test_values: held-out human answers, shape ``(m,)``.
        n_prompts: prompts drawn by weight per repeat (one answer each).
        repeats: repeats of the sampled evaluation.
        rng: generator or int seed of the draws.

    Returns:
        ``{"w1_exact", "w1_sampled_mean", "w1_sampled_sd", "n_prompts", "repeats"}``.
    """
    test = np.asarray(test_values, dtype=float)
    if test.size == 0:
        raise ValueError("the test split is empty: nothing to evaluate against")
    s = np.asarray(support, dtype=float)
    pmfs = np.asarray(component_pmfs, dtype=float)
    w = np.asarray(weights, dtype=float)
    mix = mixture_pmf(w, pmfs)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    sampled = []
    cdfs = np.cumsum(pmfs, axis=1)
    for _ in range(repeats):
        comp = gen.choice(len(w), size=n_prompts, p=w / w.sum())
        u = gen.random(n_prompts)
        idx = np.minimum((cdfs[comp] < u[:, None]).sum(axis=1), s.size - 1)
        sampled.append(wasserstein_1d(s[idx], test))
    arr = np.asarray(sampled)
    return {
        "w1_exact": float(wasserstein_1d(s, test, u_weights=mix)),
        "w1_sampled_mean": float(arr.mean()),
        "w1_sampled_sd": float(arr.std(ddof=1)) if repeats > 1 else 0.0,
        "n_prompts": int(n_prompts),
        "repeats": int(repeats),
    }


def human_floor(
    values: Any, *, n: int = 1000, repeats: int = 10, rng: np.random.Generator | int | None = 0
) -> dict[str, float]:
    """The 1,000-human floor: W1 between ``n`` random humans and the rest (mean ± SD over ``repeats``).

    When there are not more than ``n`` humans, ``n`` becomes half of them (stated in the result).
    """
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        raise ValueError(f"the human floor needs at least 2 values, got {x.size}")
    n_used = n if n < x.size else x.size // 2
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    mean, sd = human_sample_floor_stats(x, n=n_used, repeats=repeats, rng=gen)
    return {"w1_mean": mean, "w1_sd": sd, "n": int(n_used), "repeats": int(repeats)}


def population_pmfs(model: LanguageModel, population: Population, scenario: Any) -> dict[str, Any]:
    """Answer distributions of a population's personas on a scenario (shared, cache-friendly requests).

    Returns:
        ``{"pmfs": (K, S), "valid_mass": (K,), "requests", "cached", "backend_calls", "prompt_tokens",
        "completion_tokens"}``.
    """
    tensor = answer_distributions(model, population.personas, scenario.questions())
    pmfs = np.clip(np.asarray(scenario.pmfs(tensor.probs), dtype=float), 0.0, None)
    pmfs /= pmfs.sum(axis=1, keepdims=True)
    return {
        "pmfs": pmfs,
        "valid_mass": tensor.valid_mass.mean(axis=1),
        "requests": tensor.n_requests,
        "cached": tensor.n_cached,
        "backend_calls": tensor.usage.backend_calls,
        "prompt_tokens": tensor.usage.prompt_tokens,
        "completion_tokens": tensor.usage.completion_tokens,
    }
