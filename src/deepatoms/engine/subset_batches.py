"""Minibatches as random subsets: each step, B *distinct* indices drawn uniformly from range(n).

This is the sampler of the "Atomic Experiments" code (`random_batch`: the first B entries of a
fresh permutation every step): no replacement inside a batch, independent batches across steps,
so B = n is the full training set every step. (`BatchStream` "random" samples with replacement;
"epoch" walks permutations and drops the last short batch.)
"""
from __future__ import annotations

import torch

from ..errors import ParamError


class SubsetStream:
    """Yields (S, B) long tensors, one row per stream (e.g. one stream per seed)."""

    def __init__(self, gens: list[torch.Generator], n: int, batch: int, chunk: int | None = None,
                 device: torch.device | str = "cpu"):
        if not 1 <= batch <= n:
            raise ParamError(f"batch size {batch} must be between 1 and the data size {n}")
        self.gens, self.n, self.batch = gens, n, batch
        # keys for one refill: chunk × n floats per stream, capped at ~1M
        self.chunk = chunk or max(1, min(1024, (1 << 20) // n))
        self.device = torch.device(device)
        self._buffer: torch.Tensor | None = None
        self._pos = 0

    def _draw(self, gen: torch.Generator) -> torch.Tensor:
        """(chunk, B) indices for one stream."""
        if self.batch == self.n:
            return torch.arange(self.n).expand(self.chunk, self.n)
        if self.batch == 1:
            return torch.randint(self.n, (self.chunk, 1), generator=gen)
        keys = torch.rand(self.chunk, self.n, generator=gen)
        return keys.topk(self.batch, dim=1).indices  # B smallest-rank keys = a uniform subset

    def _refill(self) -> None:
        rows = [self._draw(g) for g in self.gens]
        self._buffer = torch.stack(rows, dim=1).to(self.device)  # (chunk, S, B)
        self._pos = 0

    def next(self) -> torch.Tensor:
        if self._buffer is None or self._pos == self._buffer.shape[0]:
            self._refill()
        assert self._buffer is not None
        out = self._buffer[self._pos]
        self._pos += 1
        return out
