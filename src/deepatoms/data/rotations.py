"""Random rotations of a data matrix, drawn from an explicit numpy Generator."""
from __future__ import annotations

import numpy as np


def haar_frame(rng: np.random.Generator, dim: int, rank: int) -> np.ndarray:
    """(dim, rank) matrix with orthonormal columns, uniformly distributed (Haar): the first
    `rank` columns of a uniformly random rotation of R^dim (QR of a Gaussian, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((dim, rank)))
    return q * np.sign(np.diag(r))


def rotate_rows(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """x Q for a uniformly random rotation Q of R^D; x (N, D) → (N, D).

    When D > N only the N-dimensional row space of x matters: with x = U S Vᵀ (thin SVD),
    x Q = (U S)(VᵀQ), and VᵀQ is a uniformly random N-frame of R^D, so an (D, N) Haar frame
    replaces the D × D rotation (O(D N²) instead of O(D³) work, same distribution)."""
    n, dim = x.shape
    if dim <= n:
        return x @ haar_frame(rng, dim, dim)
    u, s, _ = np.linalg.svd(x, full_matrices=False)  # u (N, N), s (N,)
    return (u * s) @ haar_frame(rng, dim, n).T
