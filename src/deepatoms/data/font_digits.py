"""Digit images rendered from the fonts that ship with matplotlib (DejaVu, STIX, Computer
Modern), made the way scikit-learn's digits were made: a 32×32 bitmap of the glyph, counted in
4×4 blocks into an 8×8 image of values 0–16. Three "capture processes" of the same classes:

- "fonts": random offset (±3 px of 32), scale (0.8–1.05) and rotation (±10°), binarised;
- "blurred": the same, Gaussian-blurred (σ 1.5 px) before counting, plus pixel noise (σ 1.5);
- "thick": the same, strokes dilated by 2 px before counting.

All examples of one call are drawn with one batched `grid_sample` (vectorised); the random
draws come from the numpy generator given (seeded).
"""
from __future__ import annotations

import functools
import os

import numpy as np
import torch
import torch.nn.functional as F

FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
              "DejaVuSerif.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSansMono.ttf",
              "STIXGeneral.ttf", "STIXGeneralItalic.ttf", "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf")
PROCESSES = ("fonts", "blurred", "thick")
BASE = 64  # resolution of the glyph bank


def _glyph(path: str, char: str) -> np.ndarray:
    """One glyph, cropped to its ink, centred in a BASE×BASE square with 4 px of margin."""
    from matplotlib import ft2font
    font = ft2font.FT2Font(path)
    font.set_size(96, 72)
    font.set_text(char, 0.0)
    font.draw_glyphs_to_bitmap(antialiased=True)
    img = np.asarray(font.get_image(), np.float32) / 255.0
    rows, cols = np.flatnonzero(img.max(1) > 0.1), np.flatnonzero(img.max(0) > 0.1)
    img = img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = img.shape
    side = max(h, w)
    square = np.zeros((side, side), np.float32)
    square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = img
    t = torch.from_numpy(square)[None, None]
    inner = F.interpolate(t, size=(BASE - 8, BASE - 8), mode="bilinear", align_corners=False)
    return F.pad(inner, (4, 4, 4, 4))[0, 0].numpy()


@functools.cache
def glyph_bank() -> np.ndarray:
    """(fonts, 10, BASE, BASE) float32 ink in [0, 1]."""
    import matplotlib
    root = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    return np.stack([[_glyph(os.path.join(root, f), str(d)) for d in range(10)]
                     for f in FONT_FILES])


def _affine(rng: np.random.Generator, n: int) -> torch.Tensor:
    angle = np.deg2rad(rng.uniform(-10, 10, n))
    scale = 1.0 / rng.uniform(0.8, 1.05, n)           # grid coordinates: inverse scale
    shift = rng.uniform(-3, 3, (n, 2)) * 2 / 32       # ±3 px of 32, in [-1, 1] units
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    theta = np.stack([np.stack([cos, -sin, shift[:, 0]], 1), np.stack([sin, cos, shift[:, 1]], 1)], 1)
    return torch.from_numpy(theta.astype(np.float32))


def _blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    r = int(np.ceil(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
    k = k / k.sum()
    img = F.conv2d(F.pad(img, (r, r, 0, 0)), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(img, (0, 0, r, r)), k.view(1, 1, -1, 1))


def render(process: str, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Images (N, 64) in [0, 16] of the digits `y` from a random font each, by `process`."""
    if process not in PROCESSES:
        raise ValueError(f"unknown capture process '{process}'")
    bank = torch.from_numpy(glyph_bank())
    font = rng.integers(0, bank.shape[0], len(y))
    src = bank[font, y][:, None]                                  # (N, 1, BASE, BASE)
    grid = F.affine_grid(_affine(rng, len(y)), (len(y), 1, 32, 32), align_corners=False)
    ink = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if process == "blurred":
        ink = _blur(ink, 1.5)
    else:
        ink = (ink > 0.5).float()
        if process == "thick":
            ink = F.max_pool2d(ink, 5, stride=1, padding=2)
    counts = F.avg_pool2d(ink, 4)[:, 0] * 16                     # (N, 8, 8), 0–16
    out = counts.reshape(len(y), 64).numpy()
    if process == "blurred":
        out = np.clip(out + rng.normal(0, 1.5, out.shape), 0, 16)
    return out.astype(np.float32)
