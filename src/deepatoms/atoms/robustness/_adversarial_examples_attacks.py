"""Private attack helpers: the fast gradient sign method (Goodfellow et al. 2015), a random-sign
control of the same ℓ∞ size, and Szegedy et al.'s (2014) box-constrained L-BFGS search for the
smallest perturbation that makes a model output a chosen label.

Inputs live in the box [0, 1]; every perturbed image is clipped back into it.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import scipy.optimize as so
import torch
from threadpoolctl import threadpool_limits

from ...engine.derivatives import input_grad
from ._stacked_nets import cross_entropy

Forward = Callable[[torch.Tensor], torch.Tensor]


def fgsm(forward: Forward, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """x + ε·sign(∇ₓ J(x, y)), clipped to [0, 1]. x (M, B, ...) one batch per model, y (B,) or
    (M, B); each model's gradient is taken at its own inputs (models are independent)."""
    g = input_grad(lambda z: cross_entropy(forward(z), y), x)
    return (x + eps * torch.sign(g)).clamp(0.0, 1.0).detach()


def pgd(forward: Forward, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
        gens: Sequence[torch.Generator]) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018): a uniform random start in the ℓ∞ ball,
    then `steps` signed steps of 2.5·ε/steps on the loss, each projected back onto the ball
    around x and the box [0, 1]. x (M, B, ...), one generator per model."""
    start = torch.stack([torch.rand(x.shape[1:], generator=g) for g in gens]).to(x)
    adv = (x + eps * (2 * start - 1)).clamp(0.0, 1.0)
    for _ in range(steps):
        g = input_grad(lambda z: cross_entropy(forward(z), y), adv)
        adv = adv + 2.5 * eps / steps * torch.sign(g)
        adv = torch.minimum(torch.maximum(adv, x - eps), x + eps).clamp(0.0, 1.0).detach()
    return adv


def random_sign(x: torch.Tensor, eps: float, gens: Sequence[torch.Generator]) -> torch.Tensor:
    """x + ε·s with s uniform in {−1, +1} per pixel, drawn per model from its own generator
    (x (M, B, ...)), clipped to [0, 1]."""
    signs = torch.stack([torch.randint(0, 2, x.shape[1:], generator=g) for g in gens])
    return (x + eps * (2 * signs.to(x) - 1)).clamp(0.0, 1.0)


LossGrad = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def mlp_loss_grad(layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> LossGrad:
    """Cross-entropy of a ReLU MLP (float64 NumPy, `layers` = [(W (n_in, n_out), b (n_out,))])
    and its gradient with respect to the input, by hand-written backpropagation: f(x (B, d),
    target (B,)) → (loss (B,), ∂loss/∂x (B, d)). NumPy keeps SciPy's many small evaluations
    cheap."""
    def f(x: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hs, h = [], x
        for l, (w, b) in enumerate(layers):
            hs.append(h)
            h = h @ w + b
            if l < len(layers) - 1:
                h = np.maximum(h, 0.0)
        z = h - h.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        rows = np.arange(len(x))
        delta = np.exp(logp)
        delta[rows, target] -= 1.0  # ∂CE/∂logits
        for l in range(len(layers) - 1, -1, -1):
            delta = delta @ layers[l][0].T
            if l > 0:
                delta = delta * (hs[l] > 0)
        return -logp[rows, target], delta
    return f


def _objective(loss_grad: LossGrad, x: np.ndarray, target: np.ndarray, c: np.ndarray):
    """F(r) = Σ_b c_b ‖r_b‖² + CE(x_b + r_b, target_b) and its gradient, over the flat
    perturbation of all B images (F is separable, so one L-BFGS run solves them all)."""
    def f(flat: np.ndarray) -> tuple[float, np.ndarray]:
        r = flat.reshape(x.shape)
        ce, g = loss_grad(x + r, target)
        value = ce.sum() + (c * (r * r).sum(axis=1)).sum()
        return float(value), (g + 2 * c[:, None] * r).ravel()
    return f


def lbfgs_solve(loss_grad: LossGrad, x: np.ndarray, target: np.ndarray, c: np.ndarray,
                max_iter: int = 300) -> np.ndarray:
    """argmin_r c‖r‖² + loss(x + r, target) subject to x + r ∈ [0, 1] (SciPy's L-BFGS-B), for
    B images x (B, d) with one penalty c_b each. Returns r (B, d)."""
    res = so.minimize(_objective(loss_grad, x, target, c), np.zeros(x.size), jac=True,
                      method="L-BFGS-B", bounds=so.Bounds((-x).ravel(), (1.0 - x).ravel()),
                      options=dict(maxiter=max_iter))
    return res.x.reshape(x.shape)


def _predict(loss_grad: LossGrad, x: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """argmin over labels of the loss = the predicted label, from the loss function alone."""
    losses = np.stack([loss_grad(x, np.full(len(x), k))[0] for k in range(n_classes)], axis=1)
    return losses.argmin(axis=1)


def minimal_perturbation(loss_grad: LossGrad, x: np.ndarray, target: np.ndarray,
                         c_range: tuple[float, float] = (1e-3, 1e2), rounds: int = 6
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Szegedy's line search over the penalty c, per image: the largest c whose minimiser r
    makes the model output `target` (the smallest perturbation found). A solve at the smallest
    c decides whether one exists; then `rounds` bisections of log c between a c known to work
    and one known to fail, all images at once. Returns (r (B, d), found (B,) bool)."""
    # one BLAS thread: L-BFGS-B's many tiny products are ~15× slower with a thread pool
    with threadpool_limits(limits=1, user_api="blas"):
        return _bisect(loss_grad, x, target, c_range, rounds)


def _bisect(loss_grad: LossGrad, x: np.ndarray, target: np.ndarray,
            c_range: tuple[float, float], rounds: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.full(len(x), c_range[0]), np.full(len(x), c_range[1])
    best = lbfgs_solve(loss_grad, x, target, lo)
    found = _predict(loss_grad, x + best) == target
    for _ in range(rounds):
        mid = np.sqrt(lo * hi)
        r = lbfgs_solve(loss_grad, x, target, mid)
        hit = (_predict(loss_grad, x + r) == target) & found
        best[hit] = r[hit]
        lo, hi = np.where(hit, mid, lo), np.where(hit, hi, mid)
    return best, found
