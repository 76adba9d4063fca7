"""Random parities on the hypercube (failures seed 000 §2.1): x uniform in {±1}^d, y = ∏_{i∈S} x_i.

Online data: every training step draws a fresh batch. `ParityStream` serves a population whose
models may have different d (inputs zero-padded to the largest d), each model drawing from its
own generator exactly as it would alone.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import ParamError


def random_subset_mask(rng: np.random.Generator, d: int, k: int) -> np.ndarray:
    """A uniformly random subset S ⊆ {0..d−1} of size k as a bool mask (d,)."""
    if not 1 <= k <= d:
        raise ParamError(f"parameter 'subset_size' ({k}) must be between 1 and d ({d})")
    mask = np.zeros(d, dtype=bool)
    mask[rng.choice(d, size=k, replace=False)] = True
    return mask


def sign_inputs(gen: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform ±1 entries, float32 tensor of `shape` (last dim = d)."""
    bits = torch.randint(0, 2, shape, generator=gen, dtype=torch.int8)
    return bits.to(torch.float32) * 2 - 1


def parity_labels(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """y = ∏_{i∈S} x_i. x: (..., d) in {±1} (zero padding allowed outside S); mask: (..., d)
    bool, broadcastable to x. Returns (...) in {±1}."""
    return torch.where(mask, x, torch.ones_like(x)).prod(dim=-1)


def all_sign_vectors(d: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """All 2^d points of {±1}^d, row n has x_i = (−1)^{bit i of n}: (2^d, d). With this order the
    parity χ_S(x_n) = (−1)^{popcount(n & s)}, i.e. row s of the Walsh–Hadamard matrix."""
    n = torch.arange(2 ** d).unsqueeze(1)
    bits = (n >> torch.arange(d)) & 1
    return (1 - 2 * bits).to(dtype)


class ParityStream:
    """Fresh padded batches for M models: `next()` → (x (M, B, d_pad), y (M, B)).

    Model m has input dimension dims[m] and subset mask masks[m] (d_m,); its inputs occupy the
    first dims[m] columns, the rest are zeros. Draws `chunk` steps at a time per model.
    """

    def __init__(self, gens: Sequence[torch.Generator], dims: Sequence[int],
                 masks: Sequence[np.ndarray], batch: int, chunk: int = 128,
                 device: torch.device | str = "cpu"):
        self.gens, self.dims, self.batch, self.chunk = list(gens), list(dims), batch, chunk
        self.d_pad = max(self.dims)
        full = np.zeros((len(self.dims), self.d_pad), dtype=bool)
        for m, mask in enumerate(masks):
            full[m, :len(mask)] = mask
        self.device = torch.device(device)
        self.mask = torch.as_tensor(full).to(self.device).unsqueeze(1)  # (M, 1, d_pad)
        self._x: torch.Tensor | None = None
        self._y: torch.Tensor | None = None
        self._pos = 0

    def draw(self, n: int, gens: Sequence[torch.Generator] | None = None) -> torch.Tensor:
        """n padded inputs per model from `gens` (default: the stream's): (M, n, d_pad)."""
        gens = self.gens if gens is None else gens
        x = torch.zeros(len(self.dims), n, self.d_pad)
        for m, (g, d) in enumerate(zip(gens, self.dims)):
            x[m, :, :d] = sign_inputs(g, (n, d))
        return x.to(self.device)

    def labelled(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, parity_labels(x, self.mask)

    def _refill(self) -> None:
        x = self.draw(self.chunk * self.batch)  # (M, chunk·B, d_pad)
        m = x.shape[0]
        self._x = x.view(m, self.chunk, self.batch, self.d_pad).transpose(0, 1)  # (chunk, M, B, d)
        self._y = parity_labels(self._x, self.mask)  # (chunk, M, B)
        self._pos = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._x is None or self._pos == self.chunk:
            self._refill()
        assert self._x is not None and self._y is not None
        i = self._pos
        self._pos += 1
        return self._x[i], self._y[i]
