"""Private helper of sharp-minima: Keskar et al. (2017)'s sharpness metric, exactly as
the paper defines it (its authors never released the code), and the loss of one model of a
stacked MLP population as a function of one flat float64 parameter vector.

Metric 2.1 of the paper: for parameters x ∈ Rⁿ, ε > 0 and A ∈ R^{n×p},

    φ_{x,f}(ε, A) = 100 · (max_{y ∈ C_ε} f(x + A y) − f(x)) / (1 + f(x)),
    C_ε = {z ∈ Rᵖ : |z_i| ≤ ε (|(A⁺x)_i| + 1)},

A⁺ the pseudo-inverse of A. A = None stands for A = Iₙ (then the box is |z_i| ≤ ε(|x_i| + 1)).
The maximum is approximated as in the paper with 10 iterations of SciPy's L-BFGS-B on
−f(x + A y) with gradient −Aᵀ∇f(x + A y), with its stopping tolerances off (`gtol = ftol = 0`):
with SciPy's defaults a search started at a well-converged minimum (|∇f| ≈ 3e-6) stops at
iteration 0 and reports φ = 0. The search runs from y = 0 and from `starts − 1` points drawn
uniformly in the box; the maximum is the largest of f(x) and every run's final value (L-BFGS-B
never accepts an uphill step, so a run's final value is the best point it saw).
`tests/atoms/test_sharp_minima.py` checks φ against the closed form on separable quadratics.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import torch
from scipy.optimize import minimize

FunGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]  # θ (n,) → (f(θ), ∇f(θ) (n,))


def box(x: np.ndarray, eps: float, a: np.ndarray | None = None) -> np.ndarray:
    """Half-widths of C_ε: ε(|x_i| + 1) for A = I, else ε(|(A⁺x)_i| + 1)."""
    centre = x if a is None else np.linalg.pinv(a) @ x
    return eps * (np.abs(centre) + 1.0)


class Sharpness(NamedTuple):
    """Keskar's φ, the maximum of f found in the box, f(x), and the L-BFGS-B iterations run
    (summed over the starts; 0 means no search moved)."""
    phi: float
    fmax: float
    f0: float
    nit: int


def sharpness(fun: FunGrad, x: np.ndarray, eps: float = 1e-3, a: np.ndarray | None = None,
              iterations: int = 10, starts: int = 1,
              rng: np.random.Generator | None = None) -> Sharpness:
    """Keskar's Metric 2.1 (see the module docstring): L-BFGS-B from y = 0 and from
    `starts − 1` uniform points of the box (drawn from `rng`), tolerances off."""
    f0 = float(fun(x)[0])
    half = box(x, eps, a)
    dim = x.size if a is None else a.shape[1]
    if starts > 1 and rng is None:
        raise ValueError("random starts need a generator (rng)")

    def negative(y: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = fun(x + (y if a is None else a @ y))
        return -float(f), -(g if a is None else a.T @ g)

    inits = [np.zeros(dim)] + [rng.uniform(-half, half) for _ in range(starts - 1)]
    fmax, nit = f0, 0
    for y0 in inits:
        res = minimize(negative, y0, jac=True, method="L-BFGS-B",
                       bounds=np.stack([-half, half], axis=1),
                       options=dict(maxiter=iterations, gtol=0.0, ftol=0.0))
        fmax, nit = max(fmax, -float(res.fun)), nit + int(res.nit)
    return Sharpness(100.0 * (fmax - f0) / (1.0 + f0), fmax, f0, nit)


def flat(tensors: list[torch.Tensor], i: int) -> np.ndarray:
    """Model i's parameters (from stacked (M, ...) tensors) as one float64 vector."""
    return np.concatenate([t[i].detach().cpu().double().reshape(-1).numpy() for t in tensors])


def unflat(theta: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    """The inverse of `flat` for one model: tensors shaped (1, ...) like `like`'s members."""
    out, k = [], 0
    for t in like:
        n = t[0].numel()
        out.append(theta[k:k + n].view(1, *t.shape[1:]))
        k += n
    return out


def mlp_loss(forward, weights: list[torch.Tensor], biases: list[torch.Tensor],
             x: torch.Tensor, y: torch.Tensor) -> FunGrad:
    """f(θ) = mean cross-entropy over (x, y) of the MLP whose flat float64 parameters are θ
    (weights then biases, each shaped like one model of the stacked tensors), and ∇f."""
    like = [*weights, *biases]
    xd, n_w = x.double(), len(weights)

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        th = torch.tensor(theta, dtype=torch.float64, device=x.device, requires_grad=True)
        parts = unflat(th, like)
        logits = forward(parts[:n_w], parts[n_w:], xd)[0]
        loss = torch.nn.functional.cross_entropy(logits, y)
        (g,) = torch.autograd.grad(loss, th)
        return float(loss.detach()), g.cpu().numpy()
    return fun
