"""Stacked parameters kept in one flat (M, P) leaf tensor.

Small networks spend most of a training step in per-tensor overhead, not arithmetic. Keeping all
of a population's parameters in one (M, P) leaf (row m = model m's parameters) lets an optimiser
update them with a handful of tensor operations, while the forward pass reads each parameter as
a (M, *shape) view. The optimiser formulas are elementwise, so every model still gets exactly the
update it would get alone.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch


class FlatParams:
    """`shapes[k]` is the per-model shape of parameter k; `values[k]` its (M, *shape) initial value."""

    def __init__(self, values: Sequence[torch.Tensor], device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.m = int(values[0].shape[0])
        self.shapes = [tuple(v.shape[1:]) for v in values]
        sizes = [math.prod(s) for s in self.shapes]
        self.offsets = [sum(sizes[:k]) for k in range(len(sizes) + 1)]
        flat = torch.cat([v.reshape(self.m, -1) for v in values], dim=1)
        self.flat = flat.to(device=device, dtype=dtype).requires_grad_()  # (M, P)

    @property
    def per_model(self) -> int:
        return self.offsets[-1]

    def views(self) -> list[torch.Tensor]:
        """Parameter k as a (M, *shape) view of the flat leaf (re-created each forward pass)."""
        return [self.flat[:, a:b].view(self.m, *s)
                for a, b, s in zip(self.offsets[:-1], self.offsets[1:], self.shapes)]

    def unflatten(self, row: torch.Tensor) -> list[torch.Tensor]:
        """Split one (P,) row (e.g. a gradient) into per-parameter tensors."""
        return [row[a:b].view(*s) for a, b, s in zip(self.offsets[:-1], self.offsets[1:], self.shapes)]
