"""Minibatch indices per model, drawn from each model's own generator in chunks of steps."""
from __future__ import annotations

import torch

from .sampler import gather  # noqa: F401  (one gather for both samplers)


class BatchStream:
    """Yields (M, B) index tensors, one row per model.

    mode "random": B indices drawn uniformly with replacement each step (online minibatches);
    mode "epoch": a fresh permutation per epoch, consumed B at a time (last short batch dropped
    only if `drop_last`).
    """

    def __init__(self, gens: list[torch.Generator], n: int, batch: int, mode: str = "random",
                 chunk: int = 512, device: torch.device | str = "cpu"):
        if batch > n and mode == "epoch":
            raise ValueError(f"batch {batch} larger than the data ({n})")
        self.gens, self.n, self.batch, self.mode = gens, n, batch, mode
        self.chunk, self.device = chunk, torch.device(device)
        self._buffer: torch.Tensor | None = None
        self._pos = 0
        self._perms: list[torch.Tensor] = [torch.empty(0, dtype=torch.long) for _ in gens]

    def _refill(self) -> None:
        if self.mode == "random":
            rows = [torch.randint(self.n, (self.chunk, self.batch), generator=g) for g in self.gens]
        else:
            rows = [self._epoch_chunk(m) for m in range(len(self.gens))]
        self._buffer = torch.stack(rows, dim=1).to(self.device)  # (chunk, M, B)
        self._pos = 0

    def _epoch_chunk(self, m: int) -> torch.Tensor:
        need = self.chunk * self.batch
        while self._perms[m].numel() < need:
            per_epoch = (self.n // self.batch) * self.batch  # whole batches only
            perm = torch.randperm(self.n, generator=self.gens[m])[:per_epoch]
            self._perms[m] = torch.cat([self._perms[m], perm])
        out, self._perms[m] = self._perms[m][:need], self._perms[m][need:]
        return out.view(self.chunk, self.batch)

    def next(self) -> torch.Tensor:
        if self._buffer is None or self._pos == self._buffer.shape[0]:
            self._refill()
        assert self._buffer is not None
        out = self._buffer[self._pos]
        self._pos += 1
        return out
