"""A hand-written backward pass for `SharedDepthPop` with a weighted softmax cross-entropy per
model (`engine.losses.weighted_cross_entropy`): the gradient of the flat parameter leaf that
`loss.sum().backward()` gives, from the very kernels autograd calls, in its order (the shared
layer's contributions summed deepest application first), without building a graph. A step of
these 152-parameter nets is all per-op overhead, and autograd's graph is ~40% of it.
"""
from __future__ import annotations

import torch

from .mlp_grads import ACTIVATION_BACKWARD, logit_grad
from .weight_shared import SharedDepthPop


def _forward(pop: SharedDepthPop, x: torch.Tensor, views: list[torch.Tensor]) -> tuple:
    """Input, first hidden state, (new, previous) state of every shared application, output."""
    w_in, b_in, w, b, w_out, b_out = views
    h0 = x.expand(pop.m, *x.shape) if x.dim() == 2 else x
    h = pop.act(torch.baddbmm(b_in, h0, w_in))
    first, steps = h, []
    for k in range(pop.max_depth):
        new = pop.act(torch.baddbmm(b, h, w))
        steps.append((new, h))
        h = new if pop._all_active[k] else torch.where(pop._active[k], new, h)
    return h0, first, steps, h, torch.baddbmm(b_out, h, w_out)


def _layer(grad: torch.Tensor, h: torch.Tensor, w: torch.Tensor, need_input: bool):
    """baddbmm's backward: (bias grad, weight grad, input grad or None)."""
    return (grad.sum(1, keepdim=True), h.transpose(1, 2).bmm(grad),
            grad.bmm(w.transpose(1, 2)) if need_input else None)


@torch.no_grad()
def weighted_cross_entropy_grads(pop: SharedDepthPop, x: torch.Tensor, labels: torch.Tensor,
                                 weight: torch.Tensor) -> None:
    """Set `pop.store.flat.grad` to the gradient of Σ_m weighted_cross_entropy(pop(x), labels,
    weight)[m]: x (B, d_in) shared or (M, B, d_in), labels and weight (M, B). Activations:
    those of `mlp_grads.ACTIVATION_BACKWARD`."""
    views = pop.store.views()
    w_in, _, w, _, w_out, _ = views
    back = ACTIVATION_BACKWARD[pop.activation]  # KeyError: no hand-written backward
    h0, first, steps, last, z = _forward(pop, x, views)
    g_b_out, g_w_out, g = _layer(logit_grad(z, labels, weight), last, w_out, True)
    g_b = g_w = None
    for k in range(pop.max_depth - 1, -1, -1):
        new, prev = steps[k]
        g_new, g_prev = ((g, None) if pop._all_active[k] else
                         (torch.where(pop._active[k], g, 0), torch.where(pop._active[k], 0, g)))
        gb, gw, g = _layer(back(g_new, new), prev, w, True)
        g = g if g_prev is None else g_prev + g
        g_b, g_w = (gb, gw) if g_b is None else (g_b + gb, g_w + gw)
    g_b_in, g_w_in, _ = _layer(back(g, first), h0, w_in, False)
    parts = (g_w_in, g_b_in, g_w, g_b, g_w_out, g_b_out)
    pop.store.flat.grad = torch.cat([p.reshape(pop.m, -1) for p in parts], dim=1)

