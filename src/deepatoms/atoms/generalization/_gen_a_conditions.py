"""Private helper of random-labels (gen-a): Zhang et al. (2017)'s randomisation tests.

A condition changes the training labels (corrupted with probability p: each label replaced by a
uniform random class, which may be the true one; p = 1 is random labels) or the inputs
(shuffled pixels: one fixed permutation of the pixels, the same for train and test; random
pixels: a new permutation for every image; Gaussian: every pixel drawn from a Gaussian with the
training set's per-pixel mean and variance). Everything is drawn once per seed, before
training: the randomisation is fixed across epochs, as in the paper. The test set keeps its
clean labels in every condition (its inputs get the same input transformation).
"""
from __future__ import annotations

import dataclasses

import numpy as np

TRUE, RANDOM, DECAY = "true labels", "random labels", "true labels + weight decay"
INPUT_KINDS = ("shuffled pixels", "random pixels", "gaussian pixels")


@dataclasses.dataclass(frozen=True)
class Condition:
    name: str
    p: float               # label-corruption probability (0: true labels)
    inputs: str = "clean"  # "clean" or one of INPUT_KINDS
    decay: bool = False    # train with weight decay (the regularised control)


def corrupted_name(p: float) -> str:
    return f"corrupted p={p:g}"


def conditions(corruptions: tuple[float, ...], input_kinds: tuple[str, ...],
               weight_decay: float) -> list[Condition]:
    """True labels, each corruption level, random labels, the input randomisations, and the
    weight-decay control (when weight_decay > 0)."""
    out = [Condition(TRUE, 0.0)]
    out += [Condition(corrupted_name(p), float(p)) for p in sorted(corruptions)]
    out.append(Condition(RANDOM, 1.0))
    out += [Condition(kind, 0.0, inputs=kind) for kind in input_kinds]
    if weight_decay > 0:
        out.append(Condition(DECAY, 0.0, decay=True))
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
