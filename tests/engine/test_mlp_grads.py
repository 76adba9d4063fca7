"""engine/mlp_grads.py: hand-written cross-entropy gradients equal autograd bitwise, and training
with them equals autograd training."""
from __future__ import annotations

import torch
import pytest  # noqa: E402

from deepatoms.atoms.atoms._classifier_training import LOSSES  # noqa: E402
from deepatoms.engine import MLPPop, mlp_grads, train  # noqa: E402
from deepatoms.engine.fused_adam import FusedAdam  # noqa: E402


def _pop(activation: str, m: int = 4, sizes=(7, 16, 12, 3)) -> MLPPop:
    return MLPPop([sizes] * m, [torch.Generator().manual_seed(10 + i) for i in range(m)],
                  activation=activation)


def _data(m: int, b: int, d: int, shared: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((b, d) if shared else (m, b, d), generator=g) * 3
    return x, torch.randint(0, 3, (m, b), generator=g)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "identity"])
@pytest.mark.parametrize("batch", [1, 4, 65])
@pytest.mark.parametrize("shared", [False, True])
def test_cross_entropy_grads_equal_autograd_bitwise(activation, batch, shared):
    x, y = _data(4, batch, 7, shared)
    auto, hand = _pop(activation), _pop(activation)
    assert mlp_grads.supports(hand)
    LOSSES["cross_entropy"](auto(x), y).sum().backward()
    mlp_grads.cross_entropy_grads(hand, x, y)
    for a, h in zip(auto.params, hand.params):
        assert h.grad is not None and h.grad.shape == a.shape
        assert torch.equal(a.grad, h.grad)
    assert any(bool(h.grad.abs().sum() > 0) for h in hand.params)


def test_supports_refuses_mixed_activations_and_masked_units():
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    assert not mlp_grads.supports(MLPPop([(3, 4, 2)] * 2, gens, activation=["relu", "tanh"]))
    assert not mlp_grads.supports(MLPPop([(3, 4, 2), (3, 6, 2)], gens, activation="relu"))
    assert not mlp_grads.supports(MLPPop([(3, 4, 2)] * 2, gens, activation="softplus"))


def _trained(sets_grads: bool, steps: int = 60) -> list[torch.Tensor]:
    pop = _pop("sigmoid", m=3)
    batches = [_data(3, 5, 7, False, seed=s) for s in range(steps)]
    opt = FusedAdam(pop.params, lr=0.01)

    def loss(_batch, step):
        x, y = batches[step]
        if sets_grads:
            return mlp_grads.cross_entropy_grads(pop, x, y)
        return LOSSES["cross_entropy"](pop(x), y)

    done = train(pop.params, loss, opt, steps, sets_grads=sets_grads)
    assert done.steps == steps
    return [p.detach() for p in pop.params]


def test_training_with_hand_written_grads_equals_autograd_training_bitwise():
    for a, h in zip(_trained(False), _trained(True)):
        assert torch.equal(a, h)
