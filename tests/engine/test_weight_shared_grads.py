"""engine/weight_shared_grads.py: hand-written shared-depth gradients equal autograd bitwise."""
from __future__ import annotations

import torch
import pytest  # noqa: E402

from deepatoms.engine import train
from deepatoms.engine import Adam  # noqa: E402
from deepatoms.engine.losses import weighted_cross_entropy  # noqa: E402
from deepatoms.engine.weight_shared import SharedDepthPop  # noqa: E402
from deepatoms.engine.weight_shared_grads import weighted_cross_entropy_grads  # noqa: E402


DEPTHS = [1, 3, 2, 3, 1, 4]


def _shared_pop(activation: str = "relu", depths=DEPTHS) -> SharedDepthPop:
    return SharedDepthPop(2, 6, 3, depths, [torch.Generator().manual_seed(i) for i in depths],
                          activation=activation)


def _shared_data(per_model: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    m = len(DEPTHS)
    x = torch.randn((m, 9, 2) if per_model else (9, 2), generator=g)
    labels = torch.randint(0, 3, (m, 9), generator=g)
    weight = torch.rand(m, 9, generator=g)
    return x, labels, weight / weight.sum(1, keepdim=True)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("per_model", [False, True])
def test_shared_depth_grads_equal_autograd_bitwise(activation, per_model):
    x, labels, weight = _shared_data(per_model)
    auto, hand = _shared_pop(activation), _shared_pop(activation)
    weighted_cross_entropy(auto(x), labels, weight).sum().backward()
    weighted_cross_entropy_grads(hand, x, labels, weight)
    assert hand.store.flat.grad.shape == (len(DEPTHS), hand.n_params_per_model)
    assert torch.equal(auto.store.flat.grad, hand.store.flat.grad)
    assert bool((hand.store.flat.grad != 0).any())


def test_shared_depth_grads_all_models_at_full_depth():
    x, labels, weight = _shared_data(False)
    auto, hand = _shared_pop(depths=[3] * 6), _shared_pop(depths=[3] * 6)
    weighted_cross_entropy(auto(x), labels, weight).sum().backward()
    weighted_cross_entropy_grads(hand, x, labels, weight)
    assert torch.equal(auto.store.flat.grad, hand.store.flat.grad)


def _shared_trained(sets_grads: bool, steps: int = 80) -> torch.Tensor:
    pop = _shared_pop()
    data = [_shared_data(True, seed=s) for s in range(steps)]

    def loss(_batch, step):
        if sets_grads:
            return weighted_cross_entropy_grads(pop, *data[step])
        x, labels, weight = data[step]
        return weighted_cross_entropy(pop(x), labels, weight)

    train(pop.params, loss, Adam(pop.params, lr=0.01), steps, sets_grads=sets_grads)
    return pop.store.flat.detach()


def test_shared_depth_training_with_hand_written_grads_equals_autograd_bitwise():
    assert torch.equal(_shared_trained(False), _shared_trained(True))
