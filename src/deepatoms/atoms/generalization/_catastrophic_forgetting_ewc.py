"""EWC of catastrophic-forgetting: the diagonal (empirical) Fisher information of a stacked MLP
population and the proximal EWC step.

EWC's diagonal Fisher is the mean over examples of the *squared per-example* gradients of the
log-likelihood. For an MLP the per-example gradient of W_l is the outer product a_{l-1} δ_lᵀ of
the layer's input and the loss's gradient at its pre-activation, so its elementwise square is
a_{l-1}² (δ_l²)ᵀ and the mean over examples is one matmul: (A²)ᵀ Δ² / N — exact, with no
per-example gradient tensors. The common bug squares the mean gradient instead, ((Aᵀ Δ / N)²),
which vanishes at a minimum of the training loss. Both are computed here from the same pass.
"""
from __future__ import annotations

import torch

from ._stacked_mlp import forward, masked_nll


def fisher_diagonals(weights, biases, x, y, allowed=None):
    """Diagonal Fisher of each model on data x (M, N, d), labels y (M, N) (the empirical Fisher:
    gradients of −log p(y_n | x_n) at the true labels). Returns (fisher, squared_mean): two lists
    of tensors shaped like [*weights, *biases]; fisher = mean_n g_n² (correct), squared_mean =
    (mean_n g_n)² (the bug)."""
    ws = [w.detach().requires_grad_() for w in weights]  # a graph to differentiate
    bs = [b.detach().requires_grad_() for b in biases]
    with torch.enable_grad():
        logits, inputs, pre = forward(ws, bs, x, return_all=True)
        nll = masked_nll(logits, y, allowed).sum()  # examples are independent: ∂/∂z_n is δ_n
        deltas = torch.autograd.grad(nll, pre)
    inputs = [a.detach() for a in inputs]
    n = x.shape[1]
    fisher_w = [torch.einsum("mnd,mne->mde", a * a, d * d) / n for a, d in zip(inputs, deltas)]
    fisher_b = [(d * d).mean(dim=1, keepdim=True) for d in deltas]
    mean_w = [(torch.einsum("mnd,mne->mde", a, d) / n) ** 2 for a, d in zip(inputs, deltas)]
    mean_b = [d.mean(dim=1, keepdim=True) ** 2 for d in deltas]
    return [*fisher_w, *fisher_b], [*mean_w, *mean_b]


class ProximalEWC:
    """SGD on the task loss with EWC's quadratic penalty (λ/2)·Σ F_i (θ_i − θ*_i)² taken as an
    exact implicit (proximal) step: θ ← (θ − lr·g + lr·λF·θ*) / (1 + lr·λF). For lr·λF ≪ 1 this
    is the explicit SGD step on the penalised loss; unlike it, it stays stable when lr·λF > 2
    (λ searched up to 1e4), where explicit SGD diverges. λ = 0 is plain SGD, exactly.
    `lam` (M,); `fisher`, `anchor`: lists shaped like `params`."""

    def __init__(self, params, lr: float, lam: torch.Tensor, fisher, anchor):
        self.params, self.lr = list(params), float(lr)
        shape = lambda p: lam.view(-1, *([1] * (p.dim() - 1)))
        self.stiff = [self.lr * shape(p) * f for p, f in zip(self.params, fisher)]
        self.anchor = [a.detach() for a in anchor]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for p, k, a in zip(self.params, self.stiff, self.anchor):
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            p.copy_((p - self.lr * g + k * a) / (1 + k))
