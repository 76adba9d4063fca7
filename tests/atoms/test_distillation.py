"""The atom distillation: its pieces against closed forms and references, and its claim test (slow tier)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import deepatoms
from deepatoms.atoms.generalization import _stacked_mlp as nets
from deepatoms.atoms.generalization.distillation import bias_corrected


def test_soft_cross_entropy_gradient_is_q_minus_p_over_t():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 3, 10, generator=g, requires_grad=True)
    targets = torch.softmax(torch.randn(2, 3, 10, generator=g), -1)
    t = 20.0
    nets.soft_cross_entropy(z, targets, t).sum().backward()
    expected = (torch.softmax(z.detach() / t, -1) - targets) / t
    torch.testing.assert_close(z.grad, expected, rtol=1e-5, atol=1e-8)


def test_bias_correction_and_max_norm():
    logits = np.array([[2.0, 0.0], [2.0, 1.5], [0.0, 3.0]])   # class 1 is under-predicted
    y = np.array([0, 1, 1])
    assert bias_corrected(logits, y, 1, np.arange(0, 3.01, 0.5)) == 1.0   # 0.5 < shift ≤ 1 fixes row 2
    w = torch.tensor([[[3.0, 0.1], [4.0, 0.1]]]).requires_grad_()      # column norms 5 and ~0.14
    opt = nets.MaxNorm(torch.optim.SGD([w], lr=0.0), [w], 1.0)
    w.grad = torch.zeros_like(w)
    opt.step()
    torch.testing.assert_close(w.detach().norm(dim=1), torch.tensor([[1.0, 0.02 ** 0.5]]))


@pytest.mark.claim
def test_claim_distillation():
    out = deepatoms.run("distillation", seeds=5, device="cpu")
    assert out.verdict.status == "inconclusive"
    rows = {e.metric: e for e in out.verdict.evidence}
    assert rows["test errors: hard-label student − teacher"].supports is True
