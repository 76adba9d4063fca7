"""Private helper of optimizer-minima: losses on straight lines between pairs of solutions and
the barrier they show.

barrier(θ₁, θ₂) = max over α ∈ [0, 1] of L((1 − α)θ₁ + αθ₂) − ((1 − α)L(θ₁) + αL(θ₂)): how far the
loss rises above the straight line between the end points' losses (0 for points in one convex
basin; Frankle et al. 2020's "error barrier", here on the training loss).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from . import _stacked_mlp as nets


def path_losses(final: Sequence[torch.Tensor], first: Sequence[int], second: Sequence[int],
                alphas: np.ndarray, x: torch.Tensor, y: torch.Tensor, activation: str = "relu"
                ) -> np.ndarray:
    """(P, len(alphas)) mean training loss at θ(α) for each pair (first[k], second[k]) of the
    stacked parameters `final` ([*weights, *biases], each (M, ...))."""
    i1 = torch.as_tensor(list(first), device=final[0].device)
    i2 = torch.as_tensor(list(second), device=final[0].device)
    a_end, b_end = [t[i1] for t in final], [t[i2] for t in final]
    n = len(final) // 2
    out = []
    with torch.no_grad():
        for a in alphas:
            theta = [u * (1 - float(a)) + v * float(a) for u, v in zip(a_end, b_end)]
            out.append(nets.mean_loss(theta[:n], theta[n:], x, y, activation).cpu().numpy())
    return np.stack(out, axis=1).astype(np.float64)


def barrier(losses: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """(P,) max over α of the loss above the chord between the end points; losses (P, A) with
    alphas[0] = 0 and alphas[-1] = 1."""
    chord = losses[:, :1] * (1 - alphas) + losses[:, -1:] * alphas
    return (losses - chord).max(axis=1)
