"""Linear-periodic targets (failures seed 000 §2, Theorem 2): y = cos(r·uᵀx), x ~ N(0, I_d),
u a random unit vector. Online data: a fresh Gaussian batch every step.
"""
from __future__ import annotations

from typing import Sequence

import torch


def unit_directions(gen: torch.Generator, n: int, d: int) -> torch.Tensor:
    """n directions uniform on the unit sphere of R^d: (n, d) float32."""
    u = torch.randn(n, d, generator=gen)
    return u / u.norm(dim=1, keepdim=True)


def cosine_target(z: torch.Tensor, r: float | torch.Tensor) -> torch.Tensor:
    """ψ(r·z) with ψ = cos; z = uᵀx of any shape, r broadcastable to z."""
    return torch.cos(r * z)


class GaussianStream:
    """Fresh N(0, I_d) batches for P independent streams: `next()` → (P, B, d).

    Stream p draws only from gens[p], `chunk` steps at a time, so its samples do not depend on
    the other streams.
    """

    def __init__(self, gens: Sequence[torch.Generator], d: int, batch: int, chunk: int = 64,
                 device: torch.device | str = "cpu"):
        self.gens, self.d, self.batch, self.chunk = list(gens), d, batch, chunk
        self.device = torch.device(device)
        self._buffer: torch.Tensor | None = None
        self._pos = 0

    def draw(self, n: int, gens: Sequence[torch.Generator] | None = None) -> torch.Tensor:
        """n samples per stream from `gens` (default: the stream's own): (P, n, d)."""
        gens = self.gens if gens is None else gens
        x = torch.stack([torch.randn(n, self.d, generator=g) for g in gens])
        return x.to(self.device)

    def next(self) -> torch.Tensor:
        if self._buffer is None or self._pos == self.chunk:
            x = self.draw(self.chunk * self.batch)  # (P, chunk·B, d)
            self._buffer = x.view(len(self.gens), self.chunk, self.batch, self.d).transpose(0, 1)
            self._pos = 0
        out = self._buffer[self._pos]
        self._pos += 1
        return out
