"""Private helpers of the gen-a atoms (random-labels, sharp-minima, loss-interpolation): the
image data (scikit-learn's digits through the shared fixed split, or MNIST from local IDX files
for the `paper` presets) and a functional ReLU MLP over stacked weights.

Stacked weights as in `engine.MLPPop`: layer l weight (M, n_l, n_{l+1}), bias (M, 1, n_{l+1}).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...data.digits_split import digits_split
from ...data.digits_tasks import digits, standardiser
from ...data.files import load_mnist

DATASETS = ("digits", "mnist")
CLASSES = 10


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


def forward(weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor],
            x: torch.Tensor) -> torch.Tensor:
    """ReLU MLP: x (M, B, d), or (B, d) shared by every model → logits (M, B, classes)."""
    h = x.expand(weights[0].shape[0], *x.shape) if x.dim() == 2 else x
    last = len(weights) - 1
    for l, (w, b) in enumerate(zip(weights, biases)):
        h = torch.baddbmm(b, h, w)
        if l < last:
            h = torch.relu(h)
    return h


@torch.no_grad()
def loss_and_accuracy(logits_of, x: torch.Tensor, y: torch.Tensor, chunk: int = 2048
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy and accuracy (M,) over a whole data set, in chunks of rows.
    `logits_of(x_chunk)` → (M, b, classes); x (N, d) shared or (M, N, d); y (N,) or (M, N)."""
    n = x.shape[-2]
    total_loss, total_hits = 0.0, 0.0
    for a in range(0, n, chunk):
        xs = x[..., a:a + chunk, :]
        logits = logits_of(xs)
        ys = (y[..., a:a + chunk]).expand(logits.shape[:2])
        nll = -F.log_softmax(logits, dim=-1).gather(-1, ys.unsqueeze(-1)).squeeze(-1)
        # one 1-D sum per model: a reduction over an (M, b) block may round differently with M
        total_loss = total_loss + torch.stack([row.sum() for row in nll])
        total_hits = total_hits + (logits.argmax(-1) == ys).sum(1).to(logits.dtype)
    return total_loss / n, total_hits / n
