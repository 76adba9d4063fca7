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
    grey = S.saliency_map(logits, x, label, "integrated_gradients", 5, baseline=0.3)
    want = ((x[0, :, 0].flatten(1) - 0.3) * w[:, [0, 4, 9]].T).abs()
    np.testing.assert_allclose(grey[0].flatten(1).numpy(), want.numpy(), rtol=1e-5)


def test_integrated_gradients_grey_baseline_sees_the_background():
    # with a black reference the map is 0 wherever the pixel is 0 (half of a digit's pixels);
    # a grey reference attributes those pixels too
    gen = torch.Generator().manual_seed(1)
    net = ConvPop.create([gen], side=8, channels=(3, 4))
    x = torch.rand(1, 2, 1, 8, 8, generator=gen)
    x[..., :4, :] = 0.0
    label = torch.tensor([[1, 2]])
    black = S.saliency_map(net, x, label, "integrated_gradients", 6)
    grey = S.saliency_map(net, x, label, "integrated_gradients", 6, baseline=0.3)
    assert black[..., :4, :].abs().max() == 0
    assert (grey[..., :4, :] > 0).float().mean() > 0.9


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


def test_random_walk_is_the_sources_control():
    # a random-sign walk within the budget that keeps, per criterion, its most damaging
    # label-preserving iterate: never less damaging than one random step, reproducible per seed
    net = ConvPop.create([torch.Generator().manual_seed(s) for s in (0, 1)], side=8, channels=(4, 4))
    x0 = torch.rand(2, 3, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        label = net(x0).argmax(-1)
    p = registry.get("saliency-fragility").params("quick", attack_steps=6, top_k=5)
    gens = lambda: [torch.Generator().manual_seed(s) for s in (3, 4)]
    walk = S.random_walk(net, x0, label, "gradient", 0.1, p, gens(), baseline=0.2)
    again = S.random_walk(net, x0, label, "gradient", 0.1, p, gens(), baseline=0.2)
    p1 = registry.get("saliency-fragility").params("quick", attack_steps=1, top_k=5)
    one = S.random_walk(net, x0, label, "gradient", 0.1, p1, gens(), baseline=0.2)
    best = S._Best(net, x0, label, "gradient", p, 0.2, S.KINDS)
    for kind in S.KINDS:
        assert torch.equal(walk[kind], again[kind])
        assert (walk[kind] - x0).abs().max() <= 0.1 + 1e-6
        with torch.no_grad():
            assert torch.equal(net(walk[kind]).argmax(-1), label)
        many, single = (best.dissimilarity(kind, best.map(w[kind])) for w in (walk, one))
        assert (many >= single - 1e-6).all() and (many > single).any()


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
    v = out.verdict
    assert out.verdict.status == "not reproduced"
    # the attacks work (controls hold: labels kept; at 32/255 the top-k attack lowers the top-k
    # intersection below its random walk's) but at 8/255 the rank correlation moves only ≈ .02
    # more than under random noise (margin .1) and the centre ≈ 0.3 px (margin 0.5)
    assert all(e.supports for e in v.controls)
    assert [p.status for p in v.parts] == ["not reproduced", "not reproduced"]
