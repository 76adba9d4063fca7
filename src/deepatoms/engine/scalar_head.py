"""Forward pass of an `MLPPop` whose models have one output unit, without the slow batched
matrix–vector product.

`torch.baddbmm` with a single output column runs several times slower on CPU than the same
product written as an elementwise multiply and a sum; for small nets (parity, regression heads)
that last layer dominated the step time. Same parameters, same mathematics as `MLPPop.forward`.
"""
from __future__ import annotations

import torch

from .population import MLPPop


def forward_scalar(pop: MLPPop, x: torch.Tensor) -> torch.Tensor:
    """x: (M, B, d_in) per model or (B, d_in) shared → outputs (M, B) of a d_out = 1 population."""
    if pop.widths[-1] != 1:
        raise ValueError(f"forward_scalar needs one output unit, the population has {pop.widths[-1]}")
    h = x.expand(pop.m, *x.shape) if x.dim() == 2 else x
    for l, (w, b) in enumerate(zip(pop.weights[:-1], pop.biases[:-1])):
        h = pop.activate(torch.baddbmm(b, h, w))  # (M, B, n_{l+1})
        if pop.masks[l] is not None:
            h = h * pop.masks[l]
    w_out = pop.weights[-1].transpose(1, 2)  # (M, 1, n_L)
    return (h * w_out).sum(dim=-1) + pop.biases[-1][:, :, 0]  # (M, B)
