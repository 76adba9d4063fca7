"""The atom learned-optimizer: its pieces against closed forms and references, and its claim test (slow tier)."""

import math
import numpy as np
import pytest
import torch

import deepatoms
from deepatoms.errors import ParamError
from deepatoms import registry
from deepatoms.atoms.architecture import _learned_optimizer_lstm as lstm
from deepatoms.atoms.architecture import _learned_optimizer_quadratics as quad
from deepatoms.atoms.architecture._learned_optimizer_transfer import BaselineOptimizer, LearnedOptimizer
from .architecture_helpers import gens


# ---- learned optimizer ----------------------------------------------------------------------
def test_preprocess_log_and_sign_closed_form():
    g = torch.tensor([1.0, -math.e ** -2, 1e-6, -1e-6, 0.0])
    out = lstm.preprocess(g, p=10.0)
    assert out.shape == (5, 2)
    np.testing.assert_allclose(out[0], [0.0, 1.0], atol=1e-7)
    np.testing.assert_allclose(out[1], [-0.2, -1.0], atol=1e-6)
    # |g| < e^-10 ≈ 4.5e-5: (−1, e^10 g)
    np.testing.assert_allclose(out[2], [-1.0, math.exp(10) * 1e-6], rtol=1e-5)
    np.testing.assert_allclose(out[3], [-1.0, -math.exp(10) * 1e-6], rtol=1e-5)
    np.testing.assert_allclose(out[4], [-1.0, 0.0])


def test_lstm_update_shape_and_zero_readout_gives_scaled_bias():
    params = lstm.init_lstm(gens(0, 1), hidden=20)
    with torch.no_grad():
        params[4].zero_()
        params[5].fill_(3.0)
    state = lstm.zero_state(2, 7, 20)
    upd, new = lstm.lstm_update(params, torch.randn(2, 7, generator=gens(2)[0]), state)
    assert upd.shape == (2, 7) and all(s.shape == (2, 7, 20) for s in new)
    np.testing.assert_allclose(upd.detach(), torch.full((2, 7), 3.0 * lstm.OUTPUT_SCALE), rtol=1e-6)


def test_quadratic_gradient_matches_autograd():
    w, y, th = quad.sample(gens(3, 4), 5, 10)
    th = th.clone().requires_grad_()
    quad.loss(w, y, th).sum().backward()
    np.testing.assert_allclose(quad.grad(w, y, th.detach()), th.grad, rtol=1e-5, atol=1e-5)
    # f = ‖Wθ − y‖² computed as a matrix product
    ref = ((torch.einsum("sqij,sqj->sqi", w, th.detach()) - y) ** 2).sum(-1)
    np.testing.assert_allclose(quad.loss(w, y, th.detach()), ref, rtol=1e-5)


def test_baseline_steps_closed_forms():
    g, lr = torch.tensor([2.0, -0.5]), torch.tensor(0.1)
    np.testing.assert_allclose(lstm.baseline_step("sgd", g, {}, lr, 0), [-0.2, 0.05])
    state = {}
    lstm.baseline_step("momentum", g, state, lr, 0)
    np.testing.assert_allclose(lstm.baseline_step("momentum", g, state, lr, 1), -0.1 * 1.9 * g)
    # Adam's first step is −lr · sign(g) (up to ε); RMSprop's first is −lr · g / √(0.1 g²)
    np.testing.assert_allclose(lstm.baseline_step("adam", g, {}, lr, 0), [-0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(lstm.baseline_step("rmsprop", g, {}, lr, 0),
                               -0.1 * torch.sign(g) / math.sqrt(0.1), rtol=1e-6)
    with pytest.raises(ValueError):
        lstm.baseline_step("lion", g, {}, lr, 0)


def test_meta_training_moves_the_lstm_and_seeds_are_independent():
    init = lstm.init_lstm(gens(0, 1))
    both, curve = quad.meta_train(gens(0, 1), gens(10, 11), 1, 2, 10, 5, 10, 1e-3)
    alone, curve0 = quad.meta_train(gens(0), gens(10), 1, 2, 10, 5, 10, 1e-3)
    assert curve.shape == (2, 1) and np.isfinite(curve).all()
    assert all(not torch.equal(a, b) for a, b in zip(init, both))   # the meta-gradient arrived
    for a, b in zip(both, alone):
        assert torch.equal(a[:1], b)                                    # bitwise alone vs batch
    assert curve0[0, 0] == curve[0, 0]


def test_best_lr_index_skips_divergence():
    finals = np.array([[0.5, -1.0, np.nan], [np.inf, 0.2, 0.1]])
    assert quad.best_lr_index(finals).tolist() == [1, 2]


def test_learned_and_baseline_optimizers_update_mlp_parameters():
    p = [torch.zeros(2, 3, 4), torch.zeros(2, 1, 4)]
    for t in p:
        t.grad = torch.ones_like(t)
    BaselineOptimizer(p, "sgd", torch.tensor([0.1, 1.0])).step()
    np.testing.assert_allclose(p[0][0], -0.1 * torch.ones(3, 4))
    np.testing.assert_allclose(p[1][1], -1.0 * torch.ones(1, 4))
    opt = LearnedOptimizer(p, lstm.init_lstm(gens(5, 6)))
    assert opt.state[0].shape == (2, 16, 20)
    before = [t.clone() for t in p]
    opt.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, p))


def test_learned_optimizer_rejects_horizon_not_multiple_of_unroll():
    with pytest.raises(ParamError, match="horizon"):
        registry.get("learned-optimizer").params(horizon=30, unroll=20)


# ---- claim tests (default configuration, 5 seeds) -------------------------------------------
@pytest.mark.claim
def test_claim_learned_optimizer():
    """Measured (5 seeds, 450 meta-epochs of 4 quadratics): final log10 loss on fresh quadratics
    learned −0.54 vs tuned momentum −0.56, Adam −0.46, RMSprop −0.16, SGD 0.02 — the learned
    optimiser beats SGD, RMSprop and Adam (Adam by 0.08, CI 0.07–0.10) but not momentum (−0.015,
    CI −0.06–0.03). Transfer to the digits MLP does not fail: learned −1.84 vs momentum −1.81,
    Adam −1.77, so 'transfer is weaker' holds only against SGD and RMSprop. Inconclusive."""
    out = deepatoms.run("learned-optimizer", seeds=5, device="cpu")
    assert out.verdict.status == "inconclusive"
    by = {e.metric: e for e in out.verdict.evidence}
    for b in ("sgd", "rmsprop", "adam"):
        assert by[f"quadratics: final log10 loss, tuned {b} − learned"].supports is True
    assert by["quadratics: final log10 loss, tuned momentum − learned"].supports is None
    assert by["advantage over adam: quadratics − digits MLP (log10)"].supports is None
    assert by["advantage over sgd: quadratics − digits MLP (log10)"].supports is True
