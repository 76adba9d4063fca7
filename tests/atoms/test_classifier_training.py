"""The classifier atoms' shared training helpers: the source's losses and accuracy."""
from __future__ import annotations

import math
import pytest
import torch

from deepatoms.atoms.atoms import _classifier_training as ct


def _loss(name: str, z, y) -> float:
    return float(ct.LOSSES[name](torch.tensor([z], dtype=torch.float32), torch.tensor([y]))[0])


def test_losses_exact_values_on_tiny_inputs():
    assert _loss("cross_entropy", [[0.0, 0.0]], [0]) == pytest.approx(math.log(2))
    for name in ("abs", "square", "fourth_power"):
        assert _loss(name, [[1.0, 0.0]], [0]) == 0.0
        assert _loss(name, [[0.0, 0.0]], [0]) == pytest.approx(0.5)  # one of two outputs off by 1
    assert _loss("square", [[3.0, 0.0]], [0]) == pytest.approx(2.0)  # (2² + 0) / 2
    assert _loss("fourth_power", [[3.0, 0.0]], [0]) == pytest.approx(8.0)
    assert _loss("hinge", [[0.0, 0.0]], [1]) == pytest.approx(1.0)
    assert _loss("hinge", [[-2.0, 2.0]], [1]) == 0.0
    assert _loss("hinge", [[0.5, 0.0]], [0]) == pytest.approx((0.5 + 1.0) / 2)


def test_constant_loss_has_zero_gradient():
    z = torch.randn(2, 5, 2, requires_grad=True)
    ct.LOSSES["constant"](z, torch.zeros(2, 5, dtype=torch.long)).sum().backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_loss_by_model_equals_per_model_losses():
    names = ["hinge", "hinge", "square", "cross_entropy", "square"]
    z, y = torch.randn(5, 7, 2), torch.randint(2, (5, 7))
    got = ct.loss_by_model(names)(z, y)
    want = torch.stack([ct.LOSSES[n](z[i:i + 1], y[i:i + 1])[0] for i, n in enumerate(names)])
    torch.testing.assert_close(got, want)


def test_accuracy_counts_argmax_and_flags_divergence():
    z = torch.tensor([[[2.0, 1.0], [0.0, 3.0]], [[1.0, 0.0], [float("nan"), 0.0]]])
    y = torch.tensor([[0, 0], [0, 1]])
    acc = ct.accuracy(z, y)
    assert acc[0] == 0.5 and math.isnan(acc[1])
