"""Measurements of the fixup atom: scale and gradient at initialisation, a budget of SGD steps,
batch norm's statistics recalibrated on the training set."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ...engine import SGD, Sampler, gather, train
from ._fixup_resnets import MOMENTUM, ResMLPPop


class Grouped:
    """Several population optimisers stepped as one (`train` takes any zero_grad/step object)."""

    def __init__(self, *optimizers):
        self.optimizers = optimizers

    def zero_grad(self) -> None:
        for o in self.optimizers:
            o.zero_grad()

    def step(self) -> None:
        for o in self.optimizers:
            o.step()


def _rms(h: torch.Tensor) -> torch.Tensor:
    return h.square().mean(dim=(1, 2)).sqrt()  # (M,)


@torch.no_grad()
def log10_output_scale(pop: ResMLPPop, x: torch.Tensor) -> list[float]:
    """Per model, log10 RMS(h_L) / RMS(h_0) at the current parameters, in float64 and train mode.
    The standard net (zero biases at init) is positively homogeneous, so h is renormalised after
    every block and the log-scales summed: exact, and no overflow at any depth."""
    t = {k: v.detach().double() for k, v in pop.tensors.items()}
    h = pop.stem(t, x.double().expand(pop.m, *x.shape))
    base, total = _rms(h), torch.zeros(pop.m, dtype=torch.float64, device=x.device)
    for l in range(pop.depth):
        h = pop.block(t, h, l, train=True, update=False)
        if pop.scheme == "standard":
            r = _rms(h).clamp_min(1e-300)
            total += torch.log10(r)
            h = h / r.view(-1, 1, 1)
    return (total + torch.log10(_rms(h) / base)).tolist()


def log10_grad_norm(pop: ResMLPPop, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Per model, log10 ‖∇θ mean CE‖ at the current parameters, float64, train-mode batch
    statistics over `x`; inf where the float64 computation overflows."""
    t = {k: v.detach().double().requires_grad_() for k, v in pop.tensors.items()}
    logits = pop(x.double().expand(pop.m, *x.shape), tensors=t, update=False)
    loss = F.cross_entropy(logits.reshape(-1, 10), y.repeat(pop.m), reduction="none")
    loss.view(pop.m, -1).mean(dim=1).sum().backward()
    sq = sum(v.grad.reshape(pop.m, -1).square().sum(dim=1) for v in t.values())
    out = []
    for value in sq.sqrt().tolist():
        out.append(math.log10(value) if math.isfinite(value) and value > 0 else math.inf)
    return out


def _accuracy(pop: ResMLPPop, data) -> list[float]:
    with torch.no_grad():
        pred = pop(data["x_test"].expand(pop.m, *data["x_test"].shape), train=False).argmax(-1)
        return (pred == data["y_test"]).double().mean(dim=1).tolist()


@torch.no_grad()
def recalibrate(pop: ResMLPPop, x: torch.Tensor) -> None:
    """Replace batch norm's running statistics by the training set's own: one train-mode pass
    over all of `x` with momentum 1, block by block, so each layer's statistics are those of its
    inputs normalised by the recalibrated layers below (as at test time)."""
    pop.momentum = 1.0
    try:
        pop(x.expand(pop.m, *x.shape), train=True, update=True)
    finally:
        pop.momentum = MOMENTUM


def train_one(pop: ResMLPPop, data, gens, p, steps: int, iterate) -> tuple[np.ndarray, dict]:
    """`steps` SGD steps; returns the per-step training losses (steps run, M) and each model's
    test accuracy: "running" (batch norm's running averages, the standard test-time rule) and,
    for batch norm, "recalibrated" (statistics recomputed on the training set after training).
    A model stops at its first non-finite loss; training ends when every model has."""
    x, y = data["x_train"], data["y_train"]
    sampler = Sampler(gens, x.shape[0], p.batch_size, "epoch", device=x.device)
    weights, scalars = pop.groups()
    opts = [SGD(weights, lr=p.lr, momentum=p.momentum)]
    if scalars:
        opts.append(SGD(scalars, lr=p.lr * p.scalar_lr_factor, momentum=p.momentum))
    losses: list[torch.Tensor] = []

    def loss(idx: torch.Tensor, step: int) -> torch.Tensor:
        logits = pop(gather(x, idx, shared=True))
        ce = F.cross_entropy(logits.reshape(-1, 10), gather(y, idx, shared=True).reshape(-1),
                             reduction="none").view(pop.m, -1)
        losses.append(ce.detach().mean(dim=1))
        return ce

    train(list(pop.tensors.values()), loss, Grouped(*opts), steps, sampler=sampler,
          iterate=iterate, record_at=range(1, steps + 1),
          until=lambda step: ~torch.isfinite(losses[-1]))
    acc = {"running": _accuracy(pop, data)}
    if pop.scheme == "batchnorm":
        recalibrate(pop, x)
        acc["recalibrated"] = _accuracy(pop, data)
    return torch.stack(losses).cpu().numpy(), acc
