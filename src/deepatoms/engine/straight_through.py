"""Straight-through functions: the forward pass applies a (possibly flat) function, the backward
pass treats it as the identity — the "forward-only" method of Shalev-Shwartz et al. 2017 §5."""
from __future__ import annotations

from typing import Callable

import torch


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, r: torch.Tensor, fn: Callable[..., torch.Tensor], *args) -> torch.Tensor:
        ctx.n_args = len(args)
        with torch.no_grad():
            out = fn(r, *args)
        if out.shape != r.shape:
            raise ValueError(f"straight-through needs fn to keep the shape {tuple(r.shape)}, "
                             f"got {tuple(out.shape)}")
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return (grad, None, *([None] * ctx.n_args))


def straight_through(fn: Callable[..., torch.Tensor], r: torch.Tensor, *args) -> torch.Tensor:
    """fn(r, *args) forward; d(out)/dr := identity backward (no gradient to args). Shapes kept."""
    return _StraightThrough.apply(r, fn, *args)
