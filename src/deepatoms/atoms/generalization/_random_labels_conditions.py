"""Private helper of random-labels: Zhang et al. (2017)'s randomisation tests.

A condition changes the training labels (corrupted with probability p: each label replaced by a
uniform random class, which may be the true one; p = 1 is random labels) or the inputs
(shuffled pixels: one fixed permutation of the pixels, the same for train and test; random
pixels: a new permutation for every image; Gaussian: every pixel drawn from a Gaussian with the
training set's per-pixel mean and variance). Everything is drawn once per seed, before
training: the randomisation is fixed across epochs, as in the paper. The test set keeps its
clean labels in every condition (its inputs get the same input transformation).

The regularised conditions add explicit regularisers to the clean images: each regulariser alone
on the true labels (weight decay, dropout, augmentation), and random labels with every regulariser
that is switched on at once.
"""
from __future__ import annotations

import dataclasses

import numpy as np

TRUE, RANDOM, DECAY = "true labels", "random labels", "true labels + weight decay"
DROPOUT, AUGMENT = "true labels + dropout", "true labels + augmentation"
RANDOM_REGULARISED = "random labels + all regularisers"
RANDOM_DECAY_DROPOUT = "random labels + weight decay + dropout"  # the paper's ImageNet rows
REGULARISED = (DECAY, DROPOUT, AUGMENT, RANDOM_REGULARISED, RANDOM_DECAY_DROPOUT)
INPUT_KINDS = ("shuffled pixels", "random pixels", "gaussian pixels")


@dataclasses.dataclass(frozen=True)
class Condition:
    name: str
    p: float               # label-corruption probability (0: true labels)
    inputs: str = "clean"  # "clean" or one of INPUT_KINDS
    decay: bool = False    # train with weight decay
    dropout: bool = False  # train with dropout on the hidden units
    augment: bool = False  # train on randomly shifted images

    @property
    def regularised(self) -> bool:
        return self.decay or self.dropout or self.augment


def corrupted_name(p: float) -> str:
    return f"corrupted p={p:g}"


def conditions(corruptions: tuple[float, ...], input_kinds: tuple[str, ...],
               weight_decay: float, dropout: float = 0.0, max_shift: int = 0,
               random_regularised: bool = False) -> list[Condition]:
    """True labels, each corruption level, random labels, the input randomisations, then one
    true-label control per regulariser that is on (weight_decay, dropout, max_shift > 0) and,
    with `random_regularised`, random labels with all of them at once (and, when all three are
    on, random labels with weight decay and dropout only: Zhang et al.'s ImageNet Table 2)."""
    out = [Condition(TRUE, 0.0)]
    out += [Condition(corrupted_name(p), float(p)) for p in sorted(corruptions)]
    out.append(Condition(RANDOM, 1.0))
    out += [Condition(kind, 0.0, inputs=kind) for kind in input_kinds]
    on = dict(decay=weight_decay > 0, dropout=dropout > 0, augment=max_shift > 0)
    out += [Condition(name, 0.0, **{key: True}) for name, key in
            ((DECAY, "decay"), (DROPOUT, "dropout"), (AUGMENT, "augment")) if on[key]]
    if random_regularised and any(on.values()):
        out.append(Condition(RANDOM_REGULARISED, 1.0, **on))
    if random_regularised and all(on.values()):
        out.append(Condition(RANDOM_DECAY_DROPOUT, 1.0, decay=True, dropout=True))
    return out


def labels(y: np.ndarray, p: float, rng: np.random.Generator, classes: int = 10) -> np.ndarray:
    """Each label replaced by a uniform random class with probability p (p = 1: all random)."""
    if p == 0:
        return y.copy()
    replace = rng.random(len(y)) < p if p < 1 else np.ones(len(y), dtype=bool)
    return np.where(replace, rng.integers(0, classes, len(y)), y).astype(y.dtype)


def inputs(kind: str, x_train: np.ndarray, x_test: np.ndarray, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) inputs of an input condition; both sets get the same kind of change."""
    if kind == "clean":
        return x_train, x_test
    if kind == "shuffled pixels":
        perm = rng.permutation(x_train.shape[1])
        return x_train[:, perm], x_test[:, perm]
    if kind == "random pixels":
        return tuple(np.take_along_axis(x, rng.random(x.shape).argsort(axis=1), axis=1)
                     for x in (x_train, x_test))
    if kind == "gaussian pixels":
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
        return tuple((mean + std * rng.standard_normal(x.shape)).astype(np.float32)
                     for x in (x_train, x_test))
    raise ValueError(f"unknown input kind {kind!r}")
