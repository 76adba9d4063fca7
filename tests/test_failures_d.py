"""Tests of the failures atoms parity, linear-periodic, end-to-end-portfolio, flat-activations:
their data generators and numerics (exact values, brute-force and autograd cross-checks,
populations against models trained alone) and, in the claim tier, their verdicts."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from deepatoms.atoms.failures import end_to_end_portfolio as portfolio_atom
from deepatoms.atoms.failures import flat_activations as flat_atom
from deepatoms.atoms.failures import linear_periodic as lp_atom
from deepatoms.atoms.failures import parity as parity_atom
from deepatoms.data.parity import (ParityStream, all_sign_vectors, parity_labels,
                                   random_subset_mask, sign_inputs)
from deepatoms.data.periodic import GaussianStream, cosine_target, unit_directions
from deepatoms.data.portfolio import PortfolioStream, best_assets, sample_returns
from deepatoms.data.step_targets import (LEVEL_OFFSETS, FlatTask, jump_distance, levels,
                                         round_down, smooth_step)
from deepatoms.engine import MLPPop, train
from deepatoms.engine.gradient_gram import gradient_gram
from deepatoms.engine.scalar_head import forward_scalar
from deepatoms.engine.straight_through import straight_through
from deepatoms.engine.walsh import MAX_D, fwht, parity_gradient_variance
from deepatoms.errors import ParamError
from deepatoms.lab import Lab


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- parity: data and Walsh numerics

def test_sign_inputs_and_parity_labels():
    x = sign_inputs(gen(0), (200, 7))
    assert x.shape == (200, 7) and set(x.unique().tolist()) == {-1.0, 1.0}
    mask = torch.tensor([True, False, True, True, False, False, False])
    expected = x[:, 0] * x[:, 2] * x[:, 3]
    assert torch.equal(parity_labels(x, mask), expected)
    assert torch.equal(sign_inputs(gen(3), (5, 4)), sign_inputs(gen(3), (5, 4)))
    assert not torch.equal(sign_inputs(gen(3), (50, 4)), sign_inputs(gen(4), (50, 4)))


def test_random_subset_mask_size_and_errors():
    rng = np.random.default_rng(0)
    for d, k in ((5, 3), (10, 10), (30, 1)):
        mask = random_subset_mask(rng, d, k)
        assert mask.shape == (d,) and mask.sum() == k
    with pytest.raises(ParamError, match="subset_size"):
        random_subset_mask(rng, 4, 5)


def test_all_sign_vectors_rows_are_walsh_characters():
    d = 4
    x = all_sign_vectors(d)
    assert x.shape == (16, 4) and len({tuple(r) for r in x.tolist()}) == 16
    for s in range(16):
        mask = torch.tensor([(s >> i) & 1 == 1 for i in range(d)])
        chi = parity_labels(x, mask)
        expected = torch.tensor([(-1.0) ** bin(s & n).count("1") for n in range(16)], dtype=x.dtype)
        assert torch.equal(chi, expected)


def test_parity_stream_pads_and_labels():
    masks = [np.array([True, False, True]), np.array([False, True, True, True, False])]
    stream = ParityStream([gen(1), gen(2)], [3, 5], masks, batch=16, chunk=4)
    for _ in range(6):  # crosses a refill
        x, y = stream.next()
        assert x.shape == (2, 16, 5) and y.shape == (2, 16)
        assert torch.all(x[0, :, 3:] == 0)
        assert torch.equal(y[0], x[0, :, 0] * x[0, :, 2])
        assert torch.equal(y[1], x[1, :, 1] * x[1, :, 2] * x[1, :, 3])
    alone = ParityStream([gen(2)], [5], masks[1:], batch=16, chunk=4)
    again = ParityStream([gen(1), gen(2)], [3, 5], masks, batch=16, chunk=4)
    assert torch.equal(alone.next()[0][0], again.next()[0][1])  # model 1 draws what it would alone


def test_fwht_matches_hadamard_matrix():
    for d in range(1, 6):
        n = 2 ** d
        a = torch.randn(n, 3, generator=gen(d), dtype=torch.float64)
        h = torch.tensor([[(-1.0) ** bin(s & m).count("1") for m in range(n)] for s in range(n)],
                         dtype=torch.float64)
        assert torch.allclose(fwht(a), h @ a)
    with pytest.raises(ValueError):
        fwht(torch.zeros(6, 1))


def _brute_force_variance(w1, b1, w2, b2):
    """Var over all parities S of the full-batch hinge gradient, by autograd, one S at a time."""
    d = w1.shape[0]
    x = all_sign_vectors(d)
    grads = []
    for s in range(2 ** d):
        mask = torch.tensor([(s >> i) & 1 == 1 for i in range(d)])
        y = parity_labels(x, mask)
        ps = [t.detach().double().clone().requires_grad_() for t in (w1, b1, w2, b2)]
        p = torch.relu(x @ ps[0] + ps[1]) @ ps[2] + ps[3]
        g = torch.autograd.grad(torch.clamp(1 - y * p, min=0).mean(), ps)
        grads.append(torch.cat([t.reshape(-1) for t in g]))
    g = torch.stack(grads)
    return float(((g - g.mean(0)) ** 2).sum(1).mean())


@pytest.mark.parametrize("d", [2, 3, 4, 5])
def test_parity_gradient_variance_matches_brute_force(d):
    g = gen(10 + d)
    h = 3 * d
    w1 = torch.randn(d, h, generator=g) / math.sqrt(d)
    b1 = 0.3 * torch.randn(h, generator=g)
    w2 = 2 * torch.randn(h, generator=g) / math.sqrt(h)  # outputs beyond ±1: hinge inactive somewhere
    var, g2 = parity_gradient_variance(w1, b1, w2, torch.tensor(0.2))
    assert var == pytest.approx(_brute_force_variance(w1, b1, w2, torch.tensor(0.2)), rel=1e-10)
    x = all_sign_vectors(d)
    jac = torch.cat([(x.unsqueeze(2) * ((x @ w1.double() + b1.double()) > 0).double().unsqueeze(1)
                      * w2.double()).reshape(2 ** d, -1),
                     ((x @ w1.double() + b1.double()) > 0).double() * w2.double(),
                     torch.relu(x @ w1.double() + b1.double()), torch.ones(2 ** d, 1, dtype=torch.float64)], 1)
    assert g2 == pytest.approx(float((jac ** 2).sum(1).mean()), rel=1e-12)
    assert var <= g2 / 2 ** d  # Theorem 1


def test_parity_gradient_variance_parseval_identity():
    """Var = E‖φ‖²/2^d − ‖φ(1,…,1)‖²/4^d with φ = β·J (Parseval + Σ_S χ_S(x) = 2^d·1[x = 1])."""
    d, h = 6, 12
    g = gen(99)
    w1, b1, w2 = torch.randn(d, h, generator=g) / 2, torch.randn(h, generator=g), torch.randn(h, generator=g)
    var, _ = parity_gradient_variance(w1, b1, w2, torch.tensor(0.0))
    x = all_sign_vectors(d)
    z = x @ w1.double() + b1.double()
    p = torch.relu(z) @ w2.double()
    beta = (((p < 1).double() + (p > -1).double()) / 2).unsqueeze(1)
    gate = (z > 0).double() * w2.double()
    jac = torch.cat([(x.unsqueeze(2) * gate.unsqueeze(1)).reshape(2 ** d, -1), gate, torch.relu(z),
                     torch.ones(2 ** d, 1, dtype=torch.float64)], 1)
    phi = beta * jac
    expected = float((phi ** 2).sum(1).mean()) / 2 ** d - float((phi[0] ** 2).sum()) / 4 ** d
    assert var == pytest.approx(expected, rel=1e-10)


def test_parity_variance_limit_is_a_param_error():
    with pytest.raises(ParamError, match=f"allowed d <= {MAX_D}"):
        parity_gradient_variance(torch.zeros(MAX_D + 1, 2), torch.zeros(2), torch.zeros(2), 0.0)
    with pytest.raises(ParamError, match=f"variance_dims.*allowed d <= {MAX_D}"):
        parity_atom.ATOM.params(variance_dims=(4, 20))
    with pytest.raises(ParamError, match="subset_size"):
        parity_atom.ATOM.params(dims=(5, 10), subset_size=6)


def test_parity_groups_pad_only_when_cheap():
    assert parity_atom._groups((5, 10, 30)) == [[5, 10], [30]]
    assert parity_atom._groups((30,)) == [[30]]


def test_parity_padded_population_matches_models_trained_alone():
    p = parity_atom.ATOM.params(dims=(3, 5), steps=60, eval_every=20, eval_samples=400,
                                variance_dims=(2,))
    lab = Lab([0, 1])
    together = pd.DataFrame(parity_atom._train_group(p, lab, [3, 5]))
    alone = pd.concat([pd.DataFrame(parity_atom._train_group(p, lab, [d])) for d in (3, 5)])
    key = ["seed", "d", "step"]
    merged = together.merge(alone, on=key + ["metric"])
    assert len(merged) == len(together) == len(alone)
    assert np.allclose(merged.value_x, merged.value_y, atol=1 / 400 + 1e-9)


# ------------------------------------------------------------- shared engine pieces

def test_forward_scalar_equals_population_forward():
    pop = MLPPop([(3, 7, 5, 1), (2, 4, 5, 1)], [gen(0), gen(1)], init="trunc_normal",
                 bias_init="normal:0.3")
    x = torch.randn(2, 9, 3, generator=gen(2))
    x[1, :, 2] = 0
    assert torch.allclose(forward_scalar(pop, x), pop(x)[..., 0], atol=1e-6)
    assert torch.allclose(forward_scalar(pop, x[0]), pop(x[0])[..., 0], atol=1e-6)


def test_gradient_gram_matches_explicit_per_sample_gradients():
    pop = MLPPop([(3, 7, 5, 1), (2, 4, 5, 1)], [gen(3), gen(4)], init="trunc_normal",
                 bias_init="normal:0.3")
    x = torch.randn(2, 6, 3, generator=gen(5))
    x[1, :, 2] = 0  # model 1 has 2 inputs (zero-padded)
    gram = gradient_gram(pop, x)
    for m in range(2):
        rows = []
        for i in range(6):
            grads = torch.autograd.grad(forward_scalar(pop, x)[m, i], pop.params)
            rows.append(torch.cat([g[m].reshape(-1) for g in grads]).double())
        jac = torch.stack(rows)
        assert torch.allclose(gram[m], jac @ jac.T, atol=1e-5)


def test_straight_through_forward_value_identity_gradient():
    r = torch.tensor([0.05, 0.12, -0.3, 0.16], requires_grad=True)
    lv = torch.tensor([[-0.2, 0.0, 0.1, 0.15]]).expand(1, 4)
    out = straight_through(lambda t, lvl: round_down(t.unsqueeze(0), lvl)[0][0], r, lv)
    assert torch.allclose(out, torch.tensor([0.0, 0.1, -0.2, 0.15]))
    (out * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert torch.equal(r.grad, torch.tensor([1.0, 2.0, 3.0, 4.0]))


# ------------------------------------------------------------- linear-periodic

def test_unit_directions_and_gaussian_stream():
    u = unit_directions(gen(0), 50, 30)
    assert u.shape == (50, 30) and torch.allclose(u.norm(dim=1), torch.ones(50))
    assert torch.allclose(cosine_target(torch.tensor([0.0, math.pi / 4]), 2.0), torch.tensor([1.0, 0.0]),
                          atol=1e-6)
    both = GaussianStream([gen(1), gen(2)], 4, batch=8, chunk=3)
    alone = GaussianStream([gen(2)], 4, batch=8, chunk=3)
    for _ in range(5):
        x2, x1 = both.next(), alone.next()
        assert x2.shape == (2, 8, 4) and torch.equal(x2[1], x1[0])
    big = GaussianStream([gen(7)], 3, batch=20000).next()
    assert abs(float(big.std()) - 1) < 0.02 and abs(float(big.mean())) < 0.02


def test_learning_batch_oracle_sees_only_the_projection():
    p = lp_atom.ATOM.params(d=6, learn_freqs=(2.0,), hidden=(4,))
    task = lp_atom._Learning(p, Lab([0]))
    x = torch.randn(1, 5, 6, generator=gen(3))
    xin, y = task.batch(x)
    z = x[0] @ task.u[0]
    assert torch.equal(xin[0], x[0])
    assert torch.allclose(xin[1, :, 0], z) and torch.all(xin[1, :, 1:] == 0)
    assert torch.allclose(y[0], torch.cos(2.0 * z)) and torch.equal(y[0], y[1])


def _explicit_variance(p, lab, d, r):
    """Var_u ‖(1/n) Σ_i ỹ_iu ∂p(x_i)‖² from explicit per-sample gradients (seed lab.seeds[0])."""
    s, n = lab.seeds[0], p.variance_samples
    pop = MLPPop([(d, *p.hidden, 1)], [lab.torch_generator(s, "variance-init", d)],
                 init="trunc_normal", bias_init="zeros")
    x = torch.randn(n, d, generator=lab.torch_generator(s, "variance-x", d))
    u = unit_directions(lab.torch_generator(s, "variance-u", d), p.directions, d)
    jac = torch.stack([torch.cat([g[0].reshape(-1) for g in
                                  torch.autograd.grad(forward_scalar(pop, x[i:i + 1])[0, 0], pop.params)])
                       for i in range(n)]).double()
    y = torch.cos(r * (x @ u.T)).double()
    y = y - y.mean(1, keepdim=True)
    return float(((jac.T @ y / n) ** 2).sum(0).mean())


def test_variance_rows_match_explicit_gradients_and_vanish_for_even_targets():
    p = lp_atom.ATOM.params(hidden=(5, 4), variance_samples=24, directions=7, variance_freqs=(0.7, 3.0))
    lab = Lab([4])
    rows = pd.DataFrame(lp_atom._variance_rows(p, lab, 3))
    for r in (0.7, 3.0):
        got = rows[(rows.r == r) & (rows.metric == "grad_variance")].value.item()
        assert got == pytest.approx(_explicit_variance(p, lab, 3, r), rel=1e-4)
    floor = rows[rows.metric == "sampling_floor"].value
    assert (floor > 0).all()
    # d = 1: u = ±1 and cos is even, so every direction gives the same gradient
    one = pd.DataFrame(lp_atom._variance_rows(p, lab, 1))
    v = one[one.metric == "grad_variance"].value.abs()
    assert (v < 1e-12 * one[one.metric == "grad_second_moment"].value.to_numpy()).all()


def test_linear_periodic_param_errors():
    with pytest.raises(ParamError, match="variance_samples"):
        lp_atom.ATOM.params(variance_samples=100_000)
    with pytest.raises(ParamError, match="learn_freqs"):
        lp_atom.ATOM.params(learn_freqs=(0.0,))


# ------------------------------------------------------------- end-to-end portfolio

def test_best_assets_and_returns():
    best = best_assets(gen(0), 1000, 7)
    assert best.shape == (1000,) and int(best.min()) == 0 and int(best.max()) == 6
    z = sample_returns(gen(1), best, 7)
    assert z.shape == (1000, 7) and set(z.unique().tolist()) == {-1.0, 1.0}
    assert torch.all(z[torch.arange(1000), best] == 1)
    others = z.masked_fill(torch.nn.functional.one_hot(best, 7).bool(), 0.0)
    assert abs(float(others.sum()) / (1000 * 6)) < 0.05  # the rest are ±1 with mean 0


def test_portfolio_stream_is_seeded_per_task():
    bests = [best_assets(gen(s), 20, 5) for s in (0, 1)]
    a = PortfolioStream([gen(2), gen(3)], bests, 5, batch=6)
    b = PortfolioStream([gen(3)], bests[1:], 5, batch=6)
    j, y, z = a.next()
    jb, yb, zb = b.next()
    assert torch.equal(j[1], jb[0]) and torch.equal(z[1], zb[0])
    assert torch.equal(y[0], bests[0][j[0]])
    assert torch.all(z[0][torch.arange(6), y[0]] == 1)


def test_portfolio_second_moments_closed_form_vs_monte_carlo():
    d, k = 3, 5
    w = torch.randn(1, d, k, generator=gen(0))
    b = 0.5 * torch.randn(1, 1, k, generator=gen(1))
    best = torch.tensor([[1, 4, 0]])
    exact = portfolio_atom._second_moments(w, b, best)[0]
    n = 40000
    j = torch.randint(0, d, (n,), generator=gen(2))
    z = sample_returns(gen(3), best[0][j], k)
    logits = (w[0][j] + b[0]).requires_grad_()
    prob = torch.softmax(logits, -1)
    g_e2e, = torch.autograd.grad(-(z * prob).sum(), logits, retain_graph=True)
    g_dec, = torch.autograd.grad(-prob.gather(1, best[0][j].unsqueeze(1)).sum(), logits)
    e2e = 2 * (g_e2e ** 2).sum(1).mean()  # the row of w and the bias get the same gradient
    dec = 2 * (g_dec ** 2).sum(1).mean()
    assert float(e2e) == pytest.approx(float(exact[0]), rel=0.02)
    assert float(dec) == pytest.approx(float(exact[1]), rel=1e-5)


def test_portfolio_population_matches_model_trained_alone():
    """Stacked models with sparse row gradients and one fused Adam = each model with plain Adam."""
    p = portfolio_atom.ATOM.params(d=30, ks=(6,), steps=25, batch_size=8)
    lab = Lab([0, 1])
    group = portfolio_atom._Group(p, lab, 6)
    w0 = group.w.detach().clone()
    best = group.best.clone()
    train([group.w, group.b], group.loss, group.opt, p.steps, sampler=group.stream)
    for i, (s, method) in enumerate(group.members):
        w = w0[i].clone().requires_grad_()
        bias = torch.zeros(1, 6, requires_grad=True)
        opt = torch.optim.Adam([w, bias], lr=p.lr, betas=(0.9, 0.99), eps=1e-5)
        g = lab.torch_generator(s, "data", 6)
        for _ in range(p.steps):
            j = torch.randint(0, p.d, (p.batch_size,), generator=g)
            z = sample_returns(g, best[i][j], 6)
            prob = torch.softmax(w[j] + bias, -1)
            ret = (z * prob).sum(-1) if method == "end-to-end" else prob.gather(1, best[i][j][:, None])[:, 0]
            opt.zero_grad()
            (-ret.mean()).backward()
            opt.step()
        assert torch.allclose(group.w[i].detach(), w.detach(), atol=1e-5)
        assert torch.allclose(group.b[i].detach(), bias.detach(), atol=1e-5)


def test_portfolio_expected_loss_is_mean_best_probability():
    w = torch.zeros(1, 4, 3)
    w[0, 0, 2] = math.log(3.0)  # input 0: p = (1/5, 1/5, 3/5)
    best = torch.tensor([[2, 0, 1, 1]])
    loss = portfolio_atom._expected_loss(w, torch.zeros(1, 1, 3), best)
    assert float(loss) == pytest.approx(-(0.6 + 1 / 3 * 3) / 4)


# ------------------------------------------------------------- flat activations

def test_levels_round_down_and_jump_distance():
    assert len(LEVEL_OFFSETS) == 52 and list(LEVEL_OFFSETS) == sorted(LEVEL_OFFSETS)
    lv = levels(torch.tensor([0.5]))
    r = torch.tensor([[0.5, 0.55, 0.62, 0.3, 0.29, 0.68, 1.4, 1.6, -200.0, 96.0]])
    y, cls = round_down(r, lv)
    expected = torch.tensor([[0.5, 0.5, 0.6, 0.3, -0.5, 0.675, 0.675, 1.5, -99.5, 95.5]])
    assert torch.allclose(y, expected)
    assert torch.allclose(lv[0, cls[0]], y[0])
    assert torch.allclose(jump_distance(torch.tensor([[0.52, 0.66]]), lv), torch.tensor([[0.02, 0.01]]),
                          atol=1e-6)


def test_smooth_step_approximates_round_down_away_from_jumps():
    lv = levels(torch.tensor([0.0], dtype=torch.float64))
    r = torch.linspace(-0.5, 0.5, 2001, dtype=torch.float64).unsqueeze(0)
    smooth = smooth_step(r, lv)
    assert torch.all(smooth[0, 1:] >= smooth[0, :-1])  # monotone
    mid = torch.tensor([[-0.6, -0.1, 0.05, 0.5]], dtype=torch.float64)  # mid-plateau points
    assert torch.allclose(smooth_step(mid, lv), round_down(mid, lv)[0], atol=1e-3)
    assert float(smooth_step(torch.tensor([[-0.2]], dtype=torch.float64), lv)) > -0.3  # past the centre


def test_flat_task_shapes_scale_and_determinism():
    task = FlatTask([gen(0), gen(1)])
    batch = task.draw([gen(2), gen(3)], 5000)
    assert batch["x"].shape == (2, 5000, 100) and batch["y"].shape == (2, 5000)
    assert abs(float(batch["x"].std()) - 0.01) < 2e-4
    spread = batch["r"].std(dim=1) / (0.01 * task.v.norm(dim=1))
    assert torch.allclose(spread, torch.ones(2), atol=0.05)
    assert torch.allclose(batch["r"], torch.bmm(batch["x"], task.v.unsqueeze(2))[..., 0] + task.b[:, None])
    again = FlatTask([gen(0), gen(1)]).draw([gen(2), gen(3)], 5000)
    assert torch.equal(again["y"], batch["y"])
    second = FlatTask([gen(1)]).draw([gen(3)], 5000)  # target 1 drawn alone: the same, bitwise
    assert all(torch.equal(second[k][0], batch[k][1]) for k in ("x", "r", "y", "cls"))


def test_flat_non_flat_variants_share_data_and_train_like_alone():
    p = flat_atom.ATOM.params(methods=("non-flat", "non-flat-b0"), steps=30, eval_every=10,
                              test_samples=200, plot_samples=5)
    lab = Lab([0, 1])
    both = flat_atom.run(p, lab)
    alone = flat_atom.run(flat_atom.ATOM.params(methods=("non-flat-b0", "forward-only"), steps=30,
                                                forward_only_steps=5, eval_every=10, test_samples=200,
                                                plot_samples=5), lab)
    key = ["seed", "method", "step", "metric", "r"]
    a = both[both.method == "non-flat-b0"].sort_values(key).value.to_numpy()
    b = alone[alone.method == "non-flat-b0"].sort_values(key).value.to_numpy()
    assert np.allclose(a, b, rtol=1e-5, atol=1e-7)


def test_flat_param_errors():
    with pytest.raises(ParamError, match="methods"):
        flat_atom.ATOM.params(methods=("backprop-magic", "forward-only"))
    with pytest.raises(ParamError, match="methods.*two distinct"):
        flat_atom.ATOM.params(methods=("forward-only",))
    with pytest.raises(ParamError, match="dims.*repeat"):
        parity_atom.ATOM.params(dims=(5, 5))
    with pytest.raises(ParamError, match="ks"):
        portfolio_atom.ATOM.params(ks=(1,))


# ------------------------------------------------------------- claims (default configuration)

@pytest.mark.claim
@pytest.mark.parametrize("name,status", [
    ("parity", "reproduced"),
    ("linear-periodic", "reproduced"),
    ("end-to-end-portfolio", "reproduced"),
    ("flat-activations", "reproduced"),
])
def test_claim_default(name, status):
    from deepatoms.runner import execute, parse_seeds
    atom = {"parity": parity_atom, "linear-periodic": lp_atom, "end-to-end-portfolio": portfolio_atom,
            "flat-activations": flat_atom}[name].ATOM
    outcome = execute(atom, atom.params(), parse_seeds(None, atom.default_seeds), device="cpu")
    assert outcome.verdict.status == status, outcome.verdict.finding


# ------------------------------------------------------------- judges on hand-made tables (issue 6)

def _parity_table(curves: dict, steps: int = 20_000, every: int = 500, batch: int = 128,
                  lr: float = 0.01) -> pd.DataFrame:
    """curves: d -> per seed, the step at which accuracy jumps from `low` to `high` (None: never),
    as (jump_step, low, high) tuples."""
    rows = []
    for d, per_seed in curves.items():
        for s, (jump, low, high) in enumerate(per_seed):
            for st in range(0, steps + 1, every):
                acc = high if jump is not None and st >= jump else low
                rows.append(dict(seed=s, d=d, step=st, metric="test_accuracy", value=acc + 0.001 * s))
    for s in range(len(next(iter(curves.values())))):
        rows += [dict(seed=s, d=np.nan, step=0, metric="batch_size", value=float(batch)),
                 dict(seed=s, d=np.nan, step=0, metric="lr", value=lr)]
        for d in (2, 3, 4, 5):  # log2(Var/G²) = −d − 0.5 (slope −1), jittered per seed
            rows += [dict(seed=s, d=d, step=0, metric="grad_variance", value=2.0 ** (-d - 0.5 - 0.01 * s)),
                     dict(seed=s, d=d, step=0, metric="grad_second_moment", value=1.0)]
    return pd.DataFrame(rows)


def test_parity_learnability_limits_follow_the_budget():
    learned, chance = parity_atom.learnability_limits(20_000, 128, 0.01)
    assert chance == pytest.approx(math.log2(20_000 * 128)) and learned == pytest.approx(chance - 10.5)
    assert 10 < learned < 11 and 21 < chance < 22  # the paper's d = 10 learned, d = 30 at chance
    assert parity_atom.learnability_limits(50_000, 128, 0.01)[0] > 12
    assert parity_atom.learnability_limits(1000, 128, 0.01)[0] == -math.inf  # too few steps for any d
    assert parity_atom.learnability_limits(1000, 128, 0.05)[0] > 6


def test_parity_judge_covers_every_d_by_the_limits():
    """dims = 8, 12, 28 at 20,000 steps: d = 8 learned, d = 28 at chance, d = 12 between the
    limits (an undecided row that still reports what was measured)."""
    six = lambda jump, low, high: [(jump, low, high)] * 6  # noqa: E731
    table = _parity_table({8: six(2000, 0.5, 0.99), 12: six(6000, 0.5, 0.99), 28: six(None, 0.5, 0.5)})
    verdict = parity_atom.judge(table)
    rows = {e.setting: e for e in verdict.evidence if not e.setting.endswith("*")}
    assert set(rows) == {"d=8", "d=12", "d=28"}
    assert rows["d=8"].supports is True and rows["d=28"].supports is True
    assert rows["d=12"].supports is None and "neither" in rows["d=12"].note
    assert rows["d=12"].estimate == pytest.approx(0.9925, abs=1e-9)
    assert verdict.status == "inconclusive"
    assert "learned for d ≤ 10.8, chance for d ≥ 21.3" in verdict.finding
    # a d below the limit that was not learned contradicts; one above it that escaped, too
    bad = parity_atom.judge(_parity_table({10: six(None, 0.6, 0.6), 30: six(3000, 0.5, 0.9)}))
    decided = {e.setting: e.supports for e in bad.evidence if "test accuracy" in e.metric}
    assert decided == {"d=10": False, "d=30": False} and bad.status == "not reproduced"


def test_parity_plateau_never_reached_is_a_lower_bound():
    """d = 10: a seed that never reaches 75 % gives a lower bound (≥ the last step), not a time."""
    table = _parity_table({10: [(5000, 0.5, 0.99), (6000, 0.5, 0.99), (None, 0.5, 0.6)]})
    plateau = next(e for e in parity_atom.judge(table).evidence if "first step" in e.metric)
    assert plateau.supports is None and "censored in 1 of 3" in plateau.note and "≥ 2e+04" in plateau.note
    reached = _parity_table({10: [(5000, 0.5, 0.99), (6000, 0.5, 0.99), (7000, 0.5, 0.99)]})
    plateau = next(e for e in parity_atom.judge(reached).evidence if "first step" in e.metric)
    assert plateau.supports is True and plateau.note == ""


def test_flat_level_errors_snap_to_the_nearest_level():
    lv = levels(torch.tensor([0.0, 1.0]))
    r = torch.tensor([[0.05, 0.12, 0.16, 0.5], [1.05, 1.12, 1.16, 1.5]])
    y, cls = round_down(r, lv)
    pred = torch.stack([y[0], y[1] + torch.tensor([0.0, 0.02, -0.03, 0.6])])  # 2nd seed: 2 off
    assert flat_atom.level_errors(pred, cls, lv).tolist() == [0.0, 2.0]
    near = torch.tensor([[True, False, True, False]] * 2)
    assert flat_atom.level_errors(pred, cls, lv, near).tolist() == [0.0, 1.0]


def _flat_table(errors: dict, n: int = 4000, evals: int = 7) -> pd.DataFrame:
    """errors: method -> per-seed level-error counts (last evaluations); near-jump errors are
    half of them on 10 % of the points."""
    rows = []
    n_seeds = len(next(iter(errors.values())))
    for s in range(n_seeds):
        rows += [dict(seed=s, method="target", step=0, r=np.nan, metric=m, value=v)
                 for m, v in (("b_star", 0.1 * s), ("test_samples", n), ("near_jump_points", n / 10))]
    for m, per_seed in errors.items():
        for s, e in enumerate(per_seed):
            for i in range(evals):
                noise = (-1) ** i * 2.0  # the last evaluations wobble around e
                for metric, v in (("level_errors", e + noise), ("level_errors_near_jump", (e + noise) / 2),
                                  ("level_errors_far_from_jump", (e + noise) / 2),
                                  ("test_nmse", 0.01 * e)):
                    rows.append(dict(seed=s, method=m, step=500 * i, r=np.nan, metric=metric, value=v))
            for metric, v in (("cos_w_v", 0.999), ("bias_error", 0.001 * (s + 1))):
                if m == "forward-only":
                    rows.append(dict(seed=s, method=m, step=500 * (evals - 1), r=np.nan, metric=metric, value=v))
    return pd.DataFrame(rows)


def test_flat_judge_compares_paired_level_errors():
    """The audit's counts (forward-only 34, 21, 19 vs multiclass 36, 64, 62) on 3 seeds are not
    enough for a paired t interval; 5 seeds with the same pattern are."""
    three = flat_atom.judge(_flat_table({"multiclass": [36, 64, 62], "forward-only": [34, 21, 19]}))
    row = next(e for e in three.evidence if e.setting == "method=multiclass" and "level errors" in e.metric)
    assert row.estimate == pytest.approx(29.33, abs=0.01) and row.supports is None
    five = flat_atom.judge(_flat_table({"multiclass": [36, 64, 62, 50, 58],
                                        "forward-only": [34, 21, 19, 25, 22]}))
    row = next(e for e in five.evidence if e.setting == "method=multiclass" and "level errors" in e.metric)
    assert row.supports is True
    blurry = next(e for e in five.evidence if "near jumps" in e.metric)
    assert blurry.supports is True  # half the errors on a tenth of the points
    assert "accuracy 0.99" in five.finding and "cos(w, v*) 0.9990" in five.finding


def test_portfolio_judge_ratio_within_ten_percent_and_paired_gap():
    rows = []
    for s in range(3):
        for k, ratio in ((10, 10.2 + 0.1 * s), (1000, 1150.0 + s)):
            rows += [dict(seed=s, k=k, method="end-to-end", step=0, metric="grad_second_moment", value=ratio),
                     dict(seed=s, k=k, method="decomposition", step=0, metric="grad_second_moment", value=1.0)]
            for st in range(0, 2501, 50):
                dec = -1.0 + 0.001 * s if st >= 200 else -0.1
                e2e = (-0.99 - 0.002 * s if st >= 300 else -0.1) if k == 10 else -0.3 - 0.01 * s
                rows += [dict(seed=s, k=k, method="decomposition", step=st, metric="expected_loss", value=dec),
                         dict(seed=s, k=k, method="end-to-end", step=st, metric="expected_loss", value=e2e)]
    verdict = portfolio_atom.judge(pd.DataFrame(rows))
    by = {(e.setting, e.metric.split(": ", 1)[1]): e for e in verdict.evidence}
    assert by[("k=10", "|second-moment ratio / k − 1|")].supports is True
    assert by[("k=1000", "|second-moment ratio / k − 1|")].supports is False  # 15 % off
    gap = by[("k=1000", "final expected loss, end-to-end − decomposition")]
    assert gap.estimate == pytest.approx(0.689, abs=1e-9) and gap.supports is True
    assert by[("k=10", "end-to-end expected loss at step 500")].supports is True
    assert verdict.status == "not reproduced"  # the k = 1000 ratio
