"""engine/losses.py: the weighted cross-entropy."""
from __future__ import annotations

import math
import pytest
import torch

from deepatoms.engine.losses import weighted_cross_entropy


def test_weighted_cross_entropy_with_uniform_weights_is_the_mean():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    labels = torch.tensor([[0, 0, 1]])
    got = weighted_cross_entropy(logits, labels, torch.full((1, 3), 1 / 3))
    want = (math.log(1 + math.exp(-2)) + math.log(1 + math.e) + math.log(2)) / 3
    assert got.item() == pytest.approx(want, rel=1e-6)
