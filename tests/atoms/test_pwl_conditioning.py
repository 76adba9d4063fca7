"""The atom pwl-conditioning: its pieces against closed forms and references, and its claim test (slow tier)."""

import math
import numpy as np
import pytest
import torch

import deepatoms
from deepatoms.atoms.failures._pwl_inverse import InverseModel, steps_to_reach
from deepatoms.data.pwl_curves import (FILTER, SLOPE_SETS, continuous_kink_curves, conv_patches,
                                       inverse_sqrt, kink_matrix, patch_covariance,
                                       sparse_kink_curves)
from deepatoms.errors import ParamError
from .failure_helpers import gen


# ---------------------------------------------------------------- PWL curves
def test_kink_matrix_small_and_inverse_filter():
    np.testing.assert_array_equal(kink_matrix(3), [[1, 2, 3], [0, 1, 2], [0, 0, 1]])
    w = kink_matrix(12)
    inv = np.linalg.inv(w)
    for x in range(2, 12):  # rows of W⁻¹ act as the filter [1, −2, 1] on f[x], f[x−1], f[x−2]
        col = np.zeros(12)
        col[[x, x - 1, x - 2]] = FILTER
        np.testing.assert_allclose(inv[:, x], col, atol=1e-9)


def test_sparse_kink_curves_structure():
    f, p = sparse_kink_curves(np.random.default_rng(0), 500, 40)
    assert f.shape == p.shape == (500, 40)
    nz = [np.flatnonzero(row) for row in p]
    assert all(len(i) == 3 and i.min() >= 3 and i.max() <= 40 - 4 for i in nz)
    slopes = np.stack([np.cumsum(row[i]) for row, i in zip(p, nz)])
    assert all(any(np.allclose(s, pattern) for pattern in SLOPE_SETS) for s in slopes)
    np.testing.assert_allclose(conv_patches(f.astype(np.float64)) @ FILTER, p[:, 2:], atol=1e-4)
    np.testing.assert_allclose(f, p.astype(np.float64) @ kink_matrix(40), rtol=1e-6)
    f2, _ = sparse_kink_curves(np.random.default_rng(0), 500, 40)
    np.testing.assert_array_equal(f, f2)
    with pytest.raises(ParamError, match="'n'"):
        sparse_kink_curves(np.random.default_rng(0), 5, 8)


def test_continuous_kink_curves_formula():
    f, thetas, coeffs = continuous_kink_curves(np.random.default_rng(1), 20, 30, 3)
    assert f.shape == (20, 30) and thetas.shape == coeffs.shape == (20, 3)
    assert thetas.min() >= 0 and thetas.max() < 30 and np.abs(coeffs).max() <= 1
    for i, x in [(0, 0), (3, 17), (19, 29)]:
        expected = sum(c * max(0.0, x - t) for c, t in zip(coeffs[i], thetas[i]))
        assert f[i, x] == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_whitening_makes_identity():
    f, _ = sparse_kink_curves(np.random.default_rng(2), 300, 50)
    c = patch_covariance(f)
    m = inverse_sqrt(c)
    np.testing.assert_allclose(m @ c @ m, np.eye(3), atol=1e-8)


# ---------------------------------------------------------------- PWL inverse numerics
@pytest.mark.parametrize("variant", ["fc", "conv", "conv-whitened"])
def test_inverse_gradient_matches_autograd(variant):
    f, p = sparse_kink_curves(np.random.default_rng(4), 200, 30)
    data = dict(f_train=torch.tensor(np.stack([f, f[::-1].copy()])),
                p_train=torch.tensor(np.stack([p, p[::-1].copy()])))
    model = InverseModel(variant, data)
    g = gen(0)
    model.weight = torch.randn(model.weight.shape, generator=g) * 0.1
    idx = torch.randint(200, (2, 16), generator=g)
    fast = model.gradient(idx, data).double()
    model.weight = model.weight.double().requires_grad_()
    model.whiten = model.whiten.double()
    rows = torch.arange(2)[:, None]
    fb, pb = data["f_train"][rows, idx].double(), data["p_train"][rows, idx].double()
    model.loss(fb, pb).sum().backward()
    np.testing.assert_allclose(fast.numpy(), model.weight.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_steps_to_reach_exact():
    errors = np.array([[1.0, 1.0], [0.5, 0.9], [0.05, 0.8], [0.2, 0.7]])  # (evals, models)
    out = steps_to_reach([0, 10, 100, 1000], errors, 0.1)
    assert out[0] == 100 and math.isinf(out[1])


# ---------------------------------------------------------------- claims (slow tier)
@pytest.mark.claim
def test_claim_pwl_conditioning():
    out = deepatoms.run("pwl-conditioning", device="cpu")
    assert out.verdict.status == "reproduced", out.verdict.finding


def test_a_whitened_conv_that_does_not_converge_fails_the_control():
    from deepatoms.atoms.failures import pwl_conditioning
    out = deepatoms.run("pwl-conditioning", preset="quick", seeds=2, device="cpu")
    t = out.table.copy()
    t.loc[(t.variant == "conv-whitened") & (t.metric == "filter_error"), "value"] = 1.0
    v = pwl_conditioning.judge(t)
    assert v.status == "inconclusive" and "whitened filter" in v.parts[0].reason
