"""The atom tensor-calculus-hessians: its pieces against closed forms and references, and its claim test (slow tier)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import sympy
import torch

import deepatoms
from deepatoms import registry
from deepatoms.atoms.architecture import _tensor_calculus_hessians_einsum as ec
from deepatoms.atoms.architecture import _rounds as rounds
from deepatoms.atoms.architecture import _tensor_calculus_hessians_judge as tj
from deepatoms.atoms.architecture import _tensor_calculus_hessians_methods as hs
from deepatoms.atoms.architecture._timing import timed
from .architecture_helpers import _gen


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


# --- the timing mechanism ------------------------------------------------------------------------
def test_timing_metrics_must_be_a_tuple_of_names():
    atom = registry.get("tensor-calculus-hessians")
    assert set(atom.timing_metrics) == {"seconds_rowwise", "seconds_functorch", "seconds_symbolic",
                                        "load_1min"}
    with pytest.raises(ValueError, match="timing_metrics"):
        dataclasses.replace(atom, timing_metrics=["seconds_rowwise"])


# --- judging by rounds ---------------------------------------------------------------------------
def test_rounds_needed_for_a_unanimous_sign_test():
    assert rounds.rounds_needed(0.025) == 6 and rounds.rounds_needed(0.05) == 5
    assert rounds.rounds_needed() == 6  # one-sided 2.5% at the default 95% level


def test_median_interval_uses_order_statistics():
    assert rounds.median_interval(range(6)) == (2.5, 0.0, 5.0)     # 1 − 2/64 ≥ 95%
    assert rounds.median_interval(range(20)) == (9.5, 5.0, 14.0)   # x(6) … x(15)


def _round_ratios(fast, slow, machine):
    """Per-round ratios from fabricated per-round times: a machine factor scales both."""
    return [m * s / (m * f) for f, s, m in zip(fast, slow, machine)]


def test_a_machine_constant_between_rounds_leaves_the_verdict_unchanged():
    fast, slow = [1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.02], [8.0, 9.0, 7.5, 8.2, 8.8, 7.9, 8.1, 8.4]
    steady = rounds.faster_in_rounds("r", _round_ratios(fast, slow, [1.0] * 8))
    drifting = rounds.faster_in_rounds("r", _round_ratios(fast, slow, [1, 30, 2, .1, 7, 50, 1, 3]))
    assert steady.supports is drifting.supports is True
    assert steady.estimate == pytest.approx(drifting.estimate)


@pytest.mark.parametrize("slower, status", [(0, True), (1, None), (3, None), (8, False)])
def test_a_method_slower_in_some_rounds(slower, status):
    ratios = [0.5] * slower + [3.0] * (8 - slower)
    row = rounds.faster_in_rounds("r", ratios)
    assert row.supports is status and row.n == 8
    assert f"faster in {8 - slower} of 8 rounds" in row.note


def test_too_few_rounds_cannot_decide_and_fail_the_control():
    assert rounds.faster_in_rounds("r", [5.0] * 5).supports is None
    assert rounds.enough_rounds("k", 5).supports is False
    assert rounds.enough_rounds("k", 6).supports is True and rounds.enough_rounds("k", 6).control


def test_slope_judge_on_fabricated_speedups():
    ns = [30, 100, 300, 1000]
    gen = np.random.default_rng(0)
    machine = gen.uniform(0.2, 5.0, size=(8, 1))  # a factor per round, constant over n
    noise = np.exp(gen.normal(0, 0.05, size=(8, 4)))
    growing = machine * np.asarray(ns) ** 0.5 * noise
    np.testing.assert_allclose(np.median(rounds.log_slopes(ns, growing)), 0.5, atol=0.05)
    assert rounds.grows_with_n("g", ns, growing).supports is True
    assert rounds.grows_with_n("g", ns, machine * np.asarray(ns) ** -0.3 * noise).supports is False
    flat = machine * np.exp(gen.normal(0, 0.05, size=(8, 4)))
    assert rounds.grows_with_n("g", ns, flat).supports is not False


def _fabricated_table(speedup, machine, disagree=0.0, n_seeds=3, n_rounds=2):
    """A run's table whose per-round times are `machine[k] × base` with the symbolic method
    `speedup(function, n)` times faster than row by row."""
    rows, k = [], 0
    for r in range(n_rounds):
        for seed in range(n_seeds):
            for f in hs.FUNCTIONS:
                for n in (30, 100, 300, 1000):
                    sym = machine[k] * 1e-4 * n
                    vals = {"seconds_symbolic": sym, "seconds_rowwise": sym * speedup(f, n),
                            "seconds_functorch": sym * 5, "rel_diff_symbolic": 1e-7,
                            "rel_diff_functorch": 1e-7 + disagree, "hessian_frobenius": 1.0,
                            "load_1min": 2.0}
                    rows += [dict(seed=seed, function=f, n=n, round=r, metric=m, value=v)
                             for m, v in vals.items()]
            k += 1
    return pd.DataFrame(rows)


def _speedup(f, n):
    return 3 * n ** 0.4 if f == "quadratic" else 4.0  # xᵀAx grows; the others a constant 4×


def test_judge_on_fabricated_tables():
    steady = tj.judge(_fabricated_table(_speedup, [1.0] * 6))
    drifting = tj.judge(_fabricated_table(_speedup, [1, 9, .2, 40, 3, .5]))
    assert steady.status == drifting.status == "reproduced"  # 4× is faster, not gated at 10×
    assert [(e.metric, e.supports) for e in steady.evidence] == \
        [(e.metric, e.supports) for e in drifting.evidence]
    flat = tj.judge(_fabricated_table(lambda f, n: 4.0 if f != "quadratic" else 50.0, [1.0] * 6))
    growth = {p.name: p for p in flat.parts}[tj.GROWTH]
    assert flat.status == "reproduced"  # exact and faster: the central claim holds
    assert growth.status != "reproduced"  # xᵀAx's speed-up must grow with n: its own part
    disagreeing = tj.judge(_fabricated_table(_speedup, [1.0] * 6, disagree=1e-3))
    assert disagreeing.status == "inconclusive" and "control failed" in disagreeing.parts[0].reason
    short = tj.judge(_fabricated_table(_speedup, [1.0] * 3, n_rounds=1))
    assert short.status == "inconclusive"


def test_load_and_cpu_are_recorded():
    from deepatoms.execution.runner import cpu_model, environment
    env = environment(torch.device("cpu"))
    assert env["cpu"] == cpu_model() and env["cpu"] and env["cpus"] >= 1
    assert len(env["load_avg"]) == 3


@pytest.mark.claim
def test_claim_tensor_calculus_hessians():
    """Measured in 10 consecutive default runs (3 seeds × 2 rounds, n ≤ 1,000, CPU time of one
    thread, shared 2-core Xeon at 1-min load 3.9–8.3): exact to 2e-6 relative everywhere; the
    einsum faster than row by row in every round of every run for all three functions
    (median at n = 1,000: xᵀAx 178–217×, logistic 28–33×, factorisation 16–25×). The xᵀAx
    growth with n (per-round slope, n ≥ 300, median 0.24–0.48) was supported in 4 of the last
    5 runs and undecided in one (a round with slope −0.24: 6 rounds need unanimity); at 3 × 3
    rounds, 5 more runs gave the slope's sign in 7 and 6 of 9 rounds in 2 of them. The growth is
    therefore its own part (reproduced or inconclusive, never not reproduced); the central claim
    (exact, faster at large n) held in every run."""
    out = deepatoms.run("tensor-calculus-hessians", device="cpu")
    by = {e.metric: e for e in out.verdict.evidence}
    assert out.verdict.status == "reproduced"
    growth = {p.name: p.status for p in out.verdict.parts}
    assert growth["the xᵀAx speed-up grows with n"] in ("reproduced", "inconclusive")
    assert all(e.supports for e in out.verdict.evidence if e.control)
    for f in hs.FUNCTIONS:
        assert by[f"{f}: max |H − H_rowwise| / max |H| < 1e-05, symbolic (every n)"].supports is True
        assert by[f"{f}: speed-up symbolic vs row-by-row at n=1000, per round"].supports is True
    assert by["quadratic: slope of log speed-up (vs row by row) on log n, n ≥ 300, per round"
              ].supports is not False
