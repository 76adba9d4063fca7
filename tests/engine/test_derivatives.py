"""engine/derivatives.py: the top eigenvalue of a quadratic population."""
from __future__ import annotations

import torch

from deepatoms.engine.derivatives import top_eigenvalue


def test_top_eigenvalue_of_a_quadratic_population():
    """Two models with f_m(θ) = ½ Σ h_mi θ_i²: power iteration on HVPs gives max_i h_mi."""
    h = torch.tensor([[1.0, 3.0, 0.5], [2.0, 0.1, 7.0]], dtype=torch.float64)
    theta = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    lam = top_eigenvalue(lambda: 0.5 * (h * theta * theta).sum(1), [theta],
                         torch.Generator().manual_seed(0), iterations=200)
    torch.testing.assert_close(lam, torch.tensor([3.0, 7.0], dtype=torch.float64))
