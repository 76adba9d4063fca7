"""Private data helper of the gen-b atoms (distillation, optimizer-minima, pretraining): the
image classification sets they train on.

- "digits": scikit-learn's digits through the shared fixed 70/30 split (`digits_split`), the
  same train/test sets for every seed;
- "mnist": the standard MNIST files (train 60,000 / test 10,000) from $DEEPATOMS_DATA, for the
  `paper` presets; a missing or malformed file is one line (`data.files.DataFileError`).

Inputs are flattened, float32, standardised with the training set's statistics, or in [0, 1]
with `unit=True` (autoencoders with a cross-entropy reconstruction need that).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ...data.digits_split import digits_split
from ...data.digits_tasks import stratified_split
from ...data.files import load_mnist

DATASETS = ("digits", "mnist")
VALIDATION_SEED = 20100301  # one fixed validation split of the training part, for every seed


@dataclasses.dataclass(frozen=True)
class Images:
    """x_* (N, d) float32, y_* (N,) int64."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def dims(self) -> int:
        return int(self.x_train.shape[1])


def _mnist(unit: bool) -> Images:
    (xtr, ytr), (xte, yte) = load_mnist(None, "train"), load_mnist(None, "test")
    xtr = xtr.reshape(len(xtr), -1).astype(np.float32) / 255.0
    xte = xte.reshape(len(xte), -1).astype(np.float32) / 255.0
    if not unit:
        mean, std = xtr.mean(0), np.maximum(xtr.std(0), 1e-2)  # constant border pixels: no blow-up
        xtr, xte = (xtr - mean) / std, (xte - mean) / std
    return Images(xtr.astype(np.float32), ytr, xte.astype(np.float32), yte)


def load(dataset: str, unit: bool = False) -> Images:
    """The named data set (see the module docstring)."""
    if dataset == "mnist":
        return _mnist(unit)
    s = digits_split(unit=unit)
    return Images(s.x_train, s.y_train, s.x_test, s.y_test)


def with_validation(data: Images, fraction: float) -> tuple[Images, np.ndarray, np.ndarray]:
    """(data whose training part is the rest, x_val, y_val): a fixed stratified `fraction` of
    the training part held out (the same for every seed)."""
    rng = np.random.default_rng(VALIDATION_SEED)
    keep, val = stratified_split(rng, data.y_train, 1.0 - fraction)
    keep, val = np.sort(keep), np.sort(val)
    rest = Images(data.x_train[keep], data.y_train[keep], data.x_test, data.y_test)
    return rest, data.x_train[val], data.y_train[val]
