"""The small VGG-like CNN of random-weights: block 1 = conv3×3 + ReLU, block l > 1 = 2×2 average
pool, conv3×3 + ReLU, with the channels doubled at every pooling as in VGG (block l: C·2^(l−1)
channels at 1/2^(l−1) resolution); with `head`, a global average and
a linear classifier for training on digits. Also: the digits training, weight shuffling, and
per-layer features / Gram matrices from the flattened feature vector.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...engine import Adam, ModulePop, Sampler, gather, train


class ConvNet(nn.Module):
    def __init__(self, channels: int = 16, depth: int = 4, head: bool = True):
        super().__init__()
        width = [channels * 2 ** l for l in range(depth)]
        self.blocks = nn.ModuleList(nn.Conv2d(3 if l == 0 else width[l - 1], width[l], 3, padding=1)
                                    for l in range(depth))
        self.head = nn.Linear(width[-1], 10) if head else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """With a head: logits (B, 10). Without: every block's output flattened and concatenated,
        (B, Σ_l C·H_l·W_l)."""
        feats = []
        for l, conv in enumerate(self.blocks):
            x = torch.relu(conv(F.avg_pool2d(x, 2) if l else x))
            feats.append(x.flatten(1))
        if self.head is not None:
            return self.head(x.mean(dim=(2, 3)))
        return torch.cat(feats, dim=1)


def feature_shapes(channels: int, depth: int, size: int) -> list[tuple[int, int]]:
    """(C, H·W) of each block's output for a size × size input."""
    return [(channels * 2 ** l, (size // 2 ** l) ** 2) for l in range(depth)]


def split_features(flat: torch.Tensor, shapes: Sequence[tuple[int, int]]) -> list[torch.Tensor]:
    """(..., F) → per block (..., C, H·W)."""
    out, k = [], 0
    for c, n in shapes:
        out.append(flat[..., k:k + c * n].reshape(*flat.shape[:-1], c, n))
        k += c * n
    return out


def gram(f: torch.Tensor) -> torch.Tensor:
    """(..., C, N) → (..., C, C) Gram matrix / N."""
    return f @ f.transpose(-1, -2) / f.shape[-1]


def train_on_digits(seeds: Sequence[int], batch_gens, x: torch.Tensor, y: torch.Tensor,
                    channels: int, depth: int, steps: int, lr: float, batch: int, iterate=range
                    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One ConvNet per init seed, trained with Adam on 3-channel digits x (N, 3, 8, 8).
    Returns the stacked parameters at initialisation and after training (detached)."""
    pop = ModulePop(lambda: ConvNet(channels, depth), seeds, input_dims=4, device=x.device)
    initial = pop.state()
    sampler = Sampler(batch_gens, x.shape[0], batch, "subset", device=x.device)

    def loss(idx, step):
        z = pop(gather(x, idx, shared=True))  # (M, B, 10)
        return F.cross_entropy(z.transpose(1, 2), gather(y, idx, shared=True), reduction="none")

    train(pop.params, loss, Adam(pop.params, lr=lr), steps, sampler=sampler, iterate=iterate)
    return initial, pop.state()


def accuracy(params: dict, channels: int, depth: int, x: torch.Tensor, y: torch.Tensor):
    """(M,) accuracy of stacked ConvNets `params` on (x, y)."""
    m = next(iter(params.values())).shape[0]
    pop = ModulePop(lambda: ConvNet(channels, depth), [0] * m, input_dims=4, device=x.device)
    with torch.no_grad():
        return (pop(x, params=params).argmax(-1) == y).double().mean(1)


def shuffled(params: dict[str, torch.Tensor], gens: Sequence[torch.Generator]) -> dict:
    """Each member's tensors with their entries permuted (member i by gens[i], tensor by tensor
    in name order): the same values per layer, no structure."""
    out = {}
    for name in sorted(params):
        p = params[name]
        rows = [p[i].flatten()[torch.randperm(p[i].numel(), generator=g).to(p.device)]
                for i, g in enumerate(gens)]
        out[name] = torch.stack(rows).reshape(p.shape)
    return out
