"""Two interleaving half circles ("two moons"), as scikit-learn's `make_moons`, drawn from an
explicit numpy Generator."""
from __future__ import annotations

import numpy as np

from ..errors import ParamError


def two_moons(rng: np.random.Generator, n: int, noise: float = 0.1
              ) -> tuple[np.ndarray, np.ndarray]:
    """n points (x: (n, 2) float32, y: (n,) int64), shuffled.

    Class 0: the upper arc (cos t, sin t); class 1: the lower arc (1 − cos t, ½ − sin t),
    t evenly spaced in [0, π]; Gaussian noise of standard deviation `noise` on both coordinates.
    """
    if n < 2:
        raise ParamError(f"parameter 'n' must be >= 2 for two moons, got {n}")
    if noise < 0:
        raise ParamError(f"parameter 'noise' must be >= 0, got {noise}")
    n0 = n // 2
    n1 = n - n0
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    x = np.concatenate([upper, lower]) + rng.normal(0.0, noise, size=(n, 2))
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    order = rng.permutation(n)
    return x[order].astype(np.float32), y[order]
