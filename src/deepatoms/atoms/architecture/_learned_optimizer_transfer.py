"""The transfer task of the learned optimiser: a small sigmoid MLP (64 → 20 → 10, as the paper's
MNIST net) on scikit-learn's digits, trained by the LSTMs meta-trained on quadratics and by the
hand-written baselines at each learning rate of a grid, through the engine's `train` loop.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...engine import MLPPop, Sampler, gather, train
from ._learned_optimizer_lstm import baseline_step, lstm_update, zero_state


class LearnedOptimizer:
    """engine-compatible optimiser (zero_grad/step): model m's parameters, flattened, are the
    rows the m-th LSTM updates (no meta-learning here: the LSTM weights are fixed)."""

    def __init__(self, params: Sequence[torch.Tensor], lstm: Sequence[torch.Tensor], hidden=20):
        self.params, self.lstm = list(params), list(lstm)
        m = self.params[0].shape[0]
        rows = sum(p[0].numel() for p in self.params)
        self.state = zero_state(m, rows, hidden, self.params[0])

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        m = self.params[0].shape[0]
        g = torch.cat([p.grad.reshape(m, -1) for p in self.params], dim=1)  # (M, P)
        upd, self.state = lstm_update(self.lstm, g, self.state)
        k = 0
        for p in self.params:
            n = p[0].numel()
            p.add_(upd[:, k:k + n].reshape(p.shape))
            k += n


class BaselineOptimizer(LearnedOptimizer):
    """One hand-written optimiser (`baseline_step`) with a learning rate per model (M,)."""

    def __init__(self, params: Sequence[torch.Tensor], name: str, lrs: torch.Tensor):
        self.params, self.name, self.t = list(params), name, 0
        self.states: list[dict] = [{} for _ in self.params]
        self.lrs = lrs

    @torch.no_grad()
    def step(self) -> None:
        for p, state in zip(self.params, self.states):
            lr = self.lrs.view(-1, *([1] * (p.dim() - 1)))
            p.add_(baseline_step(self.name, p.grad, state, lr, self.t))
        self.t += 1


def mlp_curves(make_opt, gens_init, gens_batch, x: torch.Tensor, y: torch.Tensor, steps: int,
               batch: int, record_every: int, iterate=range) -> tuple[list[int], np.ndarray]:
    """Train one MLP per generator pair with `make_opt(params)`; returns the record steps and
    (M, len(steps)+1) log10 of the full-training-set cross-entropy (step 0 included)."""
    pop = MLPPop([(x.shape[1], 20, 10)] * len(gens_init), gens_init, activation="sigmoid",
                 device=x.device)
    sampler = Sampler(gens_batch, x.shape[0], batch, "subset", device=x.device)

    def loss(idx, step):
        z = pop(gather(x, idx, shared=True))  # (M, B, 10)
        return F.cross_entropy(z.transpose(1, 2), gather(y, idx, shared=True), reduction="none")

    @torch.no_grad()
    def full_loss(step=0):
        z = pop(x)
        ce = F.cross_entropy(z.transpose(1, 2), y.expand(pop.m, -1), reduction="none").mean(1)
        return torch.log10(ce).cpu().numpy()

    start = full_loss()
    marks = list(range(record_every, steps + 1, record_every))
    out = train(pop.params, loss, make_opt(pop.params), steps, sampler=sampler,
                record=full_loss, record_at=marks, iterate=iterate)
    return [0] + [s for s, _ in out.records], np.stack([start] + [r for _, r in out.records], 1)
