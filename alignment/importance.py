r"""KDE importance sampling of a candidate pool toward a human sample.

Each candidate :math:`x_i` of the pool gets the density ratio

.. math::
    w_i \propto \frac{\hat p_{\text{human}}(x_i)}{\hat p_{\text{pool}}(x_i)}, \qquad
    \hat p_Y(x) = \frac{1}{|Y|}\sum_{y \in Y} \exp\Big(-\frac{\|x - y\|^2}{2h^2}\Big),

two isotropic Gaussian KDEs with the same bandwidth :math:`h` (their normalising constants cancel),
the estimator of the persona-alignment paper [1] (bandwidth 0.20 on standardised responses, then the
top 70 % by weight kept and M candidates drawn without replacement). It is the same density as
``sklearn.neighbors.KernelDensity(bandwidth=h)``; ``scipy.stats.gaussian_kde`` instead scales the
kernel by the data covariance, so it is not used here.

Scaling: the sums are computed exactly in float64 log-space (``scipy.special.logsumexp``) over blocks
of pool rows, with squared distances from float32 matrix products; memory is O(block_size · (N + M))
and time O(N (N + M) D). With ``max_reference`` each density is a Monte-Carlo estimate from at most
that many reference points drawn without replacement (``seed``): the kernel mean over a uniform
subsample is an unbiased estimate of the full-sample KDE, so N = M = 1e5, D = 50 runs in
O(N · max_reference · D).

References:
    [1] "Population-Aligned Persona Generation for LLM-based Social Simulation".
    [2] Sugiyama, M., Suzuki, T. & Kanamori, T. (2012). Density Ratio Estimation in Machine Learning.

"""

from __future__ import annotations

import numpy as np
import scipy.special

from alignment import _validation as v

__all__ = ["importance_resample", "kde_importance_weights", "standardize"]


def standardize(pool, human) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardise both samples with the *human* column means and standard deviations.

    Columns where the humans are constant get scale 1 (they are only centred).

    Args:
        pool: array-like, shape (N, D).
        human: array-like, shape (M, D), ``M >= 2``.

    Returns:
        tuple: ``pool_z`` (N, D), ``human_z`` (M, D), ``mean`` (D,), ``scale`` (D,).

    Examples:
        >>> p, h, mean, scale = standardize([[2.0]], [[0.0], [2.0]])
        >>> p.ravel(), mean, scale
        (array([1.]), array([1.]), array([1.]))

    """
    p = v.as_samples_2d("pool", pool)
    h = v.as_samples_2d("human", human, min_rows=2)
    v.same_dim("pool", p, "human", h)
    mean = h.mean(axis=0)
    scale = h.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return (p - mean) / scale, (h - mean) / scale, mean, scale


def _log_kde(points: np.ndarray, ref: np.ndarray, h: float, block: int) -> np.ndarray:
    """Log of mean_j exp(-|x_i - r_j|^2 / (2 h^2)) for each row of ``points`` (float32 products)."""
    ref32 = ref.astype(np.float32)
    ref_sq = (ref32 * ref32).sum(axis=1)
    out = np.empty(points.shape[0])
    for start in range(0, points.shape[0], block):
        blk = points[start : start + block].astype(np.float32)
        d2 = (blk * blk).sum(axis=1)[:, None] + ref_sq[None, :] - 2.0 * (blk @ ref32.T)
        np.maximum(d2, 0.0, out=d2)
        out[start : start + block] = scipy.special.logsumexp(d2 * np.float32(-0.5 / h**2), axis=1)
    return out - np.log(ref.shape[0])


def kde_importance_weights(
    pool,
    human,
    *,
    bandwidth: float = 0.2,
    block_size: int = 1024,
    max_reference: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Normalised density-ratio weights ``p_human / p_pool`` at the pool points.

    Inputs must already be standardised by the caller (see :func:`standardize`): the kernel is
    isotropic with the same ``bandwidth`` in every column.

    Args:
        pool: array-like, shape (N, D). Candidate response vectors.
        human: array-like, shape (M, D). Human response vectors.
        bandwidth: kernel standard deviation ``h > 0`` (paper: 0.20).
        block_size: pool rows per block (memory is ``block_size x (N + M)`` float32).
        max_reference: when set, each KDE uses a seeded random subset of at most this many reference
            points (an unbiased Monte-Carlo estimate of the full KDE); exact when ``None``.
        seed: seed of the reference subsets.

    Returns:
        np.ndarray, shape (N,): non-negative weights summing to 1.

    Examples:
        >>> w = kde_importance_weights([[0.0], [3.0]], [[0.0], [0.1]], bandwidth=0.5)
        >>> bool(w[0] > 0.99), float(w.sum())
        (True, 1.0)

    """
    p = v.as_samples_2d("pool", pool)
    h = v.as_samples_2d("human", human)
    v.same_dim("pool", p, "human", h)
    if not (np.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth must be a positive finite float, got {bandwidth!r}")
    block_size = v.positive_int("block_size", block_size)
    rng = np.random.default_rng(seed)

    def ref(a: np.ndarray) -> np.ndarray:
        if max_reference is None or a.shape[0] <= max_reference:
            return a
        return a[rng.choice(a.shape[0], v.positive_int("max_reference", max_reference), replace=False)]

    log_w = _log_kde(p, ref(h), bandwidth, block_size) - _log_kde(p, ref(p), bandwidth, block_size)
    w = np.exp(log_w - log_w.max())
    return w / w.sum()


def importance_resample(weights, m: int, *, rng: np.random.Generator, keep_fraction: float | None = None):
    """Draw ``m`` distinct candidates with probability proportional to their weights.

    With ``keep_fraction`` only the top ``ceil(keep_fraction * N)`` candidates by weight are kept
    first (the paper kept 0.7) and the weights renormalised over them.

    Args:
        weights: array-like, shape (N,). Non-negative, summing to 1.
        m: number of candidates to draw (at most the number of kept candidates with positive weight).
        rng: generator of the draw.
        keep_fraction: optional fraction in (0, 1].

    Returns:
        np.ndarray of int, shape (m,): distinct pool indices.

    Examples:
        >>> importance_resample([0.0, 0.5, 0.5], 2, rng=np.random.default_rng(0)).tolist()
        [2, 1]

    """
    w = v.pmf("weights", weights)
    if w.ndim != 1:
        raise ValueError(f"weights must have shape (N,), got shape {w.shape}")
    m = v.positive_int("m", m)
    idx = np.arange(w.shape[0])
    if keep_fraction is not None:
        if not 0 < keep_fraction <= 1:
            raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction!r}")
        n_keep = int(np.ceil(keep_fraction * w.shape[0]))
        idx = np.argsort(-w, kind="stable")[:n_keep]
    kept = w[idx]
    if np.count_nonzero(kept) < m:
        raise ValueError(
            f"m = {m} exceeds the {np.count_nonzero(kept)} kept candidates with positive weight "
            f"(weights shape {w.shape}, keep_fraction={keep_fraction})"
        )
    return rng.choice(idx, size=m, replace=False, p=kept / kept.sum())
