"""Image-quality measures of random-weights: PSNR, SSIM (Wang et al. 2004, Gaussian window 11,
σ = 1.5, K1 = 0.01, K2 = 0.03 — scikit-image's `gaussian_weights=True` settings) and a radially averaged power spectrum.

Images are float tensors (C, H, W) with values in [0, 1].
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def psnr(x: torch.Tensor, y: torch.Tensor, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, 10 log10(peak² / MSE); inf for identical images."""
    mse = float(((x.double() - y.double()) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-r * r / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]  # (1, 1, size, size)


def ssim(x: torch.Tensor, y: torch.Tensor, peak: float = 1.0, size: int = 11,
         sigma: float = 1.5) -> float:
    """Mean structural similarity over channels and the window positions fully inside the image
    (the 'valid' part, as scikit-image crops the border). x, y: (C, H, W) with H, W ≥ size."""
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    a, b = x.double().unsqueeze(1), y.double().unsqueeze(1)  # (C, 1, H, W)
    win = _gaussian_window(size, sigma)
    mu_a, mu_b = F.conv2d(a, win), F.conv2d(b, win)
    var_a = F.conv2d(a * a, win) - mu_a ** 2
    var_b = F.conv2d(b * b, win) - mu_b ** 2
    cov = F.conv2d(a * b, win) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    return float((num / den).mean())


def log_spectrum(x: torch.Tensor) -> np.ndarray:
    """log10 of the radially averaged power spectrum of the grey image (mean over channels),
    mean removed; one value per integer radius 1 .. H/2."""
    g = x.double().mean(0)
    g = g - g.mean()
    power = torch.fft.fft2(g).abs() ** 2
    h, w = g.shape
    fy = torch.fft.fftfreq(h, d=1.0 / h).abs()
    fx = torch.fft.fftfreq(w, d=1.0 / w).abs()
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2).round().long()
    bins = [power[radius == r].mean() for r in range(1, min(h, w) // 2 + 1)]
    return np.log10(np.asarray([float(b) for b in bins]) + 1e-12)


def spectrum_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean absolute difference of two images' log10 radial power spectra."""
    return float(np.mean(np.abs(log_spectrum(x) - log_spectrum(y))))
