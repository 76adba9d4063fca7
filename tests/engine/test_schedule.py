"""engine/schedule.py: the warm-up's closed form, and a scheduled population SGD against torch's
SGD with its learning rate set by hand at each step, one model at a time."""
from __future__ import annotations

import pytest
import torch

from deepatoms.engine import SGD
from deepatoms.engine.schedule import Scheduled, linear_warmup


def test_linear_warmup_closed_form():
    start, target = torch.tensor([0.1, 1.0]), torch.tensor([5.0, 50.0])
    at = [linear_warmup(start, target, 4, t).tolist() for t in range(7)]
    assert at[0] == pytest.approx([0.1, 1.0])  # the base rate at the first step
    assert at[2] == pytest.approx([2.55, 25.5])  # halfway: the mean of base and target
    assert at[3] == pytest.approx([0.1 + 4.9 * 0.75, 1 + 49 * 0.75])  # last warm-up step
    assert at[4] == at[5] == at[6] == pytest.approx([5.0, 50.0])  # the target from then on
    assert linear_warmup(start, target, 0, 0).tolist() == pytest.approx([5.0, 50.0])  # none
    with pytest.raises(ValueError):
        linear_warmup(start, target, -1, 0)


def test_scheduled_sgd_matches_torch_per_model():
    g = torch.Generator().manual_seed(0)
    w0, grads = torch.randn(2, 3, 4, generator=g), torch.randn(6, 2, 3, 4, generator=g)
    base, target = torch.tensor([0.1, 0.3]), torch.tensor([0.8, 1.2])
    w = w0.clone()
    opt = Scheduled(SGD([w], lr=target), lambda t: linear_warmup(base, target, 3, t))
    for grad in grads:
        opt.zero_grad()
        w.grad = grad.clone()
        opt.step()
    for m in range(2):
        ref = w0[m].clone().requires_grad_(True)
        torch_opt = torch.optim.SGD([ref], lr=0.0)
        for t, grad in enumerate(grads):
            torch_opt.param_groups[0]["lr"] = float(linear_warmup(base, target, 3, t)[m])
            ref.grad = grad[m].clone()
            torch_opt.step()
        torch.testing.assert_close(w[m], ref.detach(), rtol=1e-6, atol=1e-7)
