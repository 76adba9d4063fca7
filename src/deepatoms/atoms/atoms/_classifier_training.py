"""Shared machinery of the classification atoms of seed 003 (§6–§10): per-seed data splits on the
device, the source's losses on logits, one population fit (through `engine.train`), accuracy
records, rows.

Shapes: S data sources (one per seed, or one per model), M models, N points, C = 2 classes.
`source` (M,) maps each model to the data source it trains on.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...data.gaussian import gaussian_pair_with_ceiling, split
from ...engine import MLPPop, mlp_grads, train
from ...engine.sampler import Gathered
from ...errors import ParamError
from ...lab import Lab
from ...params import Params, param

# Chance on a test set of ~100 points: 0.5 plus two binomial standard deviations (2 × 0.05).
CHANCE_BAND = 0.6


# Seed 003's train/test split.
TRAIN_FRACTION = 0.8


@dataclasses.dataclass(frozen=True)
class GaussianMLPParams(Params):
    """The protocol §9 (loss-functions) and §10 (initialization) share: Gaussian pair d = 12,
    seps 1/i, n = 500 (80/20), sigmoid MLP (100, 100), minibatch 64, 500 Adam steps (lr 0.003)."""
    d: int = param(12, "dimension of the Gaussian pair", ge=1)
    class_seps: str = param("1/i", "class mean μ_i", choices=("1/i", "1"))
    n: int = param(500, "points, split 80% train / 20% test", ge=10)
    hidden: tuple[int, ...] = param((100, 100), "sigmoid hidden-layer widths", ge=1, le=4096,
                                          distinct=False)
    batch_size: int = param(64, "minibatch size (random subsets)", ge=1)
    steps: int = param(500, "Adam steps", ge=1)
    lr: float = param(0.003, "Adam learning rate", gt=0)
    record_every: int = param(50, "steps between recorded test accuracies", ge=1)

    def check(self) -> None:
        n_train = round(TRAIN_FRACTION * self.n)
        if self.batch_size > n_train:
            raise ParamError(f"parameter 'batch_size' ({self.batch_size}) must not exceed the "
                             f"training set ({n_train})")


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class Splits:
    """Train/test data of S sources on the device: x (S, N, d) float, y (S, N) long;
    `source` (M,) long: the data source of each model."""
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: torch.Tensor
    one_per_model: bool = False  # source == arange(M): data already per model

    def per_model(self, x: torch.Tensor) -> torch.Tensor:
        """(S, ...) → (M, ...)."""
        return x if self.one_per_model else x.index_select(0, self.source)


def gaussian_split(lab: Lab, seed: int, n: int, d: int, seps: str, covariance_scale: float = 1.0,
                   train_fraction: float = 0.8) -> tuple[np.ndarray, ...]:
    """One seed's Gaussian pair, split at random: (x_train, y_train, x_test, y_test)."""
    return gaussian_split_with_ceiling(lab, seed, n, d, seps, covariance_scale, train_fraction)[0]


def gaussian_split_with_ceiling(lab: Lab, seed: int, n: int, d: int, seps: str,
                                covariance_scale: float = 1.0, train_fraction: float = 0.8
                                ) -> tuple[tuple[np.ndarray, ...], float]:
    """`gaussian_split` and the seed's Bayes ceiling (best possible test accuracy, equal priors)."""
    rng = lab.numpy_rng(seed, "data")
    x, y, ceiling = gaussian_pair_with_ceiling(rng, n, d, seps, covariance_scale)
    return split(rng, x, y, train_fraction), ceiling


def to_splits(lab: Lab, parts: Sequence[tuple[np.ndarray, ...]], source: Sequence[int]) -> Splits:
    """Stack S sources' (x_train, y_train, x_test, y_test) (equal shapes) onto the device."""
    stacked = [lab.tensor(np.stack([p[k] for p in parts])) for k in range(4)]
    src = np.asarray(source, dtype=np.int64)
    identity = len(src) == len(parts) and bool((src == np.arange(len(src))).all())
    return Splits(*stacked, source=lab.tensor(src), one_per_model=identity)


def _onehot(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.one_hot(y, like.shape[-1]).to(like.dtype)


def _cross_entropy(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, b, c = z.shape
    return F.cross_entropy(z.reshape(m * b, c), y.reshape(-1), reduction="none").view(m, b).mean(1)


def _hinge(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # tf.losses.hinge_loss: labels 0/1 → ±1 per output, mean of max(0, 1 − label·logit)
    return torch.relu(1 - (2 * _onehot(y, z) - 1) * z).mean(dim=(1, 2))


# Each loss maps logits z (M, B, C) and labels y (M, B) to one loss per model (M,).
LOSSES: dict[str, LossFn] = {
    "cross_entropy": _cross_entropy,
    "abs": lambda z, y: (z - _onehot(y, z)).abs().mean(dim=(1, 2)),
    "square": lambda z, y: ((z - _onehot(y, z)) ** 2).mean(dim=(1, 2)),
    "fourth_power": lambda z, y: ((z - _onehot(y, z)) ** 4).mean(dim=(1, 2)),
    "hinge": _hinge,
    # negative control of the source: 0 × MSE, i.e. a loss whose gradient is exactly zero
    "constant": lambda z, y: 0 * ((z - _onehot(y, z)) ** 2).mean(dim=(1, 2)),
}


def loss_by_model(names: Sequence[str]) -> LossFn:
    """One loss per model; contiguous runs of the same loss are computed together."""
    runs: list[list] = []
    for i, name in enumerate(names):
        if runs and runs[-1][2] == name:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1, name])
    if len(runs) == 1:
        return LOSSES[runs[0][2]]
    return lambda z, y: torch.cat([LOSSES[n](z[a:b], y[a:b]) for a, b, n in runs])


def accuracy(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of argmax(z) == y per model: z (M, N, C), y (M, N) → (M,); NaN if z diverged."""
    acc = (z.argmax(dim=-1) == y).to(z.dtype).mean(dim=-1)
    finite = torch.isfinite(z).flatten(1).all(dim=1)
    return torch.where(finite, acc, torch.full_like(acc, float("nan")))


@dataclasses.dataclass
class Curves:
    """Accuracies recorded after the steps in `steps`: test and train, each (R, M)."""
    steps: list[int]
    test: np.ndarray
    train: np.ndarray


def fit(pop: MLPPop, opt, data: Splits, loss_fn: LossFn, steps: int, lab: Lab, *,
        record: Sequence[int], stream=None, description: str = "training",
        hand_backward: bool = False) -> Curves:
    """Train every model for `steps` updates with `engine.train`; minibatches from `stream` (a
    sampler of (S, B) indices per step, one row per data source; their rows are gathered many
    steps at a time) or the full training set when `stream` is None. Accuracies are recorded after the steps in `record` (and always after the
    last one), kept on the device and copied once at the end (no per-step synchronisation).
    `hand_backward`: with the cross-entropy loss, gradients from `engine.mlp_grads` (equal to
    autograd's to the bit, less per-step overhead) where the population allows it."""
    x_tr, y_tr = data.per_model(data.x_train), data.per_model(data.y_train)
    x_te, y_te = data.per_model(data.x_test), data.per_model(data.y_test)
    by_hand = (hand_backward and loss_fn is LOSSES["cross_entropy"]
               and mlp_grads.supports(pop))

    def loss(batch, _step):
        xb, yb = (x_tr, y_tr) if batch is None else (data.per_model(batch[0]),
                                                     data.per_model(batch[1]))
        if by_hand:
            return mlp_grads.cross_entropy_grads(pop, xb, yb)
        return loss_fn(pop(xb), yb)  # (M,)

    def accuracies(_step):
        with torch.no_grad():
            return torch.stack([accuracy(pop(x_te), y_te), accuracy(pop(x_tr), y_tr)])

    rows = None if stream is None else Gathered(stream, [data.x_train, data.y_train])
    done = train(pop.params, loss, opt, steps, sampler=rows, record=accuracies,
                 record_at=record, iterate=lambda n: lab.steps(n, description),
                 sets_grads=by_hand)
    acc = torch.stack([kept for _, kept in done.records]).cpu().numpy()  # (R, 2, M)
    return Curves([s for s, _ in done.records], acc[:, 0], acc[:, 1])


def every(k: int, steps: int) -> list[int]:
    """Record points: every k steps and the last step."""
    return sorted(set(range(k, steps + 1, k)) | {steps})


def curve_rows(models: Sequence[dict], curves: Curves, test_metric: str = "test_accuracy",
               final: bool = True) -> list[dict]:
    """Tidy rows: `<metric>_curve` at every recorded step and the final value as `<metric>`,
    for test and train accuracy. `models[i]` holds model i's seed and setting columns."""
    rows = []
    for i, base in enumerate(models):
        for name, values in ((test_metric, curves.test), ("train_accuracy", curves.train)):
            rows += [dict(base, step=s, metric=f"{name}_curve", value=float(values[r, i]))
                     for r, s in enumerate(curves.steps)]
            if final:
                rows.append(dict(base, step=curves.steps[-1], metric=name,
                                 value=float(values[-1, i])))
    return rows


def per_seed(table, metric: str, column: str):
    """Pivot of `metric`: rows = seeds, columns = values of `column` (NaN where missing)."""
    sub = table[table.metric == metric]
    return sub.pivot(index="seed", columns=column, values="value")


# Each seed's best possible test accuracy (the data's oracle), as a row of the table.
CEILING = "bayes_ceiling"


def ceiling_rows(seeds: Sequence[int], ceilings: Sequence[float], metric: str = CEILING,
                 **columns) -> list[dict]:
    """One `metric` row per seed (its oracle accuracy); `columns` are added to every row."""
    return [dict(seed=int(s), metric=metric, value=float(c), **columns)
            for s, c in zip(seeds, ceilings)]


# The size of each seed's test set, as a row of the table: an accuracy's resolution (1/n).
TEST_POINTS = "test_points"


def test_points(table) -> int | None:
    """The test-set size `ceiling_rows(..., metric=TEST_POINTS)` wrote (the same for every seed),
    or None for a table without it (one stored before the row existed)."""
    sizes = table[table.metric == TEST_POINTS].value
    return int(sizes.iloc[0]) if len(sizes) and sizes.nunique() == 1 else None


def seed_ceilings(table, metric: str = CEILING):
    """Per-seed oracle accuracy (Series indexed by seed) from the rows `ceiling_rows` wrote."""
    return table[table.metric == metric].groupby("seed").value.first()
