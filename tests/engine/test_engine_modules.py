"""ModulePop, the derivatives helpers, the sampler and the training loop against plain autograd:
each member of a population must be the model trained alone."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from deepatoms.engine import Adam, MLPPop, ModulePop, SGD, Sampler, gather, train, unrolled
from deepatoms.engine.derivatives import hvp, input_grad, top_eigenvalue
from deepatoms.engine.modules import build_alone
from deepatoms.engine.sampler import Gathered
from deepatoms.errors import ParamError

SEEDS = (3, 7, 11)
TOL = 1e-5


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.out = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.out(F.max_pool2d(torch.relu(self.conv(x)), 2).flatten(1))


class ResidualBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp, self.bn, self.block, self.out = (nn.Linear(6, 16), nn.BatchNorm1d(16),
                                                   nn.Linear(16, 16), nn.Linear(16, 3))

    def forward(self, x):
        h = torch.relu(self.bn(self.inp(x)))
        return self.out(h + torch.relu(self.block(h)))


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(2, 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.out = nn.Linear(8, 3)

    def forward(self, x):  # (B, T, 2) → (B, 3)
        h = self.embed(x)
        a, _ = self.attn(h, h, h, need_weights=False)
        return self.out((h + a).mean(dim=1))


CASES = {  # factory, one input batch shape, input dims, optimiser (name, lr)
    "cnn": (SmallCNN, (10, 1, 8, 8), 4, ("adam", 1e-2)),
    # Adam would amplify float noise in the bias before batch norm (its gradient is ~0): SGD
    "residual-bn": (ResidualBN, (10, 6), 2, ("sgd", 5e-2)),
    # likewise the key bias of attention (softmax ignores it)
    "attention": (Attention, (10, 5, 2), 3, ("sgd", 5e-2)),
}


def _data(shape):
    g = torch.Generator().manual_seed(0)
    return torch.randn(*shape, generator=g), torch.randint(0, 3, (shape[0],), generator=g)


def _pop_opt(name, lr, params):
    return Adam(params, lr=lr) if name == "adam" else SGD(params, lr=lr, momentum=0.9)


def _torch_opt(name, lr, params):
    return (torch.optim.Adam(params, lr=lr) if name == "adam"
            else torch.optim.SGD(params, lr=lr, momentum=0.9))


@pytest.mark.parametrize("case", sorted(CASES))
def test_members_equal_models_trained_alone(case):
    factory, shape, dims, (opt_name, lr) = CASES[case]
    x, y = _data(shape)
    pop = ModulePop(factory, SEEDS, input_dims=dims)
    opt = _pop_opt(opt_name, lr, pop.params)
    loss = lambda batch, step: F.cross_entropy(
        pop(x).flatten(0, 1), y.repeat(len(SEEDS)), reduction="none").view(len(SEEDS), -1).mean(1)
    train(pop.params, loss, opt, 25)
    for i, seed in enumerate(SEEDS):
        alone = build_alone(factory, seed)
        topt = _torch_opt(opt_name, lr, alone.parameters())
        for _ in range(25):
            topt.zero_grad()
            F.cross_entropy(alone(x), y).backward()
            topt.step()
        for name, p in alone.named_parameters():
            assert (pop.param_dict[name][i] - p).abs().max().item() < TOL, (case, name)
        for name, b in alone.named_buffers():
            assert torch.allclose(pop.buffers[name][i].double(), b.double(), atol=TOL), name


def test_members_start_as_built_alone_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    pop = ModulePop(SmallCNN, SEEDS, input_dims=4)
    assert torch.equal(torch.rand(3), before)
    for i, seed in enumerate(SEEDS):
        alone = build_alone(SmallCNN, seed)
        for name, p in alone.named_parameters():
            assert torch.equal(pop.param_dict[name][i], p.detach())
    assert not torch.equal(pop.param_dict["conv.weight"][0], pop.param_dict["conv.weight"][1])


def test_inputs_shared_or_per_member_and_bad_shapes_refused():
    pop = ModulePop(ResidualBN, SEEDS).eval()
    x = torch.randn(4, 6)
    shared = pop(x)
    per = pop(x.expand(len(SEEDS), 4, 6))
    assert shared.shape == (3, 4, 3) and torch.allclose(shared, per)
    with pytest.raises(ValueError, match="expected inputs"):
        pop(torch.randn(2, 4, 6))


def test_per_example_gradients_match_autograd_one_at_a_time():
    pop = ModulePop(SmallCNN, SEEDS[:2], input_dims=4)
    x, y = _data((4, 1, 8, 8))
    xs, ys = x.expand(2, *x.shape), y.expand(2, 4)
    grads = pop.per_example_grads(F.cross_entropy, xs, ys)
    assert grads["conv.weight"].shape == (2, 4, 4, 1, 3, 3)
    for i, seed in enumerate(SEEDS[:2]):
        alone = build_alone(SmallCNN, seed)
        for j in range(4):
            alone.zero_grad()
            F.cross_entropy(alone(x[j:j + 1]), y[j:j + 1]).backward()
            for name, p in alone.named_parameters():
                assert torch.allclose(grads[name][i, j], p.grad, atol=1e-6), name


def _mlp(seeds):
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    return MLPPop([(3, 5, 2)] * len(seeds), gens, activation="tanh")


def test_hvp_and_top_eigenvalue_match_the_explicit_hessian():
    pop = _mlp((1, 2))
    x, y = torch.randn(16, 3, generator=torch.Generator().manual_seed(4)), torch.randn(16, 2)
    per_model = lambda: ((pop(x) - y) ** 2).mean(dim=(1, 2))
    vec = [torch.randn_like(p) for p in pop.params]
    hv = hvp(per_model, pop.params, vec)
    eig = top_eigenvalue(per_model, pop.params, torch.Generator().manual_seed(0), iterations=300)
    for i in range(2):
        flat = torch.cat([p[i].detach().flatten() for p in pop.params])
        shapes = [p[i].shape for p in pop.params]

        def alone(theta):
            parts, k = [], 0
            for s in shapes:
                parts.append(theta[k:k + s.numel()].view(s))
                k += s.numel()
            w1, w2, b1, b2 = parts
            return ((torch.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2).mean()
        hess = torch.autograd.functional.hessian(alone, flat)
        v = torch.cat([t[i].flatten() for t in vec])
        assert torch.allclose(torch.cat([h[i].flatten() for h in hv]), hess @ v, atol=1e-5)
        top = torch.linalg.eigvalsh(hess.double()).abs().max().item()
        assert abs(abs(eig[i].item()) - top) < 1e-3 * max(1.0, top)


def test_input_gradient_and_double_backprop():
    pop = _mlp((5,))
    x = torch.randn(4, 3)
    g = input_grad(lambda z: pop(z)[..., 0], x, create_graph=True)
    assert g.shape == x.shape
    g.pow(2).sum().backward()  # double backprop reaches the weights
    assert pop.weights[0].grad is not None and pop.weights[0].grad.abs().sum() > 0


def test_sampler_modes_shapes_and_per_model_independence():
    gens = lambda: [torch.Generator().manual_seed(s) for s in (0, 1)]
    for mode in ("subset", "replacement", "epoch"):
        a, b = Sampler(gens(), 20, 5, mode=mode), Sampler(gens()[:1], 20, 5, mode=mode)
        for _ in range(7):
            ia, ib = a.next(), b.next()
            assert ia.shape == (2, 5) and torch.equal(ia[0], ib[0])
            if mode != "replacement":
                assert len(set(ia[0].tolist())) == 5
    padded = Sampler(gens(), [3, 20], 5)
    idx = padded.next()
    assert sorted(idx[0, :3].tolist()) == [0, 1, 2] and padded.weights[0].tolist()[3:] == [0, 0]
    assert torch.allclose(padded.weights.sum(dim=1), torch.ones(2))
    with pytest.raises(ParamError, match="larger than the data"):
        Sampler(gens(), 4, 5, mode="epoch")
    with pytest.raises(ParamError, match="unknown sampler mode"):
        Sampler(gens(), 4, 2, mode="bootstrap")


def test_epoch_mode_is_a_permutation_per_epoch():
    s = Sampler([torch.Generator().manual_seed(0)], 12, 4, mode="epoch")
    epoch = torch.cat([s.next()[0] for _ in range(3)])
    assert sorted(epoch.tolist()) == list(range(12))


def test_gathered_rows_equal_gather_step_by_step():
    gens = lambda: [torch.Generator().manual_seed(k) for k in (3, 4, 5)]
    data, labels = torch.randn(3, 9, 2), torch.randint(0, 2, (3, 9))
    shared = torch.randn(9, 4)
    for sizes, batch in ((9, 4), ([9, 2, 6], 4)):
        plain, rows = Sampler(gens(), sizes, batch), Gathered(Sampler(gens(), sizes, batch),
                                                             [data, labels], budget=72)
        alone = Gathered(Sampler(gens(), sizes, batch), [shared], shared=True, budget=50)
        assert rows.steps == 2 and (rows.weights is None) == (sizes == 9)
        for _ in range(7):  # across refills of 2 steps
            idx = plain.next()
            xb, yb = rows.next()
            assert torch.equal(xb, gather(data, idx)) and torch.equal(yb, gather(labels, idx))
            assert torch.equal(alone.next()[0], gather(shared, idx, shared=True))


def test_train_until_stops_each_model_and_frozen_tensors_never_move():
    pop = _mlp((0, 1, 2))
    x, y = torch.randn(8, 3), torch.randn(8, 2)
    frozen = pop.biases[0].detach().clone()
    opt = SGD(pop.params, lr=torch.tensor([0.0, 0.05, 0.05]))
    seen = []
    losses = lambda: ((pop(x) - y) ** 2).mean(dim=(1, 2))
    start = losses().detach()
    out = train(pop.params, lambda b, s: ((pop(x) - y) ** 2).mean(dim=2), opt, 200,
                record=lambda s: losses().detach(), record_at=range(10, 201, 10),
                until=lambda s: torch.tensor([True, False, s >= 50]), frozen=[pop.biases[0]],
                per_example=lambda s, v: seen.append(v.shape))
    assert out.steps == 200 and out.stopped_at == [10, None, 50]
    assert seen[0] == (3, 8) and len(seen) == 200
    assert torch.equal(pop.biases[0].detach(), frozen)
    at_stop = dict(out.records)[50]
    assert torch.equal(out.records[-1][1][2], at_stop[2])  # model 2 froze after step 50
    assert out.records[-1][1][1] < start[1]  # model 1 kept learning


def test_train_ends_when_every_model_met_until():
    pop = _mlp((0,))
    opt = SGD(pop.params, lr=0.1)
    out = train(pop.params, lambda b, s: pop(torch.ones(2, 3)).sum(dim=(1, 2)), opt, 100,
                record_at=range(5, 101, 5), until=lambda s: torch.tensor([s >= 15]))
    assert out.steps == 15 and out.stopped_at == [15]


def test_grad_mask_freezes_a_layer_of_some_models_only():
    pop, alone = _mlp((0, 1)), _mlp((1,))
    x, y = torch.randn(8, 3), torch.randn(8, 2)
    first, head = pop.weights[0].detach().clone(), pop.weights[1].detach().clone()
    keep = torch.tensor([0.0, 1.0]).view(-1, 1, 1)  # model 0: first layer frozen (a probe)
    for p, opt, mask in ((pop, Adam(pop.params, lr=0.01), [(pop.weights[0], keep)]),
                         (alone, Adam(alone.params, lr=0.01), [])):
        train(p.params, lambda b, s, p=p: ((p(x) - y) ** 2).mean(dim=(1, 2)), opt, 30,
              grad_mask=mask)
    assert torch.equal(pop.weights[0][0].detach(), first[0])
    assert not torch.equal(pop.weights[1][0].detach(), head[0])  # its head still learns
    assert not torch.equal(pop.weights[0][1].detach(), first[1])
    assert torch.allclose(pop.weights[0][1], alone.weights[0][0], atol=1e-6)  # mask 1: untouched


def test_unrolled_steps_are_differentiable_in_the_learning_rate():
    # loss a/2 x², SGD x ← (1 − a·lr) x: after k steps the sum of losses has a closed form
    a, x0, k = 2.0, 1.5, 4
    lr = torch.tensor(0.1, requires_grad=True)
    x = torch.tensor([x0], requires_grad=True)
    _, total = unrolled([x], lambda p, t: 0.5 * a * (p[0] ** 2).sum(),
                        lambda p, g, t: [p[0] - lr * g[0]], k)
    total.backward()
    r = lambda q: 1 - a * q
    expect = lambda q: sum(0.5 * a * x0 ** 2 * r(q) ** (2 * t) for t in range(k))
    h = 1e-5
    numeric = (expect(0.1 + h) - expect(0.1 - h)) / (2 * h)
    assert abs(total.item() - expect(0.1)) < 1e-5 and abs(lr.grad.item() - numeric) < 1e-4
