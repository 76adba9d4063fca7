"""The atom end-to-end-portfolio: its pieces against closed forms and references, and its claim test (slow tier)."""

import math
import pandas as pd
import pytest
import torch

from deepatoms.atoms.failures import end_to_end_portfolio as portfolio_atom
from deepatoms.atoms.failures import flat_activations as flat_atom
from deepatoms.atoms.failures import linear_periodic as lp_atom
from deepatoms.atoms.failures import parity as parity_atom
from deepatoms.data.portfolio import PortfolioStream, best_assets, sample_returns
from deepatoms.engine import train
from deepatoms.lab import Lab
from .failure_helpers import gen


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


# ------------------------------------------------------------- claims (default configuration)
@pytest.mark.claim
@pytest.mark.parametrize("name,status", [
    ("end-to-end-portfolio", "reproduced"),
])
def test_claim_default(name, status):
    from deepatoms.execution.runner import execute
    from deepatoms.execution.seeds import parse_seeds
    atom = {"parity": parity_atom, "linear-periodic": lp_atom, "end-to-end-portfolio": portfolio_atom,
            "flat-activations": flat_atom}[name].ATOM
    outcome = execute(atom, atom.params(), parse_seeds(None, atom.default_seeds), device="cpu")
    assert outcome.verdict.status == status, outcome.verdict.finding


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
    # the k = 1000 ratio refutes §3.3's part, a secondary one; Fig. 4's training reproduces
    assert verdict.status == "reproduced"
    assert [p.status for p in verdict.parts] == ["reproduced", "not reproduced"]


def test_a_decomposition_that_does_not_learn_fails_the_control():
    """The failure claimed is end-to-end's on a task the decomposition learns: where the
    decomposition does not reach −0.9 either, the central part is undecided; §3.3's moment
    ratio, a secondary part, keeps its own status."""
    atom = portfolio_atom.ATOM
    t = atom.run(atom.params("quick", steps=60), Lab([0, 1])).copy()
    t.loc[(t.metric == "expected_loss") & (t.method == "decomposition") & (t.k > 10), "value"] = -0.3
    v = portfolio_atom.judge(t)
    assert v.parts[0].status == "inconclusive" and "decomposition final" in v.parts[0].reason
    assert v.parts[1].name == portfolio_atom.MOMENT_PART and not v.parts[1].reason
