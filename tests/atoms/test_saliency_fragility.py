"""The atom saliency-fragility: its pieces against closed forms and references, and its claim test (slow tier)."""

import numpy as np
import pytest
import scipy.stats as sps
import torch
import torch.nn.functional as F

import deepatoms
from deepatoms.atoms.robustness import _saliency_fragility_maps as S
from deepatoms.atoms.robustness._stacked_nets import ConvPop, softplus
from deepatoms.errors import ParamError
from deepatoms import registry


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, (5, 30)).astype(float)  # many ties
    b = a + rng.standard_normal((5, 30))
    want = [sps.spearmanr(x, y).statistic for x, y in zip(a, b)]
    np.testing.assert_allclose(S.spearman(a, b), want, rtol=1e-12)
    assert np.isnan(S.spearman(np.ones((1, 4)), np.arange(4.0)[None]))[0]


def test_top_k_intersection_and_centre_of_mass_by_hand():
    a = np.array([[9.0, 8.0, 7.0, 1.0, 0.0]])
    b = np.array([[0.0, 8.0, 1.0, 7.0, 9.0]])
    assert S.top_k_intersection(a, b, 3)[0] == pytest.approx(1 / 3)  # only index 1 shared
    assert S.top_k_intersection(a, a, 3)[0] == 1.0
    s = torch.zeros(1, 1, 4, 4)
    s[0, 0, 0, 0], s[0, 0, 3, 1] = 1.0, 3.0
    np.testing.assert_allclose(S.centre_of_mass(s)[0, 0].numpy(), [2.25, 0.75])
    mask = S.top_mask(s, 2)
    assert mask.sum() == 2 and mask[0, 0, 0] == 1 and mask[0, 0, 13] == 1


def test_saliency_maps_of_a_linear_model_are_closed_form():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(16, 10, generator=gen)
    logits = lambda x: x.flatten(-3) @ w
    x = torch.rand(1, 3, 1, 4, 4, generator=gen)
    label = torch.tensor([[0, 4, 9]])
    grad = S.saliency_map(logits, x, label, "gradient", 1)
    np.testing.assert_allclose(grad[0].flatten(1).numpy(), w[:, [0, 4, 9]].T.abs().numpy(), rtol=1e-6)
    ig = S.saliency_map(logits, x, label, "integrated_gradients", 5)
    want = (x[0, :, 0].flatten(1) * w[:, [0, 4, 9]].T).abs()
    np.testing.assert_allclose(ig[0].flatten(1).numpy(), want.numpy(), rtol=1e-5)


def test_conv_population_matches_conv2d_and_is_the_same_alone():
    gens = lambda seeds: [torch.Generator().manual_seed(s) for s in seeds]
    pop = ConvPop.create(gens([0, 1]), side=8, channels=(3, 4))
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(9))
    w1 = pop.weights[0][1].detach().T.reshape(3, 1, 3, 3)
    ref = F.conv2d(x, w1, pop.biases[0][1, 0].detach(), padding=1)
    got = pop._conv(x.expand(2, *x.shape), 0, 8)[1]
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    alone = ConvPop.create(gens([1]), side=8, channels=(3, 4))
    assert torch.equal(alone(x)[0], pop(x)[1])
    smooth = pop(x, act=softplus(1e4))
    torch.testing.assert_close(smooth, pop(x), rtol=1e-3, atol=1e-3)  # softplus → ReLU as β grows


def test_saliency_attack_keeps_label_box_and_budget():
    gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
    net = ConvPop.create(gens, side=8, channels=(4, 4))
    x0 = torch.rand(2, 3, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        label = net(x0).argmax(-1)
    p = registry.get("saliency-fragility").params("quick", attack_steps=4, top_k=5)
    eps = 8 / 255
    for kind in ("topk", "mass_center"):
        x1 = S.attack(net, lambda z: net(z, act=softplus(10.0)), x0, label, kind, "gradient", eps, p)
        assert (x1 - x0).abs().max() <= eps + 1e-6
        assert x1.min() >= 0 and x1.max() <= 1
        with torch.no_grad():
            assert torch.equal(net(x1).argmax(-1), label)


def test_saliency_params_are_checked():
    atom = registry.get("saliency-fragility")
    with pytest.raises(ParamError, match="side"):
        atom.params(side=18)
    with pytest.raises(ParamError, match="top_k"):
        atom.params(side=8, top_k=64)
    with pytest.raises(ParamError, match="channels"):
        atom.params(channels=(4,))


@pytest.mark.claim
def test_claim_saliency_fragility():
    out = deepatoms.run("saliency-fragility", seeds=5, device="cpu")
    assert out.verdict.status == "not reproduced"
