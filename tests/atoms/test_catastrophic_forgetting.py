"""The atom catastrophic-forgetting: its pieces against closed forms and references, and its claim test (slow tier)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import grad, vmap

import deepatoms
from deepatoms.atoms.generalization import _catastrophic_forgetting_ewc as ewc
from deepatoms.atoms.generalization import _stacked_mlp as nets
from deepatoms.data import continual_digits as tasks
from deepatoms.errors import ParamError


def _random_mlp(m=2, sizes=(5, 7, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    ws = [torch.randn(m, a, b, generator=g) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [torch.randn(m, 1, b, generator=g) for b in sizes[1:]]
    return ws, bs


def test_fisher_is_the_mean_of_squared_per_example_gradients():
    """The (A²)ᵀΔ²/N shortcut equals torch.func's per-example gradients, squared and averaged;
    the squared-mean bug equals the square of their mean — and the two differ."""
    ws, bs = _random_mlp()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 9, 5, generator=g)
    y = torch.randint(0, 3, (2, 9), generator=g)
    allowed = torch.zeros(2, 9, 4, dtype=torch.bool)
    allowed[..., :3] = True                         # a task that owns outputs 0–2
    fisher, sqmean = ewc.fisher_diagonals(ws, bs, x, y, allowed)

    def one(params, xi, yi, ai):
        w, b = params[:2], params[2:]
        out = nets.forward([t.unsqueeze(0) for t in w], [t.unsqueeze(0) for t in b], xi[None, None])
        return nets.masked_nll(out, yi[None, None], ai[None, None]).sum()

    for i in range(2):
        params = [t[i] for t in (*ws, *bs)]
        per = vmap(grad(one), in_dims=(None, 0, 0, 0))(params, x[i], y[i], allowed[i])
        for f, s, g_n in zip(fisher, sqmean, per):
            torch.testing.assert_close(f[i], (g_n ** 2).mean(0), rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(s[i], g_n.mean(0) ** 2, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(fisher[0], sqmean[0])


def test_fisher_hand_made_case_where_the_bug_vanishes():
    """Zero weights, one input x = 1, two examples with opposite labels: the logit gradients are
    (−½, ½) and (½, −½). Their mean is 0 (the bug's Fisher is 0); the mean square is ¼."""
    ws, bs = [torch.zeros(1, 1, 2)], [torch.zeros(1, 1, 2)]
    x, y = torch.ones(1, 2, 1), torch.tensor([[0, 1]])
    fisher, sqmean = ewc.fisher_diagonals(ws, bs, x, y)
    for f in fisher:
        torch.testing.assert_close(f, torch.full_like(f, 0.25))
    for s in sqmean:
        assert torch.count_nonzero(s) == 0


def test_proximal_ewc_step_is_sgd_at_zero_lambda_and_stable_when_stiff():
    p = torch.tensor([[1.0, -2.0], [1.0, -2.0]], requires_grad=True)
    anchor, fisher = [torch.zeros(2, 2)], [torch.ones(2, 2)]
    opt = ewc.ProximalEWC([p], lr=0.1, lam=torch.tensor([0.0, 1e4]), fisher=fisher, anchor=anchor)
    p.grad = torch.ones(2, 2)
    opt.step()
    torch.testing.assert_close(p[0], torch.tensor([0.9, -2.1]))           # plain SGD
    # lr·λF = 1000 ≫ 2 (explicit SGD would jump to ±1000·θ); the implicit step lands near θ*
    torch.testing.assert_close(p[1], (torch.tensor([1.0, -2.0]) - 0.1) / 1001)


def test_task_pairs():
    rng = np.random.default_rng(0)
    perm = tasks.task_pair("permuted", rng, 0.2)
    a, b = perm["A"]["fit"], perm["B"]["fit"]
    assert np.array_equal(np.sort(a.x, axis=1), np.sort(b.x, axis=1)) and a.allowed.all()
    split = tasks.task_pair("split", rng, 0.2)
    for part in ("fit", "val", "test"):
        assert set(split["A"][part].y) == set(range(5)) and set(split["B"][part].y) == set(range(5, 10))
    assert not (split["A"]["fit"].allowed & split["B"]["fit"].allowed).any()
    n_fit, n_val = len(perm["A"]["fit"].y), len(perm["A"]["val"].y)
    n_train = tasks.digits_split().n_train
    assert n_fit + n_val == n_train and abs(n_val / n_train - 0.2) < 0.01


def test_forgetting_table_and_params():
    out = deepatoms.run("catastrophic-forgetting", "quick", seeds=1, device="cpu")
    fin = out.table[out.table.step.isna()]
    assert set(fin.method) == {"sgd", "ewc", "ewc-sqmean", "joint", "dropout"}
    before = fin[fin.metric == "acc_A_before"]
    # every method but dropout starts task B from the same task-A network
    assert before[before.method != "dropout"].value.nunique() == 1
    with pytest.raises(ParamError, match="lams"):
        deepatoms.run("catastrophic-forgetting", "quick", seeds=1, lams=(1.0, 10.0))


def test_sgd_forgetting_is_a_control_and_split_is_its_own_part():
    """Plain SGD forgetting task A is a positive control, not a claim row: a scenario where SGD
    forgets nothing (split digits with per-task heads) makes its own part inconclusive, never
    'not reproduced', and leaves the central (permuted) part alone."""
    from deepatoms.atoms.generalization import catastrophic_forgetting as cf
    rows = []
    for sc, sgd_drop in (("permuted", 0.3), ("split", 0.0)):
        for s in range(5):
            for meth, lam, drop in [("sgd", np.nan, sgd_drop), ("joint", np.nan, 0.0),
                                    ("dropout", np.nan, sgd_drop / 2)] + \
                    [(m, l, sgd_drop / (1 + l) + (0.01 * s if m == "ewc-sqmean" else 0.001 * s)
                      + (sgd_drop / 3 if m == "ewc-sqmean" else 0))
                     for m in ("ewc", "ewc-sqmean") for l in (1.0, 10.0, 100.0)]:
                base = dict(seed=s, scenario=sc, method=meth, lam=lam, step=np.nan)
                rows += [dict(base, metric="drop_A", value=drop + 0.002 * s),
                         dict(base, metric="val_A", value=0.9 - drop),
                         dict(base, metric="val_B", value=0.9), dict(base, metric="acc_B", value=0.9)]
    import pandas as pd
    v = cf.judge(pd.DataFrame(rows))
    parts = {p.name: p for p in v.parts}
    assert parts[""].reason == ""              # the permuted control holds
    split = parts[cf.scenario_part("split")]
    assert split.status == "inconclusive" and split.reason.startswith("control failed")
    controls = [e for e in v.evidence if e.control]
    assert {e.setting.split(";")[0] for e in controls} == {"scenario=permuted", "scenario=split"}


@pytest.mark.claim
def test_claim_catastrophic_forgetting():
    """Measured at the default 8 seeds: permuted digits — SGD loses 0.17 of task A [.13, .22]
    (the control holds; at 5 seeds it was undecided on seeds 200–204, .147 [.094, .199] against
    its bound .1: issue 16 §3's power calculation gave 8), EWC (λ chosen on validation, mostly
    1e3) 0.05, the squared-mean bug as much as SGD at the same λ (no protection), joint 0.01,
    dropout 0.31 (more, not less: its part is not reproduced); drop falls with λ (ρ −0.99).
    Split digits 0–4/5–9, task-incremental: nothing is forgotten (SGD drop 0.00), so that
    part's control fails (inconclusive). The central claim (EWC on permuted digits) is
    reproduced."""
    out = deepatoms.run("catastrophic-forgetting", device="cpu")
    assert out.seeds == tuple(range(8))
    assert out.verdict.status == "reproduced"
    parts = {p.name: p.status for p in out.verdict.parts}
    from deepatoms.atoms.generalization import catastrophic_forgetting as cf
    assert parts[cf.SQMEAN_PART] == "reproduced"
    assert parts[cf.DROPOUT_PART] == "not reproduced"
    assert parts[cf.scenario_part("split")] == "inconclusive"
    by = {e.metric: e for e in out.verdict.evidence}
    assert by["permuted: task-A accuracy drop after task B (SGD)"].control
    assert by["permuted: drop(SGD) − drop(EWC, λ chosen on validation)"].supports is True
    assert by["split: task-A accuracy drop after task B (SGD)"].supports is False
