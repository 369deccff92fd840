"""Shared input checks: every failure is a ``ValueError`` naming the argument and its shape."""

from __future__ import annotations

import numpy as np

PMF_ATOL = 1e-6


def as_samples_1d(name: str, values) -> np.ndarray:
    """Return ``values`` as a finite float64 array of shape ``(n,)`` with ``n >= 1``."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D with shape (n,), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); at least one sample is needed")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values (shape {arr.shape})")
    return arr


def as_samples_2d(name: str, values, *, min_rows: int = 1) -> np.ndarray:
    """Return ``values`` as a finite float64 array of shape ``(n, D)`` with ``n >= min_rows``."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D with shape (n, D), got shape {arr.shape}")
    if arr.shape[0] < min_rows or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty or too small: shape {arr.shape}, need at least {min_rows} row(s)")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values (shape {arr.shape})")
    return arr


def same_dim(name_x: str, x: np.ndarray, name_y: str, y: np.ndarray) -> None:
    """Raise unless ``x`` (n, D) and ``y`` (m, D) share their second dimension."""
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"{name_x} and {name_y} must have the same number of columns, got shapes {x.shape} and {y.shape}"
        )


def sample_weights(name: str, weights, n: int) -> np.ndarray | None:
    """Check optional non-negative sample weights of shape ``(n,)``; return them normalised to sum 1."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the samples, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} contains NaN or infinite values (shape {w.shape})")
    if np.any(w < 0):
        raise ValueError(f"{name} contains negative weights (shape {w.shape})")
    total = w.sum()
    if total <= 0:
        raise ValueError(f"{name} sums to zero (shape {w.shape}); at least one weight must be positive")
    return w / total


def pmf(name: str, values, *, shape: tuple[int, ...] | None = None, axis: int = -1) -> np.ndarray:
    """Check a probability vector (or stack of them along ``axis``): finite, non-negative, summing to 1."""
    arr = np.asarray(values, dtype=np.float64)
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values (shape {arr.shape})")
    if np.any(arr < 0):
        raise ValueError(f"{name} contains negative probabilities (shape {arr.shape})")
    sums = arr.sum(axis=axis)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=PMF_ATOL):
        worst = float(np.max(np.abs(np.atleast_1d(sums) - 1.0)))
        raise ValueError(
            f"{name} is not normalised: sums along axis {axis} differ from 1 by up to {worst:.3g} (shape {arr.shape})"
        )
    return arr


def support(name: str, values) -> np.ndarray:
    """Check a strictly increasing finite support of shape ``(S,)``."""
    arr = as_samples_1d(name, values)
    if arr.shape[0] > 1 and np.any(np.diff(arr) <= 0):
        raise ValueError(f"{name} must be strictly increasing (shape {arr.shape})")
    return arr


def positive_int(name: str, value) -> int:
    """Check a strictly positive integer."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
