"""The atom linear-periodic: its pieces against closed forms and references, and its claim test (slow tier)."""

import math
import pandas as pd
import pytest
import torch

from deepatoms.atoms.failures import end_to_end_portfolio as portfolio_atom
from deepatoms.atoms.failures import flat_activations as flat_atom
from deepatoms.atoms.failures import linear_periodic as lp_atom
from deepatoms.atoms.failures import parity as parity_atom
from deepatoms.data.periodic import GaussianStream, cosine_target, unit_directions
from deepatoms.engine import MLPPop
from deepatoms.engine.scalar_head import forward_scalar
from deepatoms.errors import ParamError
from deepatoms.lab import Lab
from .failure_helpers import gen


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


# ------------------------------------------------------------- claims (default configuration)
@pytest.mark.claim
@pytest.mark.parametrize("name,status", [
    ("linear-periodic", "reproduced"),
])
def test_claim_default(name, status):
    from deepatoms.execution.runner import execute
    from deepatoms.execution.seeds import parse_seeds
    atom = {"parity": parity_atom, "linear-periodic": lp_atom, "end-to-end-portfolio": portfolio_atom,
            "flat-activations": flat_atom}[name].ATOM
    outcome = execute(atom, atom.params(), parse_seeds(None, atom.default_seeds), device="cpu")
    assert outcome.verdict.status == status, outcome.verdict.finding


def test_an_oracle_that_does_not_learn_fails_the_control():
    """The full-input net's failure at r = 5 means something only where the oracle (fed uᵀx)
    learns; the variance part (a) keeps its own status and its own control."""
    atom = lp_atom.ATOM
    p = atom.params("quick", steps=100, eval_every=50, directions=10)
    t = atom.run(p, Lab([0, 1])).copy()
    t.loc[(t.part == "learning") & (t.net == "oracle") & (t.r == 5.0), "value"] = 1.0
    v = lp_atom.judge(t)
    assert v.parts[0].status == "inconclusive" and "oracle" in v.parts[0].reason
    assert v.parts[1].name == lp_atom.VARIANCE_PART and "oracle" not in v.parts[1].reason
    floor = (t.part == "variance") & (t.metric == "grad_variance") & (t.r == 1.0)
    t.loc[floor, "value"] = t.loc[(t.part == "variance") & (t.metric == "sampling_floor")
                                  & (t.r == 1.0), "value"].to_numpy() * 0.5
    assert "Var/floor at r=1" in lp_atom.judge(t).parts[1].reason
