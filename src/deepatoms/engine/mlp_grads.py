"""A hand-written backward pass for `MLPPop` with the mean softmax cross-entropy per model: the
gradients `loss.sum().backward()` would give, computed with the very kernels autograd calls, in
its layouts (so equal to the bit), without building a graph.

For models that take tens of thousands of tiny steps (batch size 1) a step is all per-op
overhead, and autograd's graph is a third of it. For large batches the other way round: a whole
population's activations overflow the cache and its elementwise ops (sigmoid and its backward,
bias copies) run at memory speed; taking a few models at a time (`chunked`) keeps them in cache,
with the same kernels on each model's slices, and halved a full-batch step of class-imbalance.
Also the weighted cross-entropy of `losses.weighted_cross_entropy`. Supported: one activation
for the whole population among `ACTIVATION_BACKWARD`'s, no masked hidden units; `supports(pop)`
says.
"""
from __future__ import annotations

import functools
import math

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


def logit_grad(z: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None
               ) -> torch.Tensor:
    """d Σ_m mean_b CE(z[m, b], y[m, b]) / dz, as autograd computes it for
    `cross_entropy(z.reshape(M·B, C), y, reduction="none").view(M, B).mean(1).sum()`; with
    `weight` (M, B), of Σ_m Σ_b weight·CE (`losses.weighted_cross_entropy(...).sum()`, whose
    backward hands nll_loss 1 × weight: the weights themselves)."""
    m, b, c = z.shape
    logp = torch._log_softmax(z.reshape(m * b, c), 1, False)
    per_example, total_weight = _mean_weights(m, b, z.dtype, z.device)
    if weight is not None:
        per_example = weight.reshape(m * b)
    g = torch.ops.aten.nll_loss_backward(per_example, logp, y.reshape(-1), None, 0, -100,
                                         total_weight)
    return torch._log_softmax_backward_data(g, logp, 1, z.dtype).view(m, b, c)


@torch.no_grad()
def cross_entropy_grads(pop: MLPPop, x: torch.Tensor, y: torch.Tensor,
                        weight: torch.Tensor | None = None, chunked: bool = False) -> None:
    """Set every parameter's `.grad` to that of Σ_m (mean cross-entropy of model m on its
    (x[m], y[m])): x (M, B, d_in) or (B, d_in) shared, y (M, B) long; with `weight` (M, B), of
    Σ_m Σ_b weight[m, b]·CE (`losses.weighted_cross_entropy`) instead of the mean.
    `chunked`: forward and backward `chunk_for` models at a time (on the CPU, for large batches)."""
    chunk = chunk_for(pop, y.shape[1], x.device) if chunked else pop.m
    if chunk < pop.m:
        return _chunked_grads(pop, x, y, weight, chunk)
    outs = _forward(pop, x)
    back = ACTIVATION_BACKWARD[pop._groups[0][2]]
    grad = logit_grad(outs[-1], y, weight)
    for l in range(len(pop.weights) - 1, -1, -1):
        pop.biases[l].grad = grad.sum(1, keepdim=True)
        pop.weights[l].grad = outs[l].transpose(1, 2).bmm(grad)
        if l > 0:
            grad = back(grad.bmm(pop.weights[l].transpose(1, 2)), outs[l])


# Elements of one layer's activations a chunk of models may hold (512 KiB of float32: with the
# few kept per layer, within a core's L2/L3 share); past it elementwise ops run at memory speed.
CHUNK_ELEMENTS = 1 << 17
# torch's CPU elementwise loops take 2 vectors at a time and finish the remainder with scalar code,
# whose sigmoid differs in the last bit: a chunk's activations must start at a multiple of 2
# vectors (64 floats covers AVX-512) for every element to take the path it takes in the whole.
_VECTOR_ALIGN = 64


def chunk_for(pop: MLPPop, batch: int, device: torch.device = torch.device("cpu")) -> int:
    """Models per chunk for `cross_entropy_grads` at minibatch size `batch`: as many as fit
    `CHUNK_ELEMENTS`, a multiple of the count that keeps every hidden layer's chunk aligned;
    all M (no chunks) off the CPU, where kernels are launched per op and caches differ."""
    if torch.device(device).type != "cpu":
        return pop.m
    step = 1
    for w in pop.weights[:-1]:
        step = math.lcm(step, _VECTOR_ALIGN // math.gcd(_VECTOR_ALIGN, batch * w.shape[2]))
    widest = max(w.shape[2] for w in pop.weights)
    return min(pop.m, max(step, CHUNK_ELEMENTS // (batch * widest) // step * step))


def _chunked_grads(pop: MLPPop, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None,
                   chunk: int) -> None:
    """`cross_entropy_grads`, models a..a+chunk at a time, into gradients of the full shapes."""
    back = ACTIVATION_BACKWARD[pop._groups[0][2]]
    w_grads = [torch.empty_like(w) for w in pop.weights]
    b_grads = [torch.empty_like(b) for b in pop.biases]
    last = len(pop.weights) - 1
    for a in range(0, pop.m, chunk):
        part = slice(a, min(a + chunk, pop.m))
        n = part.stop - part.start
        outs = [x.expand(n, *x.shape) if x.dim() == 2 else x[part]]
        for l, (w, b) in enumerate(zip(pop.weights, pop.biases)):
            h = torch.baddbmm(b[part], outs[-1], w[part])
            outs.append(pop.activate(h) if l < last else h)
        grad = logit_grad(outs[-1], y[part], None if weight is None else weight[part])
        for l in range(last, -1, -1):
            b_grads[l][part] = grad.sum(1, keepdim=True)
            torch.bmm(outs[l].transpose(1, 2), grad, out=w_grads[l][part])
            if l > 0:
                grad = back(grad.bmm(pop.weights[l][part].transpose(1, 2)), outs[l])
    for p, g in zip(pop.params, w_grads + b_grads):
        p.grad = g

