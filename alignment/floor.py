r"""The human sampling floor: how far two random halves of the *human* data are from each other.

A simulated population cannot be expected to score better than a second sample of real people of
the same size. The floor is the distance between ``n`` humans drawn without replacement and the
remaining ``m - n`` humans: W1 for a single item, AMW for D items.

References:
    [1] "Distributional Alignment for Social Simulation with LLMs: A Prompt Mixture Modeling
        Approach" (human-to-human baselines for W1).
    [2] "Population-Aligned Persona Generation for LLM-based Social Simulation" (AMW).

"""

from __future__ import annotations

import numpy as np

from alignment import _validation as v
from alignment.metrics import average_marginal_wasserstein, wasserstein_1d

__all__ = ["human_sample_floor", "human_sample_floor_stats"]


def _human(human) -> np.ndarray:
    arr = np.asarray(human, dtype=np.float64)
    if arr.ndim == 1:
        return v.as_samples_1d("human", arr)
    return v.as_samples_2d("human", arr)


def human_sample_floor(human, *, n: int = 1000, rng: np.random.Generator) -> float:
    r"""Distance between ``n`` random humans (without replacement) and the rest.

    .. math:: \text{floor} = W_1(H_S, H_{\bar S}) \ \text{(1-D)} \quad\text{or}\quad
              \mathrm{AMW}(H_S, H_{\bar S}) \ \text{(D-d)}, \qquad |S| = n

    Args:
        human: array-like, shape (m,) or (m, D), with ``m > n``.
        n: size of the held-out subsample (use the simulated population's size).
        rng: generator of the split.

    Returns:
        float: the floor for this split.

    Raises:
        ValueError: ``n`` not in ``[1, m - 1]`` or bad ``human``.

    Examples:
        >>> human_sample_floor(np.zeros(10), n=4, rng=np.random.default_rng(0))
        0.0

    """
    h = _human(human)
    n = v.positive_int("n", n)
    if n >= h.shape[0]:
        raise ValueError(f"n = {n} must be smaller than the number of humans (human shape {h.shape})")
    perm = rng.permutation(h.shape[0])
    a, b = h[perm[:n]], h[perm[n:]]
    return wasserstein_1d(a, b) if h.ndim == 1 else average_marginal_wasserstein(a, b)


def human_sample_floor_stats(
    human, *, n: int = 1000, repeats: int = 10, rng: np.random.Generator
) -> tuple[float, float]:
    """Mean and standard deviation (ddof=1; 0 for one repeat) of :func:`human_sample_floor` over splits.

    Args:
        human: array-like, shape (m,) or (m, D).
        n: size of the held-out subsample.
        repeats: number of independent random splits.
        rng: generator of the splits.

    Returns:
        tuple[float, float]: ``(mean, sd)``.

    Examples:
        >>> human_sample_floor_stats(np.ones((20, 2)), n=5, repeats=3, rng=np.random.default_rng(0))
        (0.0, 0.0)

    """
    repeats = v.positive_int("repeats", repeats)
    vals = np.array([human_sample_floor(human, n=n, rng=rng) for _ in range(repeats)])
    return float(vals.mean()), float(vals.std(ddof=1)) if repeats > 1 else 0.0
