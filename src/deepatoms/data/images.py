"""The image classification sets of the generalization and robustness atoms: scikit-learn's
digits (8×8, through the shared fixed 70/30 split `digits_split`, the same sets for every seed)
or, for the `paper` presets, the standard MNIST files (train 60,000 / test 10,000, 28×28) from
$DEEPATOMS_DATA (a missing or malformed file is one line, `data.files.DataFileError`). Inputs are
flattened float32 rows. Three selectors of "digits or MNIST", side by side, each with its own
arithmetic (kept as the atoms that use them computed it):

- `image_data` (random-labels, sharp-minima, loss-interpolation): standardised with the training
  set's per-pixel statistics (`standardiser`), which it returns;
- `labelled_images` (distillation, optimizer-minima, pretraining): MNIST standardised with a
  floor on the per-pixel spread (constant border pixels), or in [0, 1] with `unit=True`
  (autoencoders with a cross-entropy reconstruction need that); `with_validation` holds out a
  fixed stratified part of the training set;
- `unit_images` (the robustness atoms): pixels in [0, 1] (digits / 16, MNIST / 255), so that an
  ℓ∞ budget ε is a fraction of the pixel range as on MNIST in the sources; `upsample` enlarges
  them bilinearly.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from .digits_split import digits_split
from .digits_tasks import digits, standardiser, stratified_split
from .files import load_mnist

DATASETS = ("digits", "mnist")
CLASSES = 10
VALIDATION_SEED = 20100301  # labelled_images: one fixed validation split of the training part


# image_data: standardised with the training set's per-pixel statistics
@dataclasses.dataclass(frozen=True)
class ImageData:
    """x_* (N, d) float32 standardised with the training set's per-pixel statistics, y_* (N,);
    mean, std (d,) those statistics (x = (raw − mean) / std)."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @property
    def dim(self) -> int:
        return self.x_train.shape[1]


def image_data(name: str) -> ImageData:
    """'digits': the shared fixed 70/30 split of load_digits (1,257 / 540, 8×8); 'mnist': the
    standard 60,000 / 10,000 IDX files from $DEEPATOMS_DATA (a missing file is one line)."""
    if name == "digits":
        d = digits_split()
        mean, std = standardiser(digits()[0][d.train_index])
        return ImageData(d.x_train, d.y_train, d.x_test, d.y_test, mean, std)
    (xa, ya), (xb, yb) = load_mnist(split="train"), load_mnist(split="test")
    xa = xa.reshape(len(xa), -1).astype(np.float32)
    xb = xb.reshape(len(xb), -1).astype(np.float32)
    mean, std = standardiser(xa)
    return ImageData(((xa - mean) / std).astype(np.float32), ya,
                     ((xb - mean) / std).astype(np.float32), yb, mean, std)


# labelled_images: standardised (MNIST with a floor on the spread) or in [0, 1]
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


def _mnist_images(unit: bool) -> Images:
    (xtr, ytr), (xte, yte) = load_mnist(None, "train"), load_mnist(None, "test")
    xtr = xtr.reshape(len(xtr), -1).astype(np.float32) / 255.0
    xte = xte.reshape(len(xte), -1).astype(np.float32) / 255.0
    if not unit:
        mean, std = xtr.mean(0), np.maximum(xtr.std(0), 1e-2)  # constant border pixels: no blow-up
        xtr, xte = (xtr - mean) / std, (xte - mean) / std
    return Images(xtr.astype(np.float32), ytr, xte.astype(np.float32), yte)


def labelled_images(dataset: str, unit: bool = False) -> Images:
    """The named data set, standardised or (`unit`) in [0, 1] (see the module docstring)."""
    if dataset == "mnist":
        return _mnist_images(unit)
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


# unit_images: pixels in [0, 1]
@dataclasses.dataclass(frozen=True)
class UnitImages:
    """x_* (N, side·side) float32 in [0, 1], y_* (N,) int64; `side` the image side."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    side: int


def _first(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    return (x, y) if n <= 0 else (x[:n], y[:n])


def unit_images(dataset: str, n_train: int = 0, n_test: int = 0) -> UnitImages:
    """The data set in [0, 1]: `n_train`/`n_test` > 0 keep the first that many rows (MNIST's
    files are in a fixed order; 0 keeps all)."""
    if dataset == "digits":
        s = digits_split(unit=True)
        parts = (s.x_train, s.y_train, s.x_test, s.y_test)
        side = 8
    elif dataset == "mnist":
        xtr, ytr = load_mnist(split="train")
        xte, yte = load_mnist(split="test")
        parts = (xtr.reshape(len(xtr), -1).astype(np.float32) / 255.0, ytr,
                 xte.reshape(len(xte), -1).astype(np.float32) / 255.0, yte)
        side = 28
    else:
        raise ValueError(f"unknown data set {dataset!r}; allowed: {', '.join(DATASETS)}")
    xtr, ytr = _first(parts[0], parts[1], n_train)
    xte, yte = _first(parts[2], parts[3], n_test)
    return UnitImages(xtr, ytr.astype(np.int64), xte, yte.astype(np.int64), side)


def upsample(x: torch.Tensor, side: int, size: int) -> torch.Tensor:
    """(N, side·side) → (N, 1, size, size) by bilinear interpolation (values stay in [0, 1])."""
    img = x.reshape(-1, 1, side, side)
    if size == side:
        return img.clone()
    return F.interpolate(img, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
