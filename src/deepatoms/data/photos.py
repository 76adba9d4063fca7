"""scikit-learn's two bundled sample photographs (china, flower), centre-cropped square and
area-downsampled, as float tensors (C, H, W) with values in [0, 1]."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_NAMES = ("china", "flower")


def sample_images(size: int) -> torch.Tensor:
    """(2, 3, size, size): china and flower, centre-cropped square, area-downsampled, in [0, 1]."""
    from sklearn.datasets import load_sample_images
    out = []
    for img in load_sample_images().images:  # (427, 640, 3) uint8 each
        h, w, _ = img.shape
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        crop = torch.as_tensor(np.ascontiguousarray(img[top:top + s, left:left + s]))
        x = crop.permute(2, 0, 1).to(torch.float32).unsqueeze(0) / 255.0
        out.append(F.interpolate(x, size=(size, size), mode="area")[0])
    return torch.stack(out)
