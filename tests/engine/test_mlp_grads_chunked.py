"""engine/mlp_grads.py: chunked and weighted gradients equal autograd bitwise; chunk sizes."""
from __future__ import annotations

import pytest
import torch

from deepatoms.atoms.atoms._classifier_training import LOSSES
from deepatoms.engine import MLPPop, mlp_grads
from deepatoms.engine.losses import weighted_cross_entropy


# --- engine.mlp_grads: weighted cross-entropy, models in chunks ---------------------------------
def _pop(activation: str, m: int = 7, sizes=(5, 16, 12, 2)) -> MLPPop:
    return MLPPop([sizes] * m, [torch.Generator().manual_seed(20 + i) for i in range(m)],
                  activation=activation)


def _data(m: int, b: int, shared: bool):
    g = torch.Generator().manual_seed(1)
    x = torch.randn((b, 5) if shared else (m, b, 5), generator=g) * 3
    w = torch.rand((m, b), generator=g)
    return x, torch.randint(0, 2, (m, b), generator=g), w / w.sum(1, keepdim=True)


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh"])
@pytest.mark.parametrize("budget", [None, 8 * 16 * 2, 8 * 16 * 4, 1])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_chunked_and_weighted_grads_equal_autograd_bitwise(monkeypatch, activation, budget,
                                                           shared, weighted):
    """Budgets of 2 and 4 of the 7 models per chunk (a short last chunk), 1 element (the
    alignment's minimum, 2 models: 8 × 12 units is 96 floats), and no chunks."""
    if budget is not None:
        monkeypatch.setattr(mlp_grads, "CHUNK_ELEMENTS", budget)
    x, y, w = _data(7, 8, shared)
    auto, hand = _pop(activation), _pop(activation)
    out = auto(x)
    loss = weighted_cross_entropy(out, y, w) if weighted else LOSSES["cross_entropy"](out, y)
    loss.sum().backward()
    assert mlp_grads.chunk_for(hand, 8) == {None: 7, 256: 2, 512: 4, 1: 2}[budget]
    mlp_grads.cross_entropy_grads(hand, x, y, w if weighted else None, chunked=budget is not None)
    for a, h in zip(auto.params, hand.params):
        assert h.grad is not None and h.grad.shape == a.shape
        assert torch.equal(a.grad, h.grad)
    assert all(bool(h.grad.abs().sum() > 0) for h in hand.params)


def test_weighted_grads_differ_from_the_mean_when_weights_are_uneven():
    x, y, w = _data(7, 8, False)
    mean, weighted = _pop("sigmoid"), _pop("sigmoid")
    mlp_grads.cross_entropy_grads(mean, x, y)
    mlp_grads.cross_entropy_grads(weighted, x, y, w, chunked=True)
    assert not torch.equal(mean.weights[0].grad, weighted.weights[0].grad)


def test_chunk_for_keeps_chunks_in_budget_and_vector_aligned():
    pop = _pop("sigmoid", m=70, sizes=(2, 100, 100, 2))
    assert mlp_grads.chunk_for(pop, 1200) == 1  # 120,000 elements per model: one at a time
    assert mlp_grads.chunk_for(pop, 64) == mlp_grads.CHUNK_ELEMENTS // 6400 == 20
    assert mlp_grads.chunk_for(pop, 10 ** 6) == 1
    assert mlp_grads.chunk_for(pop, 90) == 8  # 9,000 floats a model: 8 models, 1,125 × 64
    assert mlp_grads.chunk_for(pop, 1200, torch.device("meta")) == 70  # off the CPU: no chunks
    for batch in (1, 3, 7, 9, 50, 333):
        n = mlp_grads.chunk_for(pop, batch)
        assert 1 <= n <= 70 and (n == 70 or n * batch * 100 % 64 == 0)
