"""Targets through a flat (piecewise-constant) activation (failures seed 000 §5, Fig. 7).

y = u(v*ᵀx + b*), u = "round down to the nearest level", levels b* + LEVEL_OFFSETS (52 values),
v* ~ N(0, I_100), b* ~ N(0, 1), x ~ N(0, 10⁻⁴ I_100) — so r = v*ᵀx + b* ~ N(b*, ≈0.1²) and the
steps that matter are those at b* + {−0.2, 0, 0.1, 0.15, 0.175}. Below the lowest level u returns
the lowest level.
"""
from __future__ import annotations

from typing import Sequence

import torch

LEVEL_OFFSETS: tuple[float, ...] = tuple(sorted(
    {float(v) for v in range(-100, 100, 5)}
    | {-5.0, -4.0, -3.0, -2.0, -1.0, -0.2, 0.0, 0.1, 0.15, 0.175, 1.0, 2.0, 3.0, 4.0, 5.0}))
INPUT_STD = 0.01  # x ~ N(0, 10⁻⁴ I)
SHARPNESS = 50.0  # the code's sigmoid approximation: slope 50/Δ_i for a jump of size Δ_i ...
CENTRE_SHIFT = 1 / 20  # ... centred Δ_i/20 before the jump


def levels(b_star: torch.Tensor) -> torch.Tensor:
    """b_star (S,) → sorted levels (S, 52)."""
    return b_star.unsqueeze(1) + torch.tensor(LEVEL_OFFSETS, dtype=b_star.dtype,
                                              device=b_star.device)


def round_down(r: torch.Tensor, lv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """u(r): the largest level <= r (the lowest level below all). r (S, n), lv (S, L) sorted →
    (values (S, n), class indices (S, n) int64)."""
    idx = (torch.searchsorted(lv.contiguous(), r.contiguous(), right=True) - 1).clamp(min=0)
    return lv.gather(1, idx), idx


def smooth_step(r: torch.Tensor, lv: torch.Tensor) -> torch.Tensor:
    """The non-flat approximation of u: l_0 + Σ_i Δ_i σ((50/Δ_i)(r − l_i + Δ_i/20)), Δ_i = l_i − l_{i−1}.
    r (S, n), lv (S, L) → (S, n)."""
    delta = lv[:, 1:] - lv[:, :-1]  # (S, L−1)
    centre = lv[:, 1:] - CENTRE_SHIFT * delta
    arg = (SHARPNESS / delta).unsqueeze(1) * (r.unsqueeze(2) - centre.unsqueeze(1))  # (S, n, L−1)
    return lv[:, :1] + (delta.unsqueeze(1) * torch.sigmoid(arg)).sum(dim=2)


def jump_distance(r: torch.Tensor, lv: torch.Tensor) -> torch.Tensor:
    """Distance from r (S, n) to the nearest jump (level) of u: (S, n)."""
    return (r.unsqueeze(2) - lv.unsqueeze(1)).abs().min(dim=2).values


class FlatTask:
    """S independent targets (one per seed): v* (S, 100), b* (S,), levels (S, 52)."""

    def __init__(self, gens: Sequence[torch.Generator], dim: int = 100,
                 device: torch.device | str = "cpu"):
        draws = [(torch.randn(dim, generator=g), torch.randn((), generator=g)) for g in gens]
        self.device = torch.device(device)
        self.v = torch.stack([v for v, _ in draws]).to(self.device)  # (S, dim)
        self.b = torch.stack([b for _, b in draws]).to(self.device)  # (S,)
        self.levels = levels(self.b)
        self.dim = dim

    def draw(self, gens: Sequence[torch.Generator], n: int) -> dict[str, torch.Tensor]:
        """n fresh samples per target from gens[s]: x (S, n, dim), r, y, cls (S, n)."""
        x = torch.stack([torch.randn(n, self.dim, generator=g) for g in gens]).to(self.device)
        x = x * INPUT_STD
        # one product per target: a batched (S, n, dim) @ (S, dim, 1) rounds differently for
        # different S (~1e-6), so a seed's r would depend on the seeds drawn with it
        r = torch.stack([x[s] @ self.v[s] for s in range(len(gens))]) + self.b.unsqueeze(1)
        y, cls = round_down(r, self.levels)
        return dict(x=x, r=r, y=y, cls=cls)
