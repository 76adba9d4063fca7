"""Minibatches drawn without replacement from per-model data sets of different sizes
(`engine.subset_batches.SubsetStream` is the same sampler for one shared data size).

Each step, model m takes a fresh uniformly random subset of min(batch, n[m]) distinct rows of its
own data (as `np.random.permutation(n)[:batch]` in the seed-003 code), drawn from its own
generator, so its batches do not depend on the other models of the population. The index tensor
has a fixed width `batch`; when n[m] < batch the unused slots point at row 0 with weight 0.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .losses import weighted_cross_entropy  # noqa: F401  (moved; kept importable here)


class PaddedSubsetStream:
    """Yields (idx (M, B) long, weight (M, B) float): weights are 1/min(B, n[m]) on used slots."""

    def __init__(self, gens: Sequence[torch.Generator], sizes: Sequence[int], batch: int,
                 chunk: int = 256, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        if len(gens) != len(sizes):
            raise ValueError("one generator per model")
        if batch < 1 or min(sizes) < 1:
            raise ValueError(f"batch and data sizes must be >= 1, got {batch}, {min(sizes)}")
        self.gens, self.sizes, self.batch = list(gens), [int(n) for n in sizes], int(batch)
        self.chunk, self.device = int(chunk), torch.device(device)
        used = torch.tensor([min(self.batch, n) for n in self.sizes])
        slots = torch.arange(self.batch).view(1, -1)
        self.weight = ((slots < used.view(-1, 1)).to(dtype) / used.view(-1, 1).to(dtype)).to(self.device)
        self._buffer: torch.Tensor | None = None
        self._pos = 0

    def _draw(self, m: int) -> torch.Tensor:
        """(chunk, batch) row indices for model m."""
        n, b = self.sizes[m], min(self.batch, self.sizes[m])
        keys = torch.rand(self.chunk, n, generator=self.gens[m])
        idx = keys.argsort(dim=1)[:, :b]  # the first b entries of a random permutation
        if b < self.batch:
            idx = torch.cat([idx, idx.new_zeros(self.chunk, self.batch - b)], dim=1)
        return idx

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._buffer is None or self._pos == self.chunk:
            rows = [self._draw(m) for m in range(len(self.gens))]
            self._buffer = torch.stack(rows, dim=1).to(self.device)  # (chunk, M, B)
            self._pos = 0
        out = self._buffer[self._pos]
        self._pos += 1
        return out, self.weight

