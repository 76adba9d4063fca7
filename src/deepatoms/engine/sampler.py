"""The engine's one minibatch sampler: (M, B) row indices per step, one row per model, each drawn
from that model's own generator, so a model's batches never depend on the rest of its population.

Modes:
- "subset" (default): B *distinct* rows every step, a fresh uniformly random subset each time
  (the "Atomic Experiments" code's `random_batch`: the first B entries of a new permutation),
  so B = n is the whole data set every step. Drawn as the B largest of n uniform keys.
- "replacement": B rows drawn uniformly with replacement (online minibatches).
- "epoch": a fresh permutation per epoch, consumed B at a time; the last short batch of an
  epoch is dropped.

Models may have data sets of different sizes (`sizes`: one int for all, or one per model). In
"subset" mode a model with n < B takes all its n rows; the unused slots of its index row point at
row 0 and `weights` gives them weight 0 (each used slot 1/min(B, n), so a weighted sum is the
model's mean loss). Indices are drawn in chunks of steps to keep the per-step cost low; the
chunk length is part of the stream (changing it changes the batches).
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..errors import ParamError

MODES = ("subset", "replacement", "epoch")


def gather(data: torch.Tensor, idx: torch.Tensor, shared: bool = False) -> torch.Tensor:
    """Minibatch rows. idx (M, B); data per model (M, N, ...) or, with `shared`, one (N, ...)
    for all models. Returns (M, B, ...)."""
    if shared:
        return data[idx]
    rows = torch.arange(idx.shape[0], device=idx.device).unsqueeze(1)
    return data[rows, idx]


def _default_chunk(mode: str, n: int) -> int:
    if mode == "subset":
        return max(1, min(1024, (1 << 20) // n))  # keys for one refill capped at ~1M floats
    return 512


class Sampler:
    """Yields (M, B) long index tensors; `weights` (M, B) is the per-slot weight (None unless
    some model has fewer rows than B in "subset" mode)."""

    def __init__(self, gens: Sequence[torch.Generator], sizes: int | Sequence[int], batch: int,
                 mode: str = "subset", chunk: int | None = None,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        self.gens = list(gens)
        self.sizes = ([int(sizes)] * len(self.gens) if isinstance(sizes, int)
                      else [int(n) for n in sizes])
        self.batch, self.mode, self.device = int(batch), mode, torch.device(device)
        self._check()
        self.chunk = int(chunk or _default_chunk(mode, max(self.sizes)))
        self.weights = self._weights(dtype)
        self._perms = [torch.empty(0, dtype=torch.long) for _ in self.gens]
        self._buffer: torch.Tensor | None = None
        self._pos = 0

    def _check(self) -> None:
        if self.mode not in MODES:
            raise ParamError(f"unknown sampler mode '{self.mode}'; allowed: {', '.join(MODES)}")
        if len(self.sizes) != len(self.gens):
            raise ValueError("one generator per model")
        if self.batch < 1 or min(self.sizes, default=0) < 1:
            raise ParamError(f"batch size and data sizes must be >= 1, got {self.batch}, "
                             f"{min(self.sizes, default=0)}")
        if self.mode == "epoch" and self.batch > min(self.sizes):
            raise ParamError(f"batch size {self.batch} is larger than the data ({min(self.sizes)})")

    def _weights(self, dtype: torch.dtype) -> torch.Tensor | None:
        if self.mode != "subset" or min(self.sizes) >= self.batch:
            return None
        used = torch.tensor([min(self.batch, n) for n in self.sizes])
        slots = torch.arange(self.batch).view(1, -1)
        w = (slots < used.view(-1, 1)).to(dtype) / used.view(-1, 1).to(dtype)
        return w.to(self.device)

    def _subset(self, m: int) -> torch.Tensor:
        n, gen = self.sizes[m], self.gens[m]
        b = min(self.batch, n)
        if b == n:
            idx = torch.arange(n).expand(self.chunk, n)
        elif b == 1:
            idx = torch.randint(n, (self.chunk, 1), generator=gen)
        else:
            keys = torch.rand(self.chunk, n, generator=gen)
            idx = keys.topk(b, dim=1).indices  # the b largest keys: a uniform random subset
        if b < self.batch:
            idx = torch.cat([idx, idx.new_zeros(self.chunk, self.batch - b)], dim=1)
        return idx

    def _epoch(self, m: int) -> torch.Tensor:
        need, n = self.chunk * self.batch, self.sizes[m]
        while self._perms[m].numel() < need:
            per_epoch = (n // self.batch) * self.batch  # whole batches only
            perm = torch.randperm(n, generator=self.gens[m])[:per_epoch]
            self._perms[m] = torch.cat([self._perms[m], perm])
        out, self._perms[m] = self._perms[m][:need], self._perms[m][need:]
        return out.view(self.chunk, self.batch)

    def _draw(self, m: int) -> torch.Tensor:
        if self.mode == "subset":
            return self._subset(m)
        if self.mode == "epoch":
            return self._epoch(m)
        return torch.randint(self.sizes[m], (self.chunk, self.batch), generator=self.gens[m])

    def next(self) -> torch.Tensor:
        if self._buffer is None or self._pos == self._buffer.shape[0]:
            rows = [self._draw(m) for m in range(len(self.gens))]
            self._buffer = torch.stack(rows, dim=1).to(self.device)  # (chunk, M, B)
            self._pos = 0
        out = self._buffer[self._pos]
        self._pos += 1
        return out

    __next__ = next

    def __iter__(self) -> "Sampler":
        return self


class Gathered:
    """A sampler's batches as data rows: `next()` returns, for each tensor of `data`, the rows of
    the sampler's next (M, B) indices, (M, B, ...), exactly what `gather` gives per step. The rows
    of many steps are gathered at once (one indexing op per tensor per refill instead of per
    step; at most `budget` elements per refill), which matters when a step is a few µs of work.
    `data`: per model (M, N, ...) or, with `shared`, one (N, ...) for all models."""

    def __init__(self, sampler: Sampler, data: Sequence[torch.Tensor], shared: bool = False,
                 budget: int = 1 << 18):
        self.sampler, self.data, self.shared = sampler, list(data), shared
        m, b = len(sampler.gens), sampler.batch
        per_step = sum(m * b * max(1, t[0].numel() if shared else t[0, 0].numel())
                       for t in self.data)
        self.steps = max(1, min(sampler.chunk, budget // per_step))
        self._rows: list[torch.Tensor] = []
        self._pos = 0

    @property
    def weights(self) -> torch.Tensor | None:
        return self.sampler.weights

    def _refill(self) -> None:
        idx = torch.stack([self.sampler.next() for _ in range(self.steps)])  # (K, M, B)
        if self.shared:
            self._rows = [t[idx] for t in self.data]
        else:
            models = torch.arange(idx.shape[1], device=idx.device).view(1, -1, 1)
            self._rows = [t[models, idx] for t in self.data]  # (K, M, B, ...)
        self._pos = 0

    def next(self) -> list[torch.Tensor]:
        if not self._rows or self._pos == self._rows[0].shape[0]:
            self._refill()
        out = [r[self._pos] for r in self._rows]
        self._pos += 1
        return out

    __next__ = next

    def __iter__(self) -> "Gathered":
        return self
