"""Private early stopping of adversarial-examples (Goodfellow et al. 2015, §6: part of the training
set held out, the model kept where its validation error was lowest; for the adversarially trained
net, its error on FGSM examples of the validation set).

Per seed a seeded split of the training rows into a training part and a validation part, the same
for every model of the seed; a population trained on minibatches of each member's own training
part; every `eval_every` steps a criterion per member, and each member's parameters copied at its
best record (the lowest validation error, ties broken by the lower validation loss, then by the
earlier step). After training the population holds each member's best parameters.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np
import torch

from ...lab import Lab
from ._stacked_nets import fit

# criterion() -> (validation error (M,), mean validation loss (M,)) of the current parameters
Criterion = Callable[[], tuple[torch.Tensor, torch.Tensor]]


def split_rows(n: int, fraction: float, rngs: Sequence[np.random.Generator]
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per seed (one generator each): (training rows (S, n − k), validation rows (S, k)) of a
    training set of n rows, k = round(fraction·n), from one permutation of range(n) drawn by the
    seed's generator; both parts sorted. fraction 0: every row trains (k = 0)."""
    k = int(round(fraction * n))
    perms = [rng.permutation(n) for rng in rngs]
    val = np.stack([np.sort(p[:k]) for p in perms])
    return np.stack([np.sort(p[k:]) for p in perms]), val


@dataclasses.dataclass
class BestKeeper:
    """Each member's parameters at its best record so far; `history` the records in order as
    (step, error (M,), loss (M,)) and `step` each member's best step (0: no record yet)."""
    params: list[torch.Tensor]

    def __post_init__(self) -> None:
        m = self.params[0].shape[0]
        self.best = [p.detach().clone() for p in self.params]
        self.error = torch.full((m,), float("inf"))
        self.loss = torch.full((m,), float("inf"))
        self.step = torch.zeros(m, dtype=torch.long)
        self.history: list[tuple[int, np.ndarray, np.ndarray]] = []

    def offer(self, step: int, error: torch.Tensor, loss: torch.Tensor) -> None:
        """Keep the members whose (error, loss) is lexicographically below their best so far."""
        error, loss = error.detach().cpu().double(), loss.detach().cpu().double()
        better = (error < self.error) | ((error == self.error) & (loss < self.loss))
        with torch.no_grad():
            for kept, p in zip(self.best, self.params):
                mask = better.to(p.device).view(-1, *([1] * (p.dim() - 1)))
                kept.copy_(torch.where(mask, p.detach(), kept))
        self.error = torch.where(better, error, self.error)
        self.loss = torch.where(better, loss, self.loss)
        self.step = torch.where(better, torch.tensor(step), self.step)
        self.history.append((step, error.numpy(), loss.numpy()))

    def restore(self) -> None:
        """Put each member's best parameters back into the population."""
        with torch.no_grad():
            for kept, p in zip(self.best, self.params):
                p.copy_(kept)


def fit_early_stopped(params: Sequence[torch.Tensor],
                      loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                      x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor,
                      gens: Sequence[torch.Generator], lab: Lab, *, steps: int, batch: int,
                      lr: float, criterion: Criterion | None, eval_every: int,
                      description: str) -> BestKeeper | None:
    """Adam (per-model fused kernel) on minibatches of each member's training rows `rows` (M, n)
    of the shared set x (N, ...), y (N,) ("epoch" order from the member's generator). With a
    `criterion`, it is recorded after every `eval_every` steps and after the last, and the
    members end at their best record (returned keeper); without one, at the last step."""
    keeper = BestKeeper(list(params)) if criterion is not None else None

    def record(step: int) -> None:
        with torch.enable_grad():  # an adversarial criterion differentiates the inputs
            keeper.offer(step, *criterion())

    fit(params, loss, x, y, gens, lab, steps=steps, batch=batch, lr=lr, description=description,
        rows=rows, record=record if keeper is not None else None, record_every=eval_every)
    if keeper is not None:
        keeper.restore()
    return keeper
