"""Private helper of random-labels: the explicit regularisers of Zhang et al. (2017)'s
controls, drawn per model from its own generator so a model gets the same noise alone or in a
population — inverted dropout on the hidden units and data augmentation by random integer pixel
shifts (the 8×8 analogue of the random crops of CIFAR-10: ±1 of 8 pixels is the ±4 of 32 of the
usual pad-4-and-crop).

A shift moves the *raw* image: pixel (i, j) of the output is pixel (i − down, j − right) of the
input, and pixels shifted in from outside the image are blank (raw value 0, the digits'
background). Inputs are standardised per pixel, so a shift undoes the standardisation, moves the
raw pixels and standardises again with the statistics of the pixels' new positions.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch


def shift_index(shifts: torch.Tensor, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """shifts (..., 2) integer (down, right) → for every output pixel of a side×side image
    (row-major) its source pixel (..., side²) and whether that source lies inside (..., side²)."""
    r = torch.arange(side, device=shifts.device)
    rows = r.view(side, 1) - shifts[..., 0, None, None]       # (..., side, side)
    cols = r.view(1, side) - shifts[..., 1, None, None]
    inside = (rows >= 0) & (rows < side) & (cols >= 0) & (cols < side)
    source = rows.clamp(0, side - 1) * side + cols.clamp(0, side - 1)
    return source.flatten(-2), inside.flatten(-2)


def shift_images(x: torch.Tensor, shifts: torch.Tensor, mean: torch.Tensor | None = None,
                 std: torch.Tensor | None = None) -> torch.Tensor:
    """x (..., side²) flattened square images, standardised as (raw − mean) / std with per-pixel
    mean, std (side²,) (None: x is raw); shifts (..., 2) integer → x shifted, blank pixels 0 raw."""
    side = math.isqrt(x.shape[-1])
    if side * side != x.shape[-1]:
        raise ValueError(f"pixel shifts need square images, got {x.shape[-1]} pixels")
    raw = x if mean is None else x * std + mean
    source, inside = shift_index(shifts, side)
    moved = torch.where(inside, torch.gather(raw, -1, source), torch.zeros((), dtype=x.dtype,
                                                                          device=x.device))
    return moved if mean is None else (moved - mean) / std


def draw_shifts(gens: dict[int, torch.Generator], models: int, batch: int, max_shift: int,
                device) -> torch.Tensor:
    """(models, batch, 2) integer shifts in [−max_shift, max_shift], drawn afresh from model i's
    generator for each i in `gens` (zero for the other models)."""
    shifts = torch.zeros(models, batch, 2, dtype=torch.long)
    for i, g in gens.items():
        shifts[i] = torch.randint(-max_shift, max_shift + 1, (batch, 2), generator=g)
    return shifts.to(device)


def dropout_keep(gens: dict[int, torch.Generator], models: int, batch: int,
                 widths: Sequence[int], rate: float, device, dtype) -> list[torch.Tensor]:
    """Inverted-dropout masks (models, batch, width) per hidden layer: for each model i in
    `gens`, units kept with probability 1 − rate and scaled by 1 / (1 − rate), drawn from its
    generator; ones for the other models."""
    keep = [torch.ones(models, batch, w, dtype=dtype) for w in widths]
    for i, g in gens.items():
        for mask in keep:
            mask[i] = (torch.rand(batch, mask.shape[-1], generator=g) >= rate).to(dtype) / (1 - rate)
    return [mask.to(device) for mask in keep]
