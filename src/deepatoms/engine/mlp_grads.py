"""A hand-written backward pass for `MLPPop` with the mean softmax cross-entropy per model: the
gradients `loss.sum().backward()` would give, computed with the very kernels autograd calls, in
its layouts (so equal to the bit), without building a graph.

For models that take tens of thousands of tiny steps (batch size 1) a step is all per-op
overhead, and autograd's graph is a third of it. Supported: one activation for the whole
population among `ACTIVATION_BACKWARD`'s, no masked hidden units; `supports(pop)` says.
"""
from __future__ import annotations

import functools

import torch

from .population import MLPPop

# d(activation)/d(input) times the incoming gradient, from the activation's output, as autograd
ACTIVATION_BACKWARD = {
    "sigmoid": torch.ops.aten.sigmoid_backward,
    "tanh": torch.ops.aten.tanh_backward,
    "relu": lambda grad, out: torch.ops.aten.threshold_backward(grad, out, 0),
    "identity": lambda grad, out: grad,
}


def supports(pop: MLPPop) -> bool:
    """Whether `cross_entropy_grads` can train this population."""
    return (len(pop._groups) == 1 and pop._groups[0][2] in ACTIVATION_BACKWARD
            and all(mask is None for mask in pop.masks))


def _forward(pop: MLPPop, x: torch.Tensor) -> list[torch.Tensor]:
    """The input and every layer's output (activated, except the logits)."""
    act = pop.activate
    outs = [x.expand(pop.m, *x.shape) if x.dim() == 2 else x]
    last = len(pop.weights) - 1
    for l, (w, b) in enumerate(zip(pop.weights, pop.biases)):
        h = torch.baddbmm(b, outs[-1], w)
        outs.append(act(h) if l < last else h)
    return outs


@functools.lru_cache(maxsize=32)
def _mean_weights(m: int, b: int, dtype: torch.dtype, device: torch.device
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """d(Σ_m mean_b) per example, (M·B,), as autograd's sum and mean backward make it, and the
    nll loss's total weight (unused without reduction). Read only: cached per shape."""
    ones = torch.ones((), dtype=dtype, device=device).expand(m)  # d sum
    per_example = ones.unsqueeze(1).expand(m, b) / b  # d mean(1)
    return per_example.reshape(m * b), torch.zeros((), dtype=dtype, device=device)


def _logit_grad(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d Σ_m mean_b CE(z[m, b], y[m, b]) / dz, as autograd computes it for
    `cross_entropy(z.reshape(M·B, C), y, reduction="none").view(M, B).mean(1).sum()`."""
    m, b, c = z.shape
    logp = torch._log_softmax(z.reshape(m * b, c), 1, False)
    per_example, total_weight = _mean_weights(m, b, z.dtype, z.device)
    g = torch.ops.aten.nll_loss_backward(per_example, logp, y.reshape(-1), None, 0, -100,
                                         total_weight)
    return torch._log_softmax_backward_data(g, logp, 1, z.dtype).view(m, b, c)


@torch.no_grad()
def cross_entropy_grads(pop: MLPPop, x: torch.Tensor, y: torch.Tensor) -> None:
    """Set every parameter's `.grad` to that of Σ_m (mean cross-entropy of model m on its
    (x[m], y[m])): x (M, B, d_in) or (B, d_in) shared, y (M, B) long."""
    outs = _forward(pop, x)
    back = ACTIVATION_BACKWARD[pop._groups[0][2]]
    grad = _logit_grad(outs[-1], y)
    for l in range(len(pop.weights) - 1, -1, -1):
        pop.biases[l].grad = grad.sum(1, keepdim=True)
        pop.weights[l].grad = outs[l].transpose(1, 2).bmm(grad)
        if l > 0:
            grad = back(grad.bmm(pop.weights[l].transpose(1, 2)), outs[l])

