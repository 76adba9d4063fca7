"""Private data helpers of the robustness atoms: images with pixels in [0, 1], so that an ℓ∞
budget ε means a fraction of the pixel range, as on MNIST in the sources.

scikit-learn's digits are 8×8 with integer pixels in [0, 16]; they are divided by 16 (the
shared fixed 70/30 split, `digits_split(unit=True)`). MNIST (the `paper` presets) is read from
DEEPATOMS_DATA by `data.files.load_mnist` and divided by 255.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from ...data.digits_split import digits_split
from ...data.files import load_mnist

DATASETS = ("digits", "mnist")


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
