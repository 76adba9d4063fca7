"""Line-segment images of the failures paper §3.1 (seed 000), vectorised in torch.

One image: 28×28, binary. A segment of length ℓ ~ U[5, 23) through a centre c ~ U[0, 28)² at
angle θ ~ U[0, π): as in the authors' code (read_rect_data.py), the pixels are
trunc(c ± l·(cos θ, sin θ)) for l = 0, 1, …, ⌊ℓ/2⌋ − 1 (truncation toward zero), kept when
inside the frame; row = first coordinate. Per-image label +1 iff θ < π/2, else −1.
A k-tuple of independent images has label +1 iff an odd number of its images have label +1
(the code's −1 + 2·(count mod 2)), so k = 1 gives the image's own label.
"""
from __future__ import annotations

import math

import torch

from ..errors import ParamError

SIZE = 28
MIN_LENGTH, MAX_LENGTH = 5.0, SIZE - 5.0
MAX_HALF = int(MAX_LENGTH // 2)  # ⌊ℓ/2⌋ ≤ 11, so l runs over at most 0..10


def line_images(gen: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n images (n, 28, 28) float32 in {0, 1}, labels (n,) float32 in {−1, +1}, angles θ (n,),
    on the generator's device."""
    if n < 0:
        raise ParamError(f"the number of images must be >= 0, got {n}")
    f64 = dict(generator=gen, dtype=torch.float64, device=gen.device)
    theta = torch.rand(n, **f64) * math.pi
    centre = torch.rand(n, 2, **f64) * SIZE
    length = MIN_LENGTH + torch.rand(n, **f64) * (MAX_LENGTH - MIN_LENGTH)
    unit = torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1)  # (n, 2)
    steps = torch.arange(MAX_HALF, dtype=torch.float64, device=gen.device)  # l = 0..10
    used = steps[None, :] < torch.floor(length / 2)[:, None]  # (n, L)
    offsets = torch.cat([steps, -steps])  # both directions: (2L,)
    points = centre[:, None, :] + offsets[None, :, None] * unit[:, None, :]  # (n, 2L, 2)
    pix = torch.trunc(points).long()
    inside = ((pix >= 0) & (pix < SIZE)).all(-1) & used.repeat(1, 2)  # (n, 2L)
    flat = pix[..., 0] * SIZE + pix[..., 1]
    flat = torch.where(inside, flat, torch.full_like(flat, SIZE * SIZE))  # off-frame → spare slot
    images = torch.zeros(n, SIZE * SIZE + 1, device=gen.device)
    images.scatter_(1, flat, 1.0)
    labels = torch.where(theta < math.pi / 2, 1.0, -1.0).float()
    return images[:, :-1].view(n, SIZE, SIZE), labels, theta


def parity_labels(image_labels: torch.Tensor) -> torch.Tensor:
    """Tuple labels from per-image labels (..., k) in {−1, +1}: +1 iff an odd number are +1."""
    positives = (image_labels > 0).sum(-1)
    return torch.where(positives % 2 == 1, 1.0, -1.0)


def line_tuples(gen: torch.Generator, n: int, k: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n tuples of k images: images (n, k, 28, 28), image labels (n, k), tuple labels (n,)."""
    if k < 1:
        raise ParamError(f"parameter 'k' (images per tuple) must be >= 1, got {k}")
    images, labels, _ = line_images(gen, n * k)
    labels = labels.view(n, k)
    return images.view(n, k, SIZE, SIZE), labels, parity_labels(labels)
