"""Piecewise-linear (PWL) curves of the failures paper §4.1 (seed 000), vectorised.

A curve on the grid x = 0..n−1 is f = p @ W with W[i, x] = [x − i + 1]₊ (`kink_matrix`): p[i] is
the change of slope at grid point i − 1. The inverse of W is a convolution with [1, −2, 1]:
p[x] = f[x] − 2 f[x−1] + f[x−2].
"""
from __future__ import annotations

import numpy as np

from ..errors import ParamError

# The authors' code: four slope patterns for k = 3 pieces.
SLOPE_SETS = np.array([[1, -1, 1], [1, -2, 1], [-2, 1, -1], [1, -1, 2]], dtype=np.float64)
N_KINKS = 3
MIN_N = 9  # kink positions are 3 + three distinct draws from 0..n−7
FILTER = np.array([1.0, -2.0, 1.0])  # the exact inverse filter (taps on f[x], f[x−1], f[x−2])


def kink_matrix(n: int) -> np.ndarray:
    """W: (n, n) float64 with W[i, x] = max(0, x − i + 1), so that f = p @ W."""
    if n < 1:
        raise ParamError(f"parameter 'n' must be >= 1, got {n}")
    grid = np.arange(n, dtype=np.float64)
    return np.maximum(0.0, grid[None, :] - grid[:, None] + 1.0)


def sparse_kink_curves(rng: np.random.Generator, m: int, n: int = 100
                       ) -> tuple[np.ndarray, np.ndarray]:
    """m curves with 3 kinks at integer positions (the code's FtoK data).

    Kink indices: 3 + sorted distinct draws from 0..n−7; slopes one of SLOPE_SETS; p holds the
    successive slope differences at the kink indices. Returns f: (m, n), p: (m, n), float32.
    """
    if n < MIN_N:
        raise ParamError(f"parameter 'n' must be >= {MIN_N} (3 distinct kinks in 0..n−7), got {n}")
    if m < 1:
        raise ParamError(f"the number of curves must be >= 1, got {m}")
    # distinct draws without replacement, vectorised: the first 3 of a random permutation
    keys = rng.random((m, n - 6))
    kinks = 3 + np.sort(np.argsort(keys, axis=1)[:, :N_KINKS], axis=1)  # (m, 3)
    slopes = SLOPE_SETS[rng.integers(len(SLOPE_SETS), size=m)]  # (m, 3)
    jumps = np.diff(slopes, axis=1, prepend=0.0)  # (m, 3): a_0 = s_0, a_j = s_j − s_{j−1}
    p = np.zeros((m, n))
    np.put_along_axis(p, kinks, jumps, axis=1)
    f = p @ kink_matrix(n)
    return f.astype(np.float32), p.astype(np.float32)


def continuous_kink_curves(rng: np.random.Generator, m: int, n: int = 100, k: int = 3
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """m curves f(x) = Σ_j a_j [x − θ_j]₊ with θ ~ U(0, n), a ~ U[−1, 1] (the autoencoder data).

    Returns f: (m, n) float32, thetas: (m, k), slope changes a: (m, k) (float64).
    """
    if n < 2:
        raise ParamError(f"parameter 'n' must be >= 2, got {n}")
    if k < 1:
        raise ParamError(f"parameter 'k' (kinks per curve) must be >= 1, got {k}")
    thetas = rng.uniform(0.0, n, size=(m, k))
    coeffs = rng.uniform(-1.0, 1.0, size=(m, k))
    grid = np.arange(n, dtype=np.float64)
    f = (np.maximum(0.0, grid[None, :, None] - thetas[:, None, :]) * coeffs[:, None, :]).sum(-1)
    return f.astype(np.float32), thetas, coeffs


def conv_patches(f: np.ndarray) -> np.ndarray:
    """The 3-tap inputs (f[x], f[x−1], f[x−2]) for x = 2..n−1: f (..., n) → (..., n − 2, 3)."""
    return np.stack([f[..., 2:], f[..., 1:-1], f[..., :-2]], axis=-1)


def patch_covariance(f: np.ndarray) -> np.ndarray:
    """C = E[patch patchᵀ] over all curves and positions: f (m, n) → (3, 3) float64."""
    patches = conv_patches(np.asarray(f, dtype=np.float64)).reshape(-1, 3)
    return patches.T @ patches / len(patches)


def inverse_sqrt(c: np.ndarray) -> np.ndarray:
    """C^{−1/2} of a symmetric positive-definite matrix (eigendecomposition, float64)."""
    s, v = np.linalg.eigh(c)
    if s.min() <= 0:
        raise ParamError("the patch covariance is singular; use more or longer curves")
    return (v * s ** -0.5) @ v.T
