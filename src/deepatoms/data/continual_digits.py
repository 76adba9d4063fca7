"""The two continual-learning task pairs cut from the fixed
digits split (permuted digits; split digits 0–4 / 5–9) and padded per-model stacks of data sets.

A task is (x, y, allowed): `allowed` is the (10,) bool vector of the outputs the task owns — all
ten for permuted digits (one shared head, "domain-incremental"), five for split digits (each task
its own five outputs, the task label given at test time: "task-incremental"/multi-head).
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch

from .digits_split import digits_split
from .digits_tasks import stratified_split

VAL_SPLIT_SEED = 20130101  # the fixed validation part of the training split (λ selection)


@dataclasses.dataclass(frozen=True)
class Task:
    x: np.ndarray
    y: np.ndarray
    allowed: np.ndarray  # (10,) bool


@functools.cache
def _parts(val_fraction: float):
    """(fit, val, test) arrays of the fixed split: `val_fraction` of the training part, stratified
    with a constant stream, is held out for choosing hyper-parameters."""
    s = digits_split()
    fit, val = stratified_split(np.random.default_rng(VAL_SPLIT_SEED), s.y_train, 1 - val_fraction)
    return ((s.x_train[fit], s.y_train[fit]), (s.x_train[val], s.y_train[val]),
            (s.x_test, s.y_test))


def task_pair(scenario: str, rng: np.random.Generator, val_fraction: float) -> dict:
    """{"A": {part: Task}, "B": {part: Task}} for parts fit/val/test. Permuted: A = the pixels as
    they are, B = one fixed random permutation of them (drawn from `rng`); split: A = digits 0–4,
    B = digits 5–9, same pixels."""
    parts = dict(zip(("fit", "val", "test"), _parts(val_fraction)))
    if scenario == "permuted":
        perm = rng.permutation(64)
        every = np.ones(10, dtype=bool)
        return {"A": {k: Task(x, y, every) for k, (x, y) in parts.items()},
                "B": {k: Task(x[:, perm], y, every) for k, (x, y) in parts.items()}}
    out = {}
    for name, classes in (("A", range(5)), ("B", range(5, 10))):
        allowed = np.isin(np.arange(10), list(classes))
        out[name] = {k: Task(x[allowed[y]], y[allowed[y]], allowed) for k, (x, y) in parts.items()}
    return out


def union(a: Task, b: Task) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two tasks' examples together, with each example's allowed outputs (N, 10)."""
    x = np.concatenate([a.x, b.x])
    y = np.concatenate([a.y, b.y])
    allowed = np.concatenate([np.tile(a.allowed, (len(a.y), 1)), np.tile(b.allowed, (len(b.y), 1))])
    return x, y, allowed


@dataclasses.dataclass
class Stack:
    """Per-model data sets padded to one length: x (M, N, d), y (M, N), allowed (M, N, C),
    valid (M, N) bool, sizes (M,)."""
    x: torch.Tensor
    y: torch.Tensor
    allowed: torch.Tensor
    valid: torch.Tensor
    sizes: list[int]


def stack(sets: list[tuple[np.ndarray, np.ndarray, np.ndarray]], device) -> Stack:
    """Pad a list of (x (N, d), y (N,), allowed (N, C) or (C,)) to one tensor per field."""
    n = max(len(y) for _, y, _ in sets)
    m, d = len(sets), sets[0][0].shape[1]
    x = np.zeros((m, n, d), np.float32)
    y = np.zeros((m, n), np.int64)
    allowed = np.ones((m, n, 10), bool)
    valid = np.zeros((m, n), bool)
    for i, (xi, yi, ai) in enumerate(sets):
        k = len(yi)
        x[i, :k], y[i, :k], valid[i, :k] = xi, yi, True
        allowed[i, :k] = np.broadcast_to(ai, (k, 10))
    t = functools.partial(torch.as_tensor, device=device)
    return Stack(t(x), t(y), t(allowed), t(valid), [len(y) for _, y, _ in sets])
