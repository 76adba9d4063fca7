"""Optimisers over stacked parameters (leading model dimension M) with per-model settings.

Each model gets exactly the update torch.optim would give it alone (same formulas, same order
of operations; tests check this to float tolerance).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch


def per_model(value: float | Sequence[float] | torch.Tensor, m: int, like: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    return t.expand(m).clone() if t.dim() == 0 else t.reshape(m)


def _bcast(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return t.view(-1, *([1] * (p.dim() - 1)))  # (M,) → (M, 1, ...)


class _PopOptimizer:
    def __init__(self, params: Sequence[torch.Tensor], lr, weight_decay=0.0):
        self.params = list(params)
        m = self.params[0].shape[0]
        self.lr = per_model(lr, m, self.params[0])
        self.weight_decay = per_model(weight_decay, m, self.params[0])
        self._decay = bool((self.weight_decay != 0).any())

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def _grad(self, p: torch.Tensor) -> torch.Tensor:
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        return g + _bcast(self.weight_decay, p) * p if self._decay else g


class SGD(_PopOptimizer):
    """SGD with optional (heavy-ball, torch-style) momentum, per-model lr/momentum/decay."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum = per_model(momentum, self.lr.shape[0], self.params[0])
        self._buf: list[torch.Tensor | None] = [None] * len(self.params)

    @torch.no_grad()
    def step(self) -> None:
        use_momentum = bool((self.momentum != 0).any())
        for i, p in enumerate(self.params):
            g = self._grad(p)
            if use_momentum:
                buf = self._buf[i]
                # torch: first step buf = g, then buf = momentum * buf + g
                buf = g.clone() if buf is None else buf.mul_(_bcast(self.momentum, p)).add_(g)
                self._buf[i] = buf
                g = buf
            p.sub_(_bcast(self.lr, p) * g)


class Adam(_PopOptimizer):
    """Adam (torch.optim.Adam semantics, L2 weight decay added to the gradient)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2, self.eps = betas[0], betas[1], eps
        self.t = 0
        self._m = [torch.zeros_like(p) for p in self.params]
        self._v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        bc1 = 1 - self.beta1 ** self.t
        bc2_sqrt = math.sqrt(1 - self.beta2 ** self.t)
        for p, m, v in zip(self.params, self._m, self._v):
            g = self._grad(p)
            m.lerp_(g, 1 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            denom = (v.sqrt() / bc2_sqrt).add_(self.eps)
            p.sub_(_bcast(self.lr / bc1, p) * (m / denom))
