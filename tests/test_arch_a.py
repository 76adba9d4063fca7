"""Architecture atoms fixup, lightweight-convolution and tensor-calculus-hessians: their pieces
against closed forms and references, and claim tests."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import sympy
import torch

import deepatoms
from deepatoms import registry
from deepatoms.atoms.architecture import _tensor_calculus_hessians_einsum as ec
from deepatoms.atoms.architecture import _tensor_calculus_hessians_methods as hs
from deepatoms.atoms.architecture._timing import timed
from deepatoms.atoms.architecture._fixup_training import Grouped, log10_output_scale
from deepatoms.atoms.architecture._lightweight_convolution_mixers import MIXERS, MixerPop, mix
from deepatoms.atoms.architecture._fixup_resnets import ResMLPPop
from deepatoms.data.markov_sequences import markov_task
from deepatoms.engine import SGD
from deepatoms.errors import ParamError


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- tensor calculus -------------------------------------------------------------------------

def test_quadratic_hessian_derives_to_a_plus_a_transpose():
    assert ec.einsum_text(hs.hessian_expr("quadratic")) == "1·A[ij] + 1·A[ji]"


def test_factorisation_hessian_is_two_delta_vtv():
    assert ec.einsum_text(hs.hessian_expr("factorisation")) == "2·δ[ik]·V[bl]·V[bj]"


@pytest.mark.parametrize("function", hs.FUNCTIONS)
def test_symbolic_hessian_equals_torch_func_hessian_in_float64(function):
    var, env = hs.problem(function, 7, _gen(1), rank=2, cols=3)
    env = {k: v.double() for k, v in env.items()}
    reference = hs.compute("functorch", function, var, env)
    got = hs.symbolic(function, var, env)
    assert got.shape == reference.shape
    torch.testing.assert_close(got, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("function", hs.FUNCTIONS)
def test_three_methods_agree(function):
    var, env = hs.problem(function, 6, _gen(2), rank=2, cols=3)
    out = [hs.compute(m, function, var, env) for m in hs.METHODS]
    for h in out[1:]:
        torch.testing.assert_close(h, out[0], rtol=1e-5, atol=1e-5)


def test_first_derivative_of_logistic_loss_is_the_gradient():
    var, env = hs.problem("logistic", 5, _gen(3), 1, 1)
    env = {k: v.double() for k, v in env.items()}
    z = ec.Expr("k", ((1.0, (ec.T("y", "k"), ec.T("X", "ki"), ec.T("w", "i"))),))
    f = ec.Expr("", ((1.0, (ec.Fn(sympy.log(1 + sympy.exp(-ec.Z)), z),)),))
    grad = ec.evaluate(ec.d(f, "w", "p"), env)
    torch.testing.assert_close(grad, torch.func.grad(hs.objective("logistic", env))(env["w"]))


def test_delta_between_output_indices_is_kept_and_trace_is_refused():
    e = ec.Expr("a", ((1.0, (ec.T("x", "a"),)),))
    assert ec.einsum_text(ec.d(e, "x", "b")) == "1·δ[ab]"
    with pytest.raises(ValueError, match="trace"):
        ec._contract_deltas("", 1.0, (ec.Delta("a", "a"),))


def test_timed_keeps_the_best_and_respects_the_budget():
    calls = []
    seconds, out = timed(lambda: calls.append(1) or torch.ones(1), torch.device("cpu"), 5, 1e9)
    assert len(calls) == 5 and seconds >= 0 and out.item() == 1
    calls.clear()
    timed(lambda: calls.append(1) or sum(range(200_000)), torch.device("cpu"), 5, 0.0)
    assert len(calls) == 1
    assert torch.get_num_threads() >= 1


def test_speedup_function_for_the_bench():
    from deepatoms.atoms.architecture import tensor_calculus_hessians as tc
    out = tc.speedup_at_largest_n(preset="quick")
    assert set(out) == set(hs.FUNCTIONS) and all(v > 0 for v in out.values())


# --- lightweight convolution -------------------------------------------------------------------

def test_markov_oracle_is_the_mean_negative_log_likelihood():
    task = markov_task(np.random.default_rng(0), 5, 0.5, 20, 30, 40)
    x = task.test
    direct = np.mean([-math.log(task.table[s[t - 2], s[t - 1], s[t]]) for s in x
                      for t in range(2, x.shape[1])])
    assert task.oracle_loss() == pytest.approx(direct)
    assert task.train.shape == (30, 20) and task.table.sum(-1) == pytest.approx(1.0)


@pytest.mark.parametrize("mixer", MIXERS)
def test_mixers_are_causal(mixer):
    pop = MixerPop(mixer, [_gen(4)], vocab=5, d=8, heads=2, kernel=3)
    u = torch.randn(1, 2, 10, 8, generator=_gen(5), requires_grad=True)
    out = mix(mixer, pop.tensors, u, 2, 3)
    (g,) = torch.autograd.grad(out[0, :, 4].sum(), u)
    assert g[0, :, 5:].abs().max() == 0 and g[0, :, 4].abs().max() > 0


def test_light_conv_kernel_at_init_averages_the_last_k_positions():
    pop = MixerPop("light", [_gen(6)], vocab=5, d=4, heads=2, kernel=2)
    p = dict(pop.tensors)
    with torch.no_grad():
        # identity projections and a GLU that passes its first half (sigmoid(large) = 1)
        p["win"] = torch.cat([torch.eye(4), torch.zeros(4, 4)], 1).unsqueeze(0)
        p["win_b"] = torch.cat([torch.zeros(4), torch.full((4,), 50.0)]).unsqueeze(0)
        p["wo"], p["wo_b"] = torch.eye(4).unsqueeze(0), torch.zeros(1, 4)
    u = torch.randn(1, 1, 6, 4, generator=_gen(7))
    out = mix("light", p, u, heads=2, kernel=2)
    expected = 0.5 * (u + torch.cat([torch.zeros(1, 1, 1, 4), u[:, :, :-1]], 2))
    torch.testing.assert_close(out, expected)


def test_convolutions_have_fewer_parameters_than_attention():
    counts = {m: MixerPop(m, [_gen(0)], 8, 32, 4, 4).n_params() for m in MIXERS}
    assert counts["light"] < counts["dynamic"] < counts["attention"]
    assert counts["attention"] - counts["light"] == 32 * 32 + 32 - 16  # one d×d projection, − H·K


def test_mixer_population_member_equals_the_model_alone():
    gens = [_gen(8), _gen(9)]
    both = MixerPop("dynamic", gens, 6, 8, 2, 3)
    alone = MixerPop("dynamic", [_gen(9)], 6, 8, 2, 3)
    tokens = torch.randint(0, 6, (2, 3, 7), generator=_gen(10))
    assert torch.equal(both(tokens)[1], alone(tokens[1:])[0])


def test_lightweight_convolution_params_checked():
    atom = registry.get("lightweight-convolution")
    with pytest.raises(ParamError, match="width"):
        atom.params(width=30, heads=4)


# --- fixup -------------------------------------------------------------------------------------

def test_fixup_init_zero_branches_and_classifier():
    pop = ResMLPPop("fixup", 50, 16, [_gen(11)])
    t = pop.tensors
    assert t["w2"].abs().max() == 0 and t["w_out"].abs().max() == 0
    std = t["w1"].std().item()
    assert std == pytest.approx(math.sqrt(2 / 16) / math.sqrt(50), rel=0.05)
    x = torch.randn(1, 20, 64, generator=_gen(12))
    with torch.no_grad():
        h = pop.stem(t, x)
        out = h
        for l in range(pop.depth):
            out = pop.block(t, out, l)
        assert torch.equal(out, h) and pop(x).abs().max() == 0


def test_renormalised_output_scale_is_exact_for_the_standard_net():
    pop = ResMLPPop("standard", 12, 8, [_gen(13)])
    x = torch.randn(30, 64, generator=_gen(14))
    t = {k: v.detach().double() for k, v in pop.tensors.items()}
    h0 = pop.stem(t, x.double().unsqueeze(0))
    h = h0
    for l in range(pop.depth):
        h = pop.block(t, h, l, update=False)
    direct = math.log10(h.square().mean().sqrt().item() / h0.square().mean().sqrt().item())
    assert log10_output_scale(pop, x)[0] == pytest.approx(direct, rel=1e-9)


def test_fixup_scalars_get_the_smaller_learning_rate():
    pop = ResMLPPop("fixup", 2, 4, [_gen(15)])
    weights, scalars = pop.groups()
    for p in weights + scalars:
        p.grad = torch.ones_like(p)
    before = {id(p): p.detach().clone() for p in weights + scalars}
    Grouped(SGD(weights, lr=0.1), SGD(scalars, lr=0.01)).step()
    assert all(torch.allclose(before[id(p)] - p.detach(), torch.full_like(p, 0.1)) for p in weights)
    assert all(torch.allclose(before[id(p)] - p.detach(), torch.full_like(p, 0.01)) for p in scalars)


def test_batchnorm_population_member_equals_alone():
    both = ResMLPPop("batchnorm", 3, 8, [_gen(16), _gen(17)])
    alone = ResMLPPop("batchnorm", 3, 8, [_gen(17)])
    x = torch.randn(2, 10, 64, generator=_gen(18))
    assert torch.equal(both(x)[1], alone(x[1:])[0])
    assert torch.equal(both.running["var2"][1], alone.running["var2"][0])


# --- the timing mechanism ------------------------------------------------------------------------

def test_timing_metrics_must_be_a_tuple_of_names():
    atom = registry.get("tensor-calculus-hessians")
    assert set(atom.timing_metrics) == {"seconds_rowwise", "seconds_functorch", "seconds_symbolic"}
    with pytest.raises(ValueError, match="timing_metrics"):
        dataclasses.replace(atom, timing_metrics=["seconds_rowwise"])


# --- claims --------------------------------------------------------------------------------------

@pytest.mark.claim
def test_claim_fixup():
    """Measured (5 seeds, width 16, one epoch = 19 SGD steps at lr 0.05, batch 64): standard
    init fails at every depth (output scale 10^1.6 / 10^17 / 10^164 × at L = 10 / 100 / 1,000,
    loss NaN, accuracy 0.10); Fixup trains at every depth (0.71 / 0.68 / 0.66); batch norm only
    at L = 10 (0.52 / 0.28 / 0.12): the BN half of the claim is not reproduced here."""
    out = deepatoms.run("fixup", seeds=5, device="cpu")
    assert out.verdict.status == "not reproduced"
    by = {e.metric: e for e in out.verdict.evidence}
    assert by["standard, L=1000: training fails (NaN loss or accuracy < 0.2)"].supports is True
    assert by["standard: log10 output scale at init vs depth"].supports is True
    for depth in (10, 100, 1000):
        assert by[f"fixup, L={depth}: first-epoch test accuracy"].supports is True
    assert by["batchnorm, L=1000: first-epoch test accuracy"].supports is False


@pytest.mark.claim
def test_claim_lightweight_convolution():
    """Measured (5 seeds): excess loss over the source entropy attention 0.218, light 0.053,
    dynamic 0.039 nats with 8,936 / 7,896 / 8,408 parameters; time-vs-length slopes 2.44
    (attention), 1.01 (light), 0.77 (dynamic). Reproduced. CI once measured one seed's attention
    slope at 4.6 from two lengths timed under load (inconclusive); with interleaved timing rounds
    and a fit over three lengths, two runs beside two busy processes gave 2.03–2.11 (attention),
    0.84–0.98 (light), 0.85–0.95 (dynamic) per seed."""
    out = deepatoms.run("lightweight-convolution", seeds=5, device="cpu")
    assert out.verdict.status == "reproduced"
    by = {e.metric: e for e in out.verdict.evidence}
    assert by["excess loss: attention − light (nats)"].estimate > 0.05


@pytest.mark.claim
def test_claim_tensor_calculus_hessians():
    """Measured (5 seeds, n ≤ 1,000, CPU time of one thread): exact to 2e-6 relative everywhere;
    speed-up over row-by-row at n = 1,000: quadratic 127–206×; logistic regression and the
    factorisation are constant-factor gains (their einsum Hessians cost the same order as the n
    backward passes) that moved between runs on the same 2-core machine: logistic 7.5× (not
    reproduced), 18× under heavy load (inconclusive), 27–31× (reproduced); factorisation 33–35×,
    15×, 10–11×. The verdict therefore follows the machine; the test checks exactness, the
    quadratic's two orders of magnitude and that the einsum is clearly faster everywhere."""
    out = deepatoms.run("tensor-calculus-hessians", seeds=5, device="cpu")
    by = {e.metric: e for e in out.verdict.evidence}
    for f in ("quadratic", "logistic", "factorisation"):
        assert by[f"{f}: max |H − H_rowwise| / max |H| < 1e-05, symbolic (every n)"].supports is True
        assert by[f"{f}: log10 speed-up symbolic vs row-by-row at n=1000"].estimate > 0.5  # > 3×
    assert by["quadratic: log10 speed-up symbolic vs row-by-row at n=1000"].estimate > 1.8
    assert out.verdict.status == ("reproduced" if all(e.supports for e in by.values()) else
                                  "inconclusive" if not any(e.supports is False for e in by.values())
                                  else "not reproduced")