"""The synthetic world of test-set-reuse: a known data-generating process for a 10-class problem.

Each class k is a mixture of sub-populations ("kinds" of images): sub-population j of class k is
a Gaussian around c_k + spread·u_kj (c_k, u_kj ~ N(0, I_d), drawn once per world) with noise σ.
Sub-populations have unequal frequencies π (common kinds first). The *collection process* is
(π, σ): a shifted process draws the rarer kinds more often and slightly noisier examples, the
kind of small change Recht et al. (2018) suggest for CIFAR-10.1.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class World:
    centres: np.ndarray   # (K, d)
    offsets: np.ndarray   # (K, J, d)
    spread: float

    @property
    def dims(self) -> int:
        return self.centres.shape[1]


def make_world(rng: np.random.Generator, classes: int, subpops: int, dims: int,
               spread: float) -> World:
    return World(rng.standard_normal((classes, dims)),
                 rng.standard_normal((classes, subpops, dims)), spread)


def frequencies(subpops: int, shift: float) -> np.ndarray:
    """Sub-population frequencies: ∝ 2^(−j) for the original process; the shifted process
    moves a fraction `shift` of the mass to the reversed order (rare kinds become common)."""
    base = 2.0 ** -np.arange(subpops)
    base /= base.sum()
    return (1 - shift) * base + shift * base[::-1]


def sample(world: World, rng: np.random.Generator, n: int, noise: float,
           freq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """n examples (x (n, d) float32, y (n,) int64): class uniform, kind from `freq`, Gaussian
    noise of standard deviation `noise` — vectorised."""
    k, j = world.offsets.shape[:2]
    y = rng.integers(0, k, n)
    kind = rng.choice(j, size=n, p=freq)
    mean = world.centres[y] + world.spread * world.offsets[y, kind]
    x = mean + noise * rng.standard_normal((n, world.dims))
    return x.astype(np.float32), y.astype(np.int64)
