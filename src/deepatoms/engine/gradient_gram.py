"""Gram matrix of per-sample parameter gradients of a scalar-output `MLPPop`:
K[m, i, j] = ⟨∂p_m(x_i)/∂θ_m, ∂p_m(x_j)/∂θ_m⟩ (the empirical neural tangent kernel).

Layer l contributes (⟨a_{l−1,i}, a_{l−1,j}⟩ + 1)·⟨δ_{l,i}, δ_{l,j}⟩: weights and bias, with a the
layer input and δ = ∂p/∂(pre-activation) of that sample. It costs n²·Σ widths per model instead
of n·#parameters per direction for explicit per-sample gradients, and gives every quadratic form
vᵀKv = ‖Σ_i v_i ∂p(x_i)/∂θ‖² — the squared norm of any weighted gradient sum.
"""
from __future__ import annotations

import torch

from .population import MLPPop


def _activations_and_deltas(pop: MLPPop, x: torch.Tensor):
    """Per layer: input a (M, n, n_l) and δ = ∂p/∂z (M, n, n_{l+1}); p summed over samples is
    differentiated once, which gives every sample's own δ because samples do not interact."""
    weights = [w.detach() for w in pop.weights]
    biases = [b.detach() for b in pop.biases]
    h = x.expand(pop.m, *x.shape) if x.dim() == 2 else x
    inputs, pre = [], []
    with torch.enable_grad():
        for l, (w, b) in enumerate(zip(weights, biases)):
            inputs.append(h)
            z = torch.baddbmm(b, h, w).requires_grad_()
            pre.append(z)
            if l < len(weights) - 1:
                h = pop.activate(z)
                if pop.masks[l] is not None:
                    h = h * pop.masks[l]
        deltas = torch.autograd.grad(pre[-1].sum(), pre)
    return [a.detach() for a in inputs], [dl.detach() for dl in deltas]


def gradient_gram(pop: MLPPop, x: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """K: (M, n, n) for inputs x (M, n, d_in) per model or (n, d_in) shared; the population must
    have one output unit. Accumulated in `dtype`."""
    if pop.widths[-1] != 1:
        raise ValueError(f"gradient_gram needs one output unit, the population has {pop.widths[-1]}")
    inputs, deltas = _activations_and_deltas(pop, x)
    k = None
    for a, dl in zip(inputs, deltas):
        a, dl = a.to(dtype), dl.to(dtype)
        term = (torch.bmm(a, a.transpose(1, 2)) + 1) * torch.bmm(dl, dl.transpose(1, 2))
        k = term if k is None else k + term
    assert k is not None
    return k
