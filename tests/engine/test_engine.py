"""The populations engine against a trusted reference: each member of a population must get
exactly the updates it would get trained alone with torch.nn + torch.optim."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from deepatoms.engine import SGD, Adam, MLPPop, Sampler, gather, init_tensor
from deepatoms.errors import ParamError
from deepatoms.lab import derive_seed

D_IN, D_OUT, N_DATA, BATCH, STEPS = 5, 3, 40, 8, 50
# Model i: hidden widths, activation, initialiser, learning rate, weight decay.
# Activations come in contiguous runs (the population groups them) and one run is interrupted
# (tanh, relu, tanh) to exercise the grouping.
SPECS = [
    ((7, 4), "relu", "xavier_uniform", 0.010, 0.0),
    ((3, 6), "relu", "he_normal", 0.020, 1e-3),
    ((8, 8), "tanh", "trunc_normal", 0.005, 0.0),
    ((5, 2), "relu", "torch_default", 0.030, 1e-2),
    ((6, 5), "tanh", "normal:0.3", 0.015, 0.0),
    ((2, 7), "sigmoid", "uniform:0.5", 0.050, 1e-3),
    ((4, 3), "softplus", "xavier_uniform", 0.025, 0.0),
    ((8, 1), "sin", "he_normal", 0.008, 0.0),
]
M = len(SPECS)
RTOL, ATOL = 1e-5, 1e-6  # float32 after 50 steps


def _gen(seed: int, *tags: object) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, *tags))


def _data(device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Shared data: x (N, D_IN), y (N, D_OUT)."""
    g = _gen(0, "data")
    x = torch.randn(N_DATA, D_IN, generator=g)
    y = torch.randn(N_DATA, D_OUT, generator=g)
    return x.to(device), y.to(device)


def _population(dtype: torch.dtype = torch.float32, device: str = "cpu") -> MLPPop:
    sizes = [(D_IN, *h, D_OUT) for h, *_ in SPECS]
    gens = [_gen(100 + i, "init") for i in range(M)]
    return MLPPop(sizes, gens, activation=[s[1] for s in SPECS], init=[s[2] for s in SPECS],
                  dtype=dtype, device=device)


def _reference(pop: MLPPop, i: int) -> nn.Sequential:
    """Model i alone as nn.Sequential(Linear, act, Linear, act, Linear) with pop's weights."""
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "softplus": nn.Softplus}
    layers: list[nn.Module] = []
    weights = pop.model_weights(i)
    for l, (w, b) in enumerate(weights):
        lin = nn.Linear(w.shape[0], w.shape[1], dtype=w.dtype, device=w.device)
        with torch.no_grad():
            lin.weight.copy_(w.T)  # nn.Linear stores (out, in)
            lin.bias.copy_(b)
        layers.append(lin)
        if l < len(weights) - 1:
            name = pop.activations[i]
            layers.append(_Sin() if name == "sin" else acts[name]())
    return nn.Sequential(*layers)


class _Sin(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


def _streams(mode: str, device: str = "cpu") -> tuple[Sampler, list[Sampler]]:
    """The population's stream and, per model, a stream of its own generator alone."""
    gens = [_gen(200 + i, "batches") for i in range(M)]
    pop_stream = Sampler(gens, N_DATA, BATCH, mode, chunk=16, device=device)
    alone = [Sampler([_gen(200 + i, "batches")], N_DATA, BATCH, mode, chunk=16, device=device)
             for i in range(M)]
    return pop_stream, alone


def _make_opt(kind: str, params, lr, wd, momentum):
    if kind == "adam":
        return Adam(params, lr=lr, weight_decay=wd)
    return SGD(params, lr=lr, momentum=momentum, weight_decay=wd)


def _make_torch_opt(kind: str, params, lr: float, wd: float, momentum: float):
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)


def _train_population(kind: str, momentum: list[float], mode: str, device: str = "cpu"):
    x, y = _data(device)
    pop = _population(device=device)
    # model_weights returns views of the live tensors: clone to keep the step-0 snapshot
    start = [[(w.clone(), b.clone()) for w, b in pop.model_weights(i)] for i in range(M)]
    refs = [_reference(pop, i) for i in range(M)]
    lrs, wds = [s[3] for s in SPECS], [s[4] for s in SPECS]
    opt = _make_opt(kind, pop.params, lrs, wds, momentum)
    stream, _ = _streams(mode, device)
    for _ in range(STEPS):
        idx = stream.next()  # (M, B)
        err = pop(gather(x, idx, shared=True)) - gather(y, idx, shared=True)  # (M, B, D_OUT)
        loss = (err ** 2).mean(dim=(1, 2))  # (M,)
        opt.zero_grad()
        loss.sum().backward()  # models are independent: d(sum)/dθ_i = dloss_i/dθ_i
        opt.step()
    return pop, start, refs


def _train_alone(kind: str, ref: nn.Sequential, i: int, momentum: float, mode: str,
                 device: str = "cpu") -> None:
    x, y = _data(device)
    opt = _make_torch_opt(kind, ref.parameters(), SPECS[i][3], SPECS[i][4], momentum)
    stream = _streams(mode, device)[1][i]
    for _ in range(STEPS):
        idx = stream.next()[0]  # (B,)
        loss = ((ref(x[idx]) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


OPTIMISERS = [
    ("adam", [0.0] * M, "replacement"),
    ("adam", [0.0] * M, "epoch"),
    ("sgd", [0.0] * M, "replacement"),
    ("sgd", [0.9, 0.5, 0.0, 0.9, 0.8, 0.0, 0.95, 0.7], "epoch"),  # per-model momentum, some zero
]


def _check_against_alone(kind: str, momentum: list[float], mode: str, device: str,
                         rtol: float, atol: float) -> None:
    pop, start, refs = _train_population(kind, momentum, mode, device)
    for i, ref in enumerate(refs):
        _train_alone(kind, ref, i, momentum[i], mode, device)
        linears = [m for m in ref if isinstance(m, nn.Linear)]
        for l, ((w, b), lin) in enumerate(zip(pop.model_weights(i), linears)):
            assert not torch.equal(w, start[i][l][0]), f"model {i} layer {l} did not train"
            torch.testing.assert_close(w, lin.weight.detach().T, rtol=rtol, atol=atol)
            torch.testing.assert_close(b, lin.bias.detach(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("kind,momentum,mode", OPTIMISERS)
def test_population_matches_models_trained_alone(kind, momentum, mode):
    _check_against_alone(kind, momentum, mode, "cpu", RTOL, ATOL)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind,momentum,mode", [OPTIMISERS[0], OPTIMISERS[3]])
def test_population_matches_models_trained_alone_on_cuda(kind, momentum, mode):
    # batched and single GPU matmuls round differently; Adam amplifies that on near-zero
    # gradients, so the tolerance is looser than on the CPU
    _check_against_alone(kind, momentum, mode, "cuda", 1e-4, 1e-5)


def test_initial_weights_equal_a_model_built_alone():
    pop = _population()
    for i, (hidden, act, init, *_) in enumerate(SPECS):
        alone = MLPPop([(D_IN, *hidden, D_OUT)], [_gen(100 + i, "init")], activation=act, init=init)
        for (w, b), (wa, ba) in zip(pop.model_weights(i), alone.model_weights(0)):
            assert torch.equal(w, wa) and torch.equal(b, ba)


def test_forward_matches_reference_and_hidden_shapes():
    x, _ = _data()
    pop = _population()
    out, hidden = pop(x, return_hidden=True)
    assert out.shape == (M, N_DATA, D_OUT)
    assert [h.shape for h in hidden] == [(M, N_DATA, w) for w in pop.widths[1:-1]]
    for i in range(M):
        ref_out = _reference(pop, i)(x).detach()
        torch.testing.assert_close(out[i].detach(), ref_out, rtol=1e-5, atol=1e-6)


def test_padded_units_stay_exactly_zero_under_training():
    pop, _, _ = _train_population("adam", [0.0] * M, "replacement")
    x, _ = _data()
    _, hidden = pop(x, return_hidden=True)
    for i, (hidden_sizes, *_) in enumerate(SPECS):
        size = (D_IN, *hidden_sizes, D_OUT)
        for l, (w, b) in enumerate(zip(pop.weights, pop.biases)):
            assert torch.all(w[i, size[l]:, :] == 0) and torch.all(w[i, :, size[l + 1]:] == 0)
            assert torch.all(b[i, :, size[l + 1]:] == 0)
        for l, h in enumerate(hidden):
            assert torch.all(h[i, :, size[l + 1]:] == 0)


def test_float64_population_matches_tightly():
    """In float64 the population and the one-by-one model agree to ~1e-12 (same arithmetic)."""
    x, y = _data()
    pop = _population(torch.float64)
    ref = _reference(pop, 2)
    opt = Adam(pop.params, lr=[s[3] for s in SPECS])
    ropt = torch.optim.Adam(ref.parameters(), lr=SPECS[2][3])
    x, y = x.double(), y.double()
    for step in range(20):
        idx = torch.arange(step % 5, N_DATA, 5)[:BATCH]
        loss = ((pop(x[idx]) - y[idx]) ** 2).mean(dim=(1, 2))
        opt.zero_grad(), loss.sum().backward(), opt.step()
        rloss = ((ref(x[idx]) - y[idx]) ** 2).mean()
        ropt.zero_grad(), rloss.backward(), ropt.step()
    torch.testing.assert_close(pop.model_weights(2)[0][0], ref[0].weight.detach().T,
                               rtol=1e-10, atol=1e-12)


# --- Sampler and gather ---------------------------------------------------------------

@pytest.mark.parametrize("mode", ["replacement", "epoch", "subset"])
def test_sampler_is_deterministic_and_seed_dependent(mode):
    def draw(seeds):
        s = Sampler([_gen(k, "b") for k in seeds], 30, 6, mode, chunk=4)
        return torch.stack([s.next() for _ in range(11)])  # (steps, M, B), crosses chunk edges
    a, b = draw([1, 2, 3]), draw([1, 2, 3])
    assert a.shape == (11, 3, 6) and a.dtype == torch.long
    assert torch.equal(a, b)
    assert not torch.equal(a, draw([1, 2, 4]))
    assert torch.equal(a[:, :2], draw([1, 2, 4])[:, :2])  # each model's stream is its own
    assert int(a.min()) >= 0 and int(a.max()) < 30


def test_epoch_mode_is_a_permutation_per_epoch():
    n, batch = 24, 6  # 4 batches per epoch
    s = Sampler([_gen(k, "e") for k in range(3)], n, batch, "epoch", chunk=5)
    steps = torch.stack([s.next() for _ in range(4 * 5)])  # 5 epochs, (20, M, B)
    for m in range(3):
        epochs = steps[:, m].reshape(5, n)
        for e in range(5):
            assert torch.equal(epochs[e].sort().values, torch.arange(n))
        assert not torch.equal(epochs[0], epochs[1])


def test_epoch_mode_drops_the_last_short_batch():
    n, batch = 26, 6  # 4 whole batches, 2 examples left out per epoch
    s = Sampler([_gen(0, "e")], n, batch, "epoch", chunk=3)
    first = torch.stack([s.next()[0] for _ in range(4)]).flatten()
    assert first.unique().numel() == 24


def test_epoch_mode_rejects_a_batch_larger_than_the_data():
    with pytest.raises(ParamError, match="larger than the data"):
        Sampler([_gen(0, "e")], 5, 6, "epoch")


def test_gather_shapes_and_rows():
    data = torch.arange(3 * 10 * 2, dtype=torch.float32).reshape(3, 10, 2)  # (M, N, 2)
    idx = torch.tensor([[0, 9, 4, 4], [1, 1, 2, 3], [9, 8, 7, 6]])  # (M, B)
    out = gather(data, idx)
    assert out.shape == (3, 4, 2)
    for m in range(3):
        assert torch.equal(out[m], data[m, idx[m]])
    shared = gather(data[0], idx, shared=True)
    assert shared.shape == (3, 4, 2) and torch.equal(shared[2], data[0, idx[2]])
    labels = torch.arange(10)
    assert torch.equal(gather(labels, idx, shared=True), idx)


# --- initialisers --------------------------------------------------------------------------

def test_xavier_uniform_bound_and_spread():
    fan_in, fan_out = 200, 300
    w = init_tensor("xavier_uniform", (fan_in, fan_out), fan_in, fan_out, _gen(0, "x"))
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    assert w.abs().max() <= bound and w.abs().max() > 0.99 * bound
    assert abs(w.mean().item()) < 0.01 * bound
    assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)  # U(-a, a): sd a/√3


def test_trunc_normal_stays_within_two_std():
    fan_in = 64
    w = init_tensor("trunc_normal", (fan_in, 5000), fan_in, 5000, _gen(0, "t"))
    std = 1.0 / math.sqrt(fan_in)
    assert w.abs().max() <= 2 * std
    assert w.abs().max() > 1.95 * std
    # N(0, σ²) truncated at ±2σ has sd ≈ 0.8796σ
    assert w.std().item() == pytest.approx(0.8796 * std, rel=0.02)


def test_he_normal_and_torch_default_scales():
    g = _gen(0, "h")
    he = init_tensor("he_normal", (100, 4000), 100, 4000, g)
    assert he.std().item() == pytest.approx(math.sqrt(2 / 100), rel=0.02)
    td = init_tensor("torch_default", (50, 4000), 50, 4000, g)
    assert td.abs().max() <= 1 / math.sqrt(50)
    assert torch.equal(init_tensor("zeros", (2, 3), 2, 3, g), torch.zeros(2, 3))


def test_initialisers_use_only_the_given_generator():
    state = torch.random.get_rng_state()
    a = init_tensor("he_normal", (4, 4), 4, 4, _gen(5, "i"))
    b = init_tensor("he_normal", (4, 4), 4, 4, _gen(5, "i"))
    assert torch.equal(a, b)
    assert torch.equal(state, torch.random.get_rng_state())


@pytest.mark.parametrize("spec", ["glorot", "normal", "uniform:", "xavier"])
def test_unknown_initialiser_rejected(spec):
    with pytest.raises(ParamError, match="unknown initialiser"):
        MLPPop([(2, 3, 1)], [_gen(0, "i")], init=spec)


def test_unknown_activation_rejected():
    with pytest.raises(ParamError, match="unknown activation 'gelu'"):
        MLPPop([(2, 3, 1), (2, 3, 1)], [_gen(0, "a"), _gen(1, "a")], activation=["relu", "gelu"])


def test_bad_sizes_rejected():
    with pytest.raises(ParamError):
        MLPPop([(2, 0, 1)], [_gen(0, "s")])
    with pytest.raises(ParamError):
        MLPPop([(2, 3, 1), (2, 3, 3, 1)], [_gen(0, "s"), _gen(1, "s")])


def _fused_run(w0: torch.Tensor, grads: list[torch.Tensor], per_model: bool) -> torch.Tensor:
    from deepatoms.engine.fused_adam import FusedAdam
    w = w0.clone()
    opt = FusedAdam([w], lr=0.1, betas=(0.9, 0.99), eps=1e-5, per_model=per_model)
    for g in grads:
        w.grad = g[:w.shape[0]].clone()
        opt.step()
    return w


def test_fused_adam_per_model_gives_a_model_the_same_update_in_any_population():
    """(M, 1, 10): whole tensors put the kernel's scalar tail (numel % vector width) at offsets
    that move with M; per model, member 0 alone and in populations of 2..5 agree bitwise."""
    gen = torch.Generator().manual_seed(5)
    w0 = torch.randn(5, 1, 10, generator=gen)
    grads = [torch.randn(5, 1, 10, generator=gen) for _ in range(60)]
    alone = _fused_run(w0[:1], grads, per_model=True)
    for m in range(2, 6):
        assert torch.equal(_fused_run(w0[:m], grads, per_model=True)[:1], alone)
    ref = w0[:1, 0].clone().requires_grad_()
    opt = torch.optim.Adam([ref], lr=0.1, betas=(0.9, 0.99), eps=1e-5)
    for g in grads:
        ref.grad = g[:1, 0].clone()
        opt.step()
    torch.testing.assert_close(alone[:, 0], ref.detach(), rtol=1e-5, atol=1e-6)
