"""The atom tensor-calculus-hessians: its pieces against closed forms and references, and its claim test (slow tier)."""
from __future__ import annotations

import dataclasses
import pytest
import sympy
import torch

import deepatoms
from deepatoms import registry
from deepatoms.atoms.architecture import _tensor_calculus_hessians_einsum as ec
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
    assert set(atom.timing_metrics) == {"seconds_rowwise", "seconds_functorch", "seconds_symbolic"}
    with pytest.raises(ValueError, match="timing_metrics"):
        dataclasses.replace(atom, timing_metrics=["seconds_rowwise"])


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
