"""Private helper of loss-interpolation: the catalog's small CNN on digits, as an
`engine.ModulePop` (each member built from its own seed exactly as if built alone).

conv3×3(1 → c₁) → ReLU → 2×2 max pool → conv3×3(c₁ → c₂) → ReLU → linear(c₂·(S/2)² → 10), zero
padding; Xavier-uniform weights and zero biases, as the atom's MLPs. It reads the flattened
pixels (B, S·S) that the MLPs read. Digits (S = 8), channels (8, 16): 3,818 parameters.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ...engine import ModulePop


def image_side(dim: int) -> int:
    """S of square S×S images flattened to `dim` pixels (8 for digits, 28 for MNIST)."""
    side = math.isqrt(dim)
    if side * side != dim or side % 2:
        raise ValueError(f"the CNN needs square images of even side, got {dim} pixels")
    return side


class SmallCNN(nn.Module):
    def __init__(self, channels: tuple[int, int] = (8, 16), side: int = 8, classes: int = 10):
        super().__init__()
        c1, c2 = channels
        self.side = side
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.head = nn.Linear(c2 * (side // 2) ** 2, classes)
        for layer in (self.conv1, self.conv2, self.head):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, S·S) flattened pixels → logits (B, classes)."""
        h = torch.relu(self.conv1(x.reshape(-1, 1, self.side, self.side)))   # (B, c1, S, S)
        h = torch.relu(self.conv2(F.max_pool2d(h, 2)))                        # (B, c2, S/2, S/2)
        return self.head(h.flatten(1))


def population(channels: tuple[int, int], side: int, seeds: Sequence[int], *,
               device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
               ) -> ModulePop:
    """One SmallCNN per seed (member i built under seeds[i]); inputs (B, S·S)."""
    return ModulePop(factory(channels, side), seeds, input_dims=2, device=device, dtype=dtype)


def factory(channels: tuple[int, int], side: int) -> Callable[[], SmallCNN]:
    return lambda: SmallCNN(tuple(channels), side)


def snapshot(pop: ModulePop, i: int) -> dict[str, torch.Tensor]:
    """Member i's parameters, detached: {name: (1, ...)}."""
    return {k: v[i:i + 1].detach().clone() for k, v in pop.param_dict.items()}


def at(pop: ModulePop, net: dict[str, torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """The CNNs with stacked parameters `net` {name: (K, ...)} (e.g. K points of a line):
    x (B, S·S) → logits (K, B, classes). One network at a time: each point's numbers are those
    of that network alone, whatever K, and on CPU 4× faster than vmap over 101 points."""
    k = next(iter(net.values())).shape[0]
    return lambda x: torch.stack([functional_call(pop.base, {n: t[i] for n, t in net.items()},
                                                  (x,)) for i in range(k)])
