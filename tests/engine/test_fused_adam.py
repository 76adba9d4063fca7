"""engine/fused_adam.py against the engine's Adam and torch's Adam."""
from __future__ import annotations

import pytest
import torch

from deepatoms.engine import Adam
from deepatoms.engine.fused_adam import FusedAdam


SHAPES = [(3, 4, 5), (3, 1, 5), (3, 5, 2)]


def _params(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g) for s in SHAPES]


def _run_optimizer(opt_cls, lr, weight_decay, steps: int = 30) -> list[torch.Tensor]:
    params = _params(0)
    opt = opt_cls(params, lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()
    return params


@pytest.mark.parametrize("lr, decay", [(0.01, 0.0), (0.01, 1e-2), ([0.01, 0.002, 0.05], 0.0),
                                       (0.01, [0.0, 1e-2, 0.1])])
def test_fused_adam_matches_engine_adam(lr, decay):
    ref = _run_optimizer(Adam, lr, decay)
    got = _run_optimizer(FusedAdam, lr, decay)
    for a, b in zip(ref, got):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_fused_adam_matches_torch_adam_for_one_model():
    w0 = torch.randn(1, 4, 3, generator=torch.Generator().manual_seed(2))
    ours = w0.clone()
    theirs = w0[0].clone().requires_grad_()
    opt, ref = FusedAdam([ours], lr=0.003), torch.optim.Adam([theirs], lr=0.003)
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        grad = torch.randn(1, 4, 3, generator=g)
        ours.grad, theirs.grad = grad.clone(), grad[0].clone()
        opt.step()
        ref.step()
    torch.testing.assert_close(ours[0], theirs.detach(), rtol=1e-5, atol=1e-7)
