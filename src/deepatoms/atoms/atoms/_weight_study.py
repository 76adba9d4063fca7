"""The protocol layer-convergence (§11) and weight-regularization (§12) share ("data as
layer-convergence"): its parameters, its data (one random stream, so both atoms draw the same
Gaussian pair per seed) with each seed's Bayes ceiling, and small helpers for evidence labels.

Shapes: S seeds, N points, d dimensions.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from ...data.gaussian import gaussian_pair_with_ceiling, split
from ...errors import ParamError
from ...lab import Lab
from ...params import Params, param
from ...verdict import setting_label
from ._classifier_training import Splits, to_splits

# Both atoms' random streams (data, initial weights, minibatches) are named after the protocol's
# first atom, as the catalog's "data as layer-convergence" says.
STREAM = "layer-convergence"


@dataclasses.dataclass(frozen=True)
class WeightStudyParams(Params):
    """After the original code: Gaussian pair d = 12, μ_i = 1/i, n = 500, MSE to one-hot
    targets, 750 Adam steps on fresh random subsets of 64 distinct points."""
    d: int = param(12, "input dimensions of the Gaussian pair", ge=1, le=1000)
    class_seps: str = param("1/i", "class-mean offsets: '1/i' (μ_i = 1/i, the original code) or "
                            "'1' (μ_i = 1, the article's text)", choices=("1/i", "1"))
    n: int = param(500, "points (train + test)", ge=10)
    train_fraction: float = param(0.8, "fraction of points used for training", gt=0, lt=1)
    loss: str = param("square", "training loss on the logits (the original code: mean squared "
                      "error to one-hot targets)", choices=("square", "cross_entropy"))
    steps: int = param(750, "Adam steps", ge=1)
    batch_size: int = param(64, "minibatch size (distinct points, a fresh random subset every "
                            "step, as the original code)", ge=1)
    lr: float = param(0.003, "Adam learning rate", gt=0)

    def check(self) -> None:
        n_train = int(round(self.train_fraction * self.n))
        if self.batch_size > n_train:
            raise ParamError(f"parameter 'batch_size' ({self.batch_size}) must not exceed the "
                             f"training set ({n_train} points)")


def seed_data(p: WeightStudyParams, lab: Lab, source: Sequence[int]) -> tuple[Splits, np.ndarray]:
    """Every seed's split on the device (model i trains on seed `source[i]`'s data) and the
    seeds' Bayes ceilings (S,): the best test accuracy any classifier can expect on that draw."""
    parts, ceilings = [], []
    for s in lab.seeds:
        rng = lab.numpy_rng(s, "data")
        x, y, ceiling = gaussian_pair_with_ceiling(rng, p.n, p.d, p.class_seps)
        parts.append(split(rng, x, y, p.train_fraction))
        ceilings.append(ceiling)
    return to_splits(lab, parts, source), np.asarray(ceilings, dtype=float)


def pair_label(*settings: Mapping[str, object]) -> str:
    """The setting of a row that compares several settings: every one of them, e.g.
    "penalty=L1; strength=1; penalty=none; strength=0"."""
    return "; ".join(setting_label(**s) for s in settings)
