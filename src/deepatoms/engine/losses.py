"""Per-model losses over stacked outputs (leading model dimension M)."""
from __future__ import annotations

import torch


def weighted_cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                           weight: torch.Tensor) -> torch.Tensor:
    """Per-model weighted softmax cross-entropy. logits (M, B, C), labels (M, B) long,
    weight (M, B) (rows of a model sum to 1 for a mean; `Sampler.weights` in "subset" mode) →
    (M,)."""
    m, b, c = logits.shape
    ce = torch.nn.functional.cross_entropy(logits.reshape(m * b, c), labels.reshape(m * b),
                                           reduction="none").view(m, b)
    return (ce * weight).sum(dim=1)
