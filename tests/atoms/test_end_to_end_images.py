"""The atom end-to-end-images: its pieces against closed forms and references, and its claim test (slow tier)."""

import math
import numpy as np
import pytest
import torch

import deepatoms
from deepatoms.atoms.failures._tuple_net import TupleNetPop, hinge
from deepatoms.atoms.failures._tuple_snr import (block_means, image_pool, make_head,
                                                 recombined_snr, snr_from_gradients,
                                                 tuple_gradients)
from deepatoms.data.line_images import line_images, line_tuples, parity_labels
from deepatoms.engine import Adam
from deepatoms.errors import ParamError
from .failure_helpers import gen


# ---------------------------------------------------------------- line images
def _reference_image(theta: float, centre: np.ndarray, length: float) -> np.ndarray:
    """The authors' loop (read_rect_data.py), one image at a time."""
    img = np.zeros((28, 28), np.float32)
    unit = np.array([math.cos(theta), math.sin(theta)])
    for l in range(int(length // 2)):
        for sgn in (-1, 1):
            pt = (centre + sgn * unit * l).astype(np.int32)  # truncation toward zero
            if all((0 <= pt) & (pt < 28)):
                img[pt[0], pt[1]] = 1
    return img


def test_line_images_match_the_reference_loop():
    x, y, theta = line_images(gen(3), 300)
    g = gen(3)  # replay the draws in the generator's order: θ, centre, length
    th = torch.rand(300, generator=g, dtype=torch.float64) * math.pi
    centre = torch.rand(300, 2, generator=g, dtype=torch.float64) * 28
    length = 5 + torch.rand(300, generator=g, dtype=torch.float64) * 18
    assert torch.equal(th, theta)
    for i in range(300):
        ref = _reference_image(float(th[i]), centre[i].numpy(), float(length[i]))
        np.testing.assert_array_equal(x[i].numpy(), ref)
    np.testing.assert_array_equal(y.numpy(), np.where(th.numpy() < math.pi / 2, 1.0, -1.0))


def test_line_images_shapes_values_and_determinism():
    x, y, theta = line_images(gen(0), 2000)
    assert x.shape == (2000, 28, 28) and x.dtype == torch.float32
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
    on = x.sum((1, 2))
    assert on.min() >= 1 and on.max() <= 21  # the centre pixel is always inside; ≤ 2·10 + 1
    assert set(torch.unique(y).tolist()) == {-1.0, 1.0}
    assert 0.45 < (y > 0).float().mean() < 0.55
    assert theta.min() >= 0 and theta.max() < math.pi
    x2, y2, _ = line_images(gen(0), 2000)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _, _ = line_images(gen(1), 2000)
    assert not torch.equal(x, x3)


def test_parity_labels_exact():
    labels = torch.tensor([[1., 1., 1.], [1., -1., -1.], [-1., -1., -1.], [1., 1., -1.]])
    assert parity_labels(labels).tolist() == [1.0, 1.0, -1.0, -1.0]
    single = torch.tensor([[1.], [-1.]])
    assert parity_labels(single).tolist() == [1.0, -1.0]


def test_line_tuples_labels_and_bad_k():
    x, y_img, y = line_tuples(gen(5), 50, 3)
    assert x.shape == (50, 3, 28, 28) and y_img.shape == (50, 3) and y.shape == (50,)
    odd = ((y_img > 0).sum(1) % 2 == 1)
    assert torch.equal(y > 0, odd)
    with pytest.raises(ParamError, match="'k'"):
        line_tuples(gen(5), 10, 0)


# ---------------------------------------------------------------- tuple network
def test_population_equals_models_trained_alone():
    ks, seeds = [1, 3], [11, 12]
    pop = TupleNetPop(ks, [gen(s) for s in seeds], channels=4)
    alone = [TupleNetPop([k], [gen(s)], channels=4) for k, s in zip(ks, seeds)]
    opt_pop = Adam(pop.params, lr=1e-2, betas=(0.9, 0.99), eps=1e-5)
    opts = [Adam(a.params, lr=1e-2, betas=(0.9, 0.99), eps=1e-5) for a in alone]
    for step in range(3):
        xs = [line_tuples(gen(100 + step * 10 + i), 6, k) for i, k in enumerate(ks)]
        x = torch.cat([t[0] for t in xs], dim=1)  # (6, 4, 28, 28): slots of both models
        y = torch.stack([t[2] for t in xs])
        out, _ = pop(x)
        opt_pop.zero_grad()
        hinge(y * out).mean(1).sum().backward()
        opt_pop.step()
        for i, (a, o) in enumerate(zip(alone, opts)):
            out_a, _ = a(xs[i][0])
            torch.testing.assert_close(out[i], out_a[0], rtol=1e-4, atol=1e-5)
            o.zero_grad()
            hinge(y[i] * out_a[0]).mean().backward()
            o.step()
    for name in pop.p:
        for i, a in enumerate(alone):
            mine = pop.p[name][i, :ks[i]] if name == "head1" else pop.p[name][i]
            torch.testing.assert_close(mine, a.p[name][0], rtol=1e-4, atol=1e-5)
    assert torch.all(pop.p["head1"][0, 1:] == 0)  # padded rows of the k = 1 model never move


def test_grouped_convolution_matches_plain_convolution():
    net = TupleNetPop([2], [gen(7)], channels=4)
    x, _, _ = line_tuples(gen(8), 5, 2)
    _, h = net.image_features(x)
    w1, w2 = net.p["conv1"][0], net.p["conv2"][0]
    for j in range(2):
        ref = torch.nn.functional.max_pool2d(torch.nn.functional.conv2d(x[:, j:j + 1], w1, padding=2), 2)
        ref = torch.nn.functional.max_pool2d(torch.nn.functional.conv2d(ref, w2, padding=2), 2)
        ref = torch.relu(ref.flatten(1) @ net.p["fc3"][0] + net.p["fc3_b"][0])
        ref = torch.relu(ref @ net.p["fc4"][0] + net.p["fc4_b"][0])
        torch.testing.assert_close(h[j], ref, rtol=1e-4, atol=1e-5)


def test_init_follows_the_code():
    net = TupleNetPop([3], [gen(9)], channels=16)
    w1 = net.p["conv1"][0].detach()
    assert w1.abs().max() <= 2 / math.sqrt(28) + 1e-6  # truncated at 2 std, std 1/√28
    assert w1.std() == pytest.approx(0.88 / math.sqrt(28), rel=0.15)
    assert net.p["conv2"][0].abs().max() <= 2 / 4 + 1e-6
    assert all(torch.all(net.p[n] == 0) for n in net.p if n.endswith("_b"))


# ---------------------------------------------------------------- SNR
def test_snr_estimator_on_known_gradients():
    g = gen(1)
    t, d = 20000, 10
    mu = torch.zeros(d, dtype=torch.float64)
    mu[0] = 0.1  # SNR = 0.01 / d with unit noise per coordinate
    noisy = mu + torch.randn(t, d, generator=g, dtype=torch.float64)
    est = snr_from_gradients(noisy)
    assert est.resolved and abs(est.estimate - 0.001) < 3 * est.se
    null = snr_from_gradients(torch.randn(t, d, generator=g, dtype=torch.float64))
    assert not null.resolved and abs(null.estimate) < 3 * null.se
    assert null.raw == pytest.approx(1 / t, rel=0.5) and null.floor == 1 / t
    assert null.upper > 0


def test_tuple_gradients_match_autograd_through_the_network():
    net = TupleNetPop([1], [gen(21)], channels=4)
    k, t = 3, 8
    pool = image_pool(net, gen(22), k * t, chunk=k * t)
    head = make_head(k, gen(23))
    tuples = torch.randperm(k * t, generator=gen(24)).view(t, k)
    grads = tuple_gradients(pool, tuples, head)
    x, y, _ = line_images(gen(22), k * t)  # the same images again, with autograd on
    s_all, _ = net.image_features(x.view(k * t, 1, 28, 28))  # (1, k·t): one slot, k·t images
    s, y = s_all[0][tuples], y[tuples]
    out = (torch.relu(torch.sigmoid(s) @ head[0]) @ head[1])[:, 0]
    for i in (0, t - 1):
        e2e, = torch.autograd.grad(hinge(parity_labels(y[i]) * out[i]), net.p["score"],
                                   retain_graph=True)
        torch.testing.assert_close(grads["end-to-end"][i], e2e[0, :, 0], rtol=1e-4, atol=1e-6)
        dec, = torch.autograd.grad(hinge(y[i, 0] * s[i, 0]), net.p["score"], retain_graph=True)
        torch.testing.assert_close(grads["decomposition"][i], dec[0, :, 0], rtol=1e-4, atol=1e-6)


def test_block_means_use_distinct_images_of_their_own_block():
    n, k, blocks = 60, 3, 4
    feats = torch.eye(n)  # feature i marks image i
    pool = (torch.zeros(n), feats, torch.ones(n))
    head = make_head(k, gen(1))
    means = block_means(pool, k, head, blocks, 7, gen(2))["decomposition"]
    # decomposition: gradient −y·h of each tuple's first image; all images of a block are
    # first images equally often over permutations only on average, but never outside the block
    for b in range(blocks):
        support = means[b].nonzero().flatten()
        assert support.min() >= b * 15 and support.max() < (b + 1) * 15
    assert torch.allclose(means.sum(1), torch.full((blocks,), -1.0, dtype=torch.float64))


def test_recombined_snr_is_unbiased_where_plain_sees_only_1_over_t():
    # synthetic pool: scores carry no label information, so the end-to-end signal is ~0 for
    # k ≥ 2, and the decomposition signal is set by a feature correlated with the label
    g = gen(5)
    n = 8000
    labels = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, -1.0)
    feats = torch.randn(n, 20, generator=g)
    feats[:, 0] += 0.1 * labels
    pool = (torch.randn(n, generator=g) * 0.1, feats, labels)
    out = recombined_snr(pool, 2, make_head(2, gen(6)), 20, 20, gen(7))
    dec, e2e = out["decomposition"], out["end-to-end"]
    assert dec.resolved and abs(dec.estimate - 0.01 / 20.01) < 3 * dec.se
    assert not e2e.resolved and e2e.upper < 0.2 * e2e.floor  # far below the plug-in floor 1/T


@pytest.mark.claim
def test_claim_end_to_end_images():
    """Measured at default (3 seeds): inconclusive — decomposition k = 2 and 4 and the SNR rows
    are undecided at 3 seeds; with seeds 0–4 only decomposition k = 4 (still rising at step
    1,000) and the SNR's flatness (noise of 16,000 images per k) stay undecided."""
    out = deepatoms.run("end-to-end-images", device="cpu")
    assert out.verdict.status == "inconclusive", out.verdict.finding
    rows = {(e.setting, e.metric): e.supports for e in out.verdict.evidence}
    assert not any(v is False for v in rows.values())
    assert rows[("k=1", "k=1: test accuracy, end-to-end − decomposition")] is True
    assert all(c.supports for c in out.verdict.controls)  # decomposition k=3 .85, k=4 .81


def test_end_to_end_images_decomposition_that_does_not_learn_fails_the_control():
    """End-to-end at chance for k ≥ 3 means nothing if the network cannot learn k-tuples at
    this budget even with the per-image labels: every part is then inconclusive."""
    from deepatoms.atoms.failures import end_to_end_images as e2e
    t = _e2e_table({1: 6e-4, 2: 6.2e-4, 3: 5.9e-4, 4: 6.1e-4})
    t.loc[(t.method == "decomposition") & (t.k >= 3) & (t.metric == "test_accuracy"), "value"] -= 0.3
    v = e2e.judge(t)
    assert [p.status for p in v.parts] == ["inconclusive", "inconclusive"]
    assert "decomposition k=3" in v.parts[0].reason and "2,500" in v.parts[0].reason


# ---------------------------------------------------------------- end-to-end-images judge (issue 6)
def _e2e_table(dec_snr: dict, seeds: int = 5) -> "pd.DataFrame":
    import pandas as pd
    rows = []
    for s in range(seeds):
        for k in (1, 2, 3, 4):
            acc = {"decomposition": (0.95, 0.91, 0.86, 0.83)[k - 1], "end-to-end": 0.94 if k == 1 else 0.5}
            for m, a in acc.items():
                jitter = 0.002 * s * (1 if m == "decomposition" else -1) - 0.001 * k
                rows.append(dict(seed=s, method=m, k=k, step=1000, metric="test_accuracy", value=a + jitter))
            est = dec_snr[k] * (1 + 0.05 * (s - 2) * (-1) ** k)
            e2e_up = est if k == 1 else est / (100 + 10 * s)
            rows += [dict(seed=s, method="decomposition", k=k, step=0, metric="snr_estimate", value=est),
                     dict(seed=s, method="end-to-end", k=k, step=0, metric="snr_upper", value=e2e_up),
                     dict(seed=s, method="decomposition", k=k, step=0, metric="snr_upper", value=est * 1.5),
                     dict(seed=s, method="end-to-end", k=k, step=0, metric="snr_estimate", value=e2e_up / 2)]
        rows.append(dict(seed=s, method="decomposition", k=1, step=0, metric="n_test", value=2000.0))
    return pd.DataFrame(rows)


def test_end_to_end_images_judge_flat_snr_is_an_equivalence_test():
    from deepatoms.atoms.failures import end_to_end_images as e2e
    flat = e2e.judge(_e2e_table({1: 6e-4, 2: 6.2e-4, 3: 5.9e-4, 4: 6.1e-4}))
    assert flat.status == "reproduced", [(e.metric, e.supports) for e in flat.evidence]
    assert {e.setting for e in flat.evidence} == {"k=1", "k=2", "k=3", "k=4", "k=*"}
    falling = e2e.judge(_e2e_table({1: 6e-4, 2: 3e-4, 3: 1.5e-4, 4: 7.5e-5}))  # halves per k: 8×
    rows = [e for e in falling.evidence if "fitted log10 change" in e.metric]
    assert [e.supports for e in rows] == [False, True]
    assert [p.status for p in falling.parts] == ["reproduced", "not reproduced"]  # SNR: own part
    assert e2e._fitted_change(e2e._snr(_e2e_table({1: 1e-3, 2: 1e-3, 3: 1e-3, 4: 1e-2}),
                                       "decomposition", "estimate"))[2] == pytest.approx(0.9, abs=1e-9)
