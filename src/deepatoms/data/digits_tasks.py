"""Tasks cut from scikit-learn's bundled digits (1,797 8×8 images, 10 classes; no download).

`stratified_split` splits every class 70/30 (so each digit keeps ~122 training images);
`few_shot` takes the first k images of each class from one fixed per-class shuffle, so the
k-shot sets of one seed are nested (the 1-shot set is inside the 5-shot set, and so on).
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from ..errors import MissingDependencyError


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        raise MissingDependencyError("the digits tasks need scikit-learn: pip install scikit-learn") from None
    bunch = load_digits()
    return bunch.data.astype(np.float32), bunch.target.astype(np.int64)


def digits() -> tuple[np.ndarray, np.ndarray]:
    """x (1797, 64) float32 pixel values in [0, 16]; y (1797,) int64 digit labels (copies)."""
    x, y = _digits()
    return x.copy(), y.copy()


def stratified_split(rng: np.random.Generator, y: np.ndarray, train_fraction: float = 0.7
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): each class split at random, round(train_fraction · n_c) to train."""
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(train_fraction * len(idx)))
        train.append(idx[:k])
        test.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def few_shot(rng: np.random.Generator, y: np.ndarray, classes: Sequence[int],
             shots: Sequence[int]) -> dict[int, np.ndarray]:
    """For each k in `shots`, indices of k examples of every class in `classes` (nested in k)."""
    order = {c: rng.permutation(np.flatnonzero(y == c)) for c in classes}
    for c, idx in order.items():
        if len(idx) < max(shots):
            raise ValueError(f"class {c} has {len(idx)} examples, fewer than {max(shots)} shots")
    return {k: np.concatenate([order[c][:k] for c in classes]) for k in shots}


def relabel(y: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Map the digits in `classes` to 0..len(classes)−1 (in the given order)."""
    lookup = np.full(10, -1, dtype=np.int64)
    lookup[list(classes)] = np.arange(len(classes))
    out = lookup[y]
    if (out < 0).any():
        raise ValueError("labels outside `classes`")
    return out


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel mean and std of x (N, 64); constant pixels get std 1."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    return mean, np.where(std > 0, std, 1.0).astype(np.float32)
