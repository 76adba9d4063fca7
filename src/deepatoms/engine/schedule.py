"""Per-step learning-rate schedules for the population optimisers (a rate per model).

`linear_warmup` is the gradual warm-up of Goyal et al. 2017 (§2.2): the rate starts at `start`
and rises by a constant amount at each step until it reaches `target` after `steps` steps, then
stays there. `Scheduled` wraps an optimiser of `engine.optim` (whose `.lr` is a (M,) tensor read
at every step) and sets that tensor from `lr_at(step)` before each step. FusedAdam caches a
shared rate at construction, so it is not to be wrapped.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from .optim import per_model


def linear_warmup(start: torch.Tensor, target: torch.Tensor, steps: int, step: int) -> torch.Tensor:
    """The rate at (0-based) `step`: start + (target − start) · step / steps while step < steps,
    then target. `steps` = 0 is no warm-up (target from the first step)."""
    if steps < 0 or step < 0:
        raise ValueError(f"warm-up steps ({steps}) and step ({step}) must be ≥ 0")
    if step >= steps:
        return target.clone()
    return start + (target - start) * (step / steps)


class Scheduled:
    """An optimiser whose per-model learning rate is `lr_at(step)` at each (0-based) step."""

    def __init__(self, optimizer: Any, lr_at: Callable[[int], Any]):
        self.optimizer, self.lr_at, self.t = optimizer, lr_at, 0
        self.params = optimizer.params

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def step(self) -> None:
        lr = self.optimizer.lr
        self.optimizer.lr = per_model(self.lr_at(self.t), lr.shape[0], lr)
        self.optimizer.step()
        self.t += 1
