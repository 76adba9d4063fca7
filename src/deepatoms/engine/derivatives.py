"""Derivatives of populations with stacked parameters (leading model dimension M), for `MLPPop`
and `ModulePop` alike: per-model Hessian-vector products, the top Hessian eigenvalue by power
iteration, and input gradients (with a graph for double backprop).

Models of a population are independent, so the gradient of the sum of their losses is each
model's own gradient, and differentiating (gradient · v) again gives each model's own H v.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

Tensors = Sequence[torch.Tensor]


def _model_dot(a: Tensors, b: Tensors) -> torch.Tensor:
    """Per-model inner product of two lists of stacked tensors → (M,)."""
    return sum((x * y).flatten(1).sum(dim=1) for x, y in zip(a, b))


def hvp(loss: Callable[[], torch.Tensor], params: Tensors, vectors: Tensors) -> list[torch.Tensor]:
    """H_m v_m for every model m, where `loss()` returns the per-model losses (M,) at `params`
    and `vectors` are shaped like `params`."""
    value = loss()
    grads = torch.autograd.grad(value.sum(), list(params), create_graph=True)
    dot = sum((g * v).sum() for g, v in zip(grads, vectors))
    return [h.detach() for h in torch.autograd.grad(dot, list(params))]


def top_eigenvalue(loss: Callable[[], torch.Tensor], params: Tensors, gen: torch.Generator,
                   iterations: int = 50) -> torch.Tensor:
    """The largest-magnitude eigenvalue of each model's Hessian by power iteration on HVPs,
    from a random start drawn from `gen` → (M,)."""
    v = [torch.randn(p.shape, generator=gen).to(p) for p in params]
    estimate = torch.zeros(params[0].shape[0], dtype=params[0].dtype, device=params[0].device)
    for _ in range(iterations):
        norm = _model_dot(v, v).sqrt().clamp_min(1e-30)
        v = [x / norm.view(-1, *([1] * (x.dim() - 1))) for x in v]
        hv = hvp(loss, params, v)
        estimate = _model_dot(v, hv)
        v = hv
    return estimate


def input_grad(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
               create_graph: bool = False) -> torch.Tensor:
    """∂ sum(f(x)) / ∂x: with per-model outputs this is each model's gradient with respect to
    its own inputs (saliency maps, FGSM). `create_graph` keeps it differentiable (double
    backprop: attacks on saliency, gradient penalties)."""
    x = x.detach().requires_grad_()
    (g,) = torch.autograd.grad(f(x).sum(), x, create_graph=create_graph)
    return g
