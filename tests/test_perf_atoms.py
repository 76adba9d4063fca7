"""Speed-ups of slow atoms that must not change their results (issue 7 §4): each faster helper
equals the code it replaced, to the bit, on small inputs."""
from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import torch

from deepatoms.atoms.atoms import pca_preprocessing
from deepatoms.engine.denormals import flushed, flushing
from deepatoms.runner import execute


def _pca_one_svd_per_dims(xtr, xte, dims):
    """The replaced code: one SVD for every PCA dimension."""
    mean = xtr.mean(axis=0)
    _, _, vt = np.linalg.svd(xtr - mean, full_matrices=False)
    axes = vt[:dims].T
    return (xtr - mean) @ axes, (xte - mean) @ axes


def test_pca_projections_from_one_svd_equal_one_svd_per_dims_bitwise():
    rng = np.random.default_rng(3)
    xtr, xte = rng.uniform(0, 40, (80, 210)), rng.uniform(0, 40, (20, 210))
    got = pca_preprocessing.pca_projections(xtr, xte, (10, 5, 1))
    assert sorted(got) == [1, 5, 10]
    for dims, (ptr, pte) in got.items():
        rtr, rte = _pca_one_svd_per_dims(xtr, xte, dims)
        assert ptr.shape == (80, dims) and pte.shape == (20, dims)
        np.testing.assert_array_equal(ptr, rtr)
        np.testing.assert_array_equal(pte, rte)
    assert pca_preprocessing.pca_projections(xtr, xte, ()) == {}


def test_flushed_zeroes_denormals_inside_and_restores_the_setting():
    tiny = torch.tensor([1e-39], dtype=torch.float32)
    assert not flushing() and float(tiny * 1.0) > 0
    with flushed():
        assert flushing() and float(tiny * 1.0) == 0.0
        assert float(torch.sigmoid(torch.tensor([-90.0]))) == 0.0  # e^-90 is a denormal
    assert not flushing() and float(tiny * 1.0) > 0
    torch.set_flush_denormal(True)
    try:
        with flushed():
            pass
        assert flushing()  # a setting made before the block is kept
    finally:
        torch.set_flush_denormal(False)


def _pca_table(monkeypatch, flush: bool) -> pd.DataFrame:
    if not flush:
        monkeypatch.setattr(pca_preprocessing, "flushed", contextlib.nullcontext)
    atom = pca_preprocessing.ATOM
    over = dict(dummy_dims=(1, 500), pca_dims=(0, 5, 1), hidden_units=(16, 16), steps=40)
    return execute(atom, atom.params("quick", **over), (0,), preset="quick", overrides=over,
                   device="cpu").rows


def test_pca_table_with_flushed_denormals_equals_the_table_without(monkeypatch):
    """Saturated sigmoids (k = 500: inputs offset by ≈ 125) give denormals; flushing them to zero
    leaves every accuracy of the table unchanged."""
    with_flush = _pca_table(monkeypatch, True)
    without = _pca_table(monkeypatch, False)
    assert len(with_flush) > 0 and with_flush.value.notna().all()
    pd.testing.assert_frame_equal(with_flush, without, check_exact=True)


# --- engine.mlp_grads: the hand-written backward equals autograd to the bit -------------------

from deepatoms.atoms.atoms._classifier_training import LOSSES  # noqa: E402
from deepatoms.engine import MLPPop, mlp_grads, train  # noqa: E402
from deepatoms.engine.fused_adam import FusedAdam  # noqa: E402
import pytest  # noqa: E402


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


# --- engine.weight_shared_grads: SharedDepthPop's hand-written backward ------------------------

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
