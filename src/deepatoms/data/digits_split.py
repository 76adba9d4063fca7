"""The one seeded split of scikit-learn's digits shared by the image atoms (generalization,
robustness, architecture families): standardised with the training set's statistics, 70/30
stratified. `fixed=True` (the catalog's default, "fixed 70/30 split unless stated") draws the
split from one constant stream, so every seed sees the same train/test sets and seeds differ
only in what the atom draws itself (init, batches, labels); `fixed=False` draws it per seed.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .digits_tasks import digits, standardiser, stratified_split

FIXED_SPLIT_SEED = 20170101


@dataclasses.dataclass(frozen=True)
class DigitsSplit:
    """Arrays: x_* (N, 64) float32 standardised (or in [0, 1] with `unit=True`), y_* (N,) int64;
    `pixels_*` the raw 8×8 images in [0, 16] for figures."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    def images(self, part: str = "train") -> np.ndarray:
        """(N, 1, 8, 8) float32 images of the same pixels, for convolutional models."""
        x = self.x_train if part == "train" else self.x_test
        return x.reshape(-1, 1, 8, 8)


def digits_split(rng: np.random.Generator | None = None, train_fraction: float = 0.7,
                 unit: bool = False) -> DigitsSplit:
    """The split: `rng` None → the fixed split (the same for every seed and atom).
    `unit=True`: pixels scaled to [0, 1] instead of standardised (for attacks with ε in pixel
    units, where the valid input box matters)."""
    x, y = digits()
    rng = rng if rng is not None else np.random.default_rng(FIXED_SPLIT_SEED)
    train, test = stratified_split(rng, y, train_fraction)
    if unit:
        xs = (x / 16.0).astype(np.float32)
    else:
        mean, std = standardiser(x[train])
        xs = ((x - mean) / std).astype(np.float32)
    return DigitsSplit(xs[train], y[train], xs[test], y[test], train, test)
