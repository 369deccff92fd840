"""The one fit/test split of human respondents used by every command.

Rows of a human data set are split by a seeded permutation that depends only on the root ``seed`` and the number
of rows (the stream ``("split",)`` of the one seed contract, :mod:`populace_lm.seeds`), so ``demo``, ``fit``, ``compare`` and the experiments put the same respondents in the test half for the
same ``--seed``. Scores are computed from the rows of a half (a respondent with a missing answer drops out of that
score only), so a one-dimensional score and a multi-item response vector share the split.
"""

from __future__ import annotations

import numpy as np

from populace_lm.seeds import seed_rng

__all__ = ["SPLITS", "split_indices"]

SPLITS = ("all", "fit", "test")


def split_indices(n: int, *, seed: int, fit_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the fit and test halves.

    Args:
        n: number of human rows.
        seed: the run's root seed.
        fit_fraction: share of rows in the fit half, in (0, 1).

    Returns:
        ``(fit_idx, test_idx)``, sorted int arrays of shapes ``(n_fit,)`` and ``(n - n_fit,)`` that partition
        ``range(n)``, with ``n_fit = round(fit_fraction * n)``.

    Raises:
        ValueError: ``n < 2``, or a fraction that leaves a half empty.

    Example:
        >>> fit, test = split_indices(10, seed=0)
        >>> sorted(np.concatenate([fit, test]).tolist()) == list(range(10))
        True
    """
    from scenarios.errors import ScenarioError

    if not 0.0 < fit_fraction < 1.0:
        raise ScenarioError(f"fit_fraction must be in (0, 1), got {fit_fraction}")
    n_fit = int(round(fit_fraction * n))
    if n < 2 or n_fit < 1 or n_fit >= n:
        raise ScenarioError(
            f"splitting {n} human rows with fit_fraction={fit_fraction} leaves an empty half; need more humans"
        )
    perm = seed_rng(seed, "split").permutation(n)
    return np.sort(perm[:n_fit]), np.sort(perm[n_fit:])
