"""The atom optimizer-minima: its pieces against closed forms and references, and its claim test (slow tier)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import deepatoms
from deepatoms.atoms.generalization import _stacked_mlp as nets
from deepatoms.atoms.generalization import _optimizer_minima_paths as paths
from deepatoms.atoms.generalization._optimizer_minima_rules import RULES, RuleOptimizer


TORCH_OPT = {"sgd": lambda p, lr: torch.optim.SGD(p, lr=lr),
             "momentum": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9),
             "rmsprop": lambda p, lr: torch.optim.RMSprop(p, lr=lr),
             "adam": lambda p, lr: torch.optim.Adam(p, lr=lr),
             "adadelta": lambda p, lr: torch.optim.Adadelta(p, lr=lr)}


LR = {"sgd": 0.1, "momentum": 0.05, "rmsprop": 0.01, "adam": 0.01, "adadelta": 1.0}


def _grads(steps, m, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(m, *shape, generator=g) for _ in range(steps)]


def _run_rules(rules, grads, start, switch_to=None, switch_at=None):
    p = start.clone()
    opt = RuleOptimizer([p], rules, LR)
    for t, g in enumerate(grads):
        if switch_at is not None and t == switch_at:
            opt.switch(switch_to)
        p.grad = g.clone()
        opt.step()
    return p


@pytest.mark.parametrize("rule", RULES)
def test_rule_optimizer_matches_torch(rule):
    """Each rule is torch.optim's update (same gradients fed to both, 20 steps)."""
    grads = _grads(20, 3, (4, 5))
    start = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(1))
    ours = _run_rules([rule] * 3, grads, start)
    for i in range(3):
        q = start[i].clone().requires_grad_()
        opt = TORCH_OPT[rule]([q], LR[rule])
        for g in grads:
            q.grad = g[i].clone()
            opt.step()
        torch.testing.assert_close(ours[i], q.detach(), rtol=1e-5, atol=1e-6)


def test_switch_starts_the_new_rule_fresh_and_models_do_not_interact():
    """A model switched from SGD to Adam at step 10 equals SGD for 10 steps then a new torch Adam;
    a model alone gives bitwise the same numbers as inside a mixed population."""
    grads = _grads(20, 3, (6, 7), seed=2)
    start = torch.randn(3, 6, 7, generator=torch.Generator().manual_seed(3))
    mixed = _run_rules(["sgd", "adam", "momentum"], grads, start, ["adam", "adam", "momentum"], 10)
    q = start[0].clone().requires_grad_()
    sgd, adam = torch.optim.SGD([q], lr=LR["sgd"]), torch.optim.Adam([q], lr=LR["adam"])
    for t, g in enumerate(grads):
        q.grad = g[0].clone()
        (sgd if t < 10 else adam).step()
    torch.testing.assert_close(mixed[0], q.detach(), rtol=1e-5, atol=1e-6)
    alone = _run_rules(["sgd"], [g[:1] for g in grads], start[:1], ["adam"], 10)
    assert torch.equal(alone[0], mixed[0])
    alone2 = _run_rules(["momentum"], [g[2:] for g in grads], start[2:])
    assert torch.equal(alone2[0], mixed[2])
    with pytest.raises(ValueError, match="unknown rules"):
        RuleOptimizer([start.clone()], ["sgd", "nesterov", "sgd"], LR)


def test_barrier_closed_form_and_path_end_points():
    alphas = np.linspace(0, 1, 5)
    losses = np.array([[1.0, 1.5, 2.0, 1.0, 0.0],       # chord 1, .75, .5, .25, 0 → max rise 1.5
                       [2.0, 1.5, 1.0, 0.5, 0.0]])      # on the chord: 0
    np.testing.assert_allclose(paths.barrier(losses, alphas), [1.5, 0.0])
    g = torch.Generator().manual_seed(0)
    ws = [torch.randn(3, 4, 6, generator=g), torch.randn(3, 6, 3, generator=g)]
    bs = [torch.randn(3, 1, 6, generator=g), torch.randn(3, 1, 3, generator=g)]
    x, y = torch.randn(10, 4, generator=g), torch.randint(0, 3, (10,), generator=g)
    out = paths.path_losses([*ws, *bs], [0, 1], [2, 0], alphas, x, y)
    full = nets.mean_loss(ws, bs, x, y).numpy()
    np.testing.assert_allclose(out[:, 0], full[[0, 1]], rtol=1e-6)
    np.testing.assert_allclose(out[:, -1], full[[2, 0]], rtol=1e-6)


def test_plateau_rule():
    """Plateaued when the best of the last `patience` checks is no better than the best before."""
    from deepatoms.atoms.generalization.optimizer_minima import plateaued
    errs = [0.5, 0.3, 0.1, 0.1, 0.1, 0.1]
    assert [plateaued(errs[:k], 3) for k in range(1, 7)] == [False] * 5 + [True]
    assert plateaued([0.2, 0.0, 0.0, 0.0], 2) and not plateaued([0.2, 0.1, 0.05], 2)


def test_switch_judged_against_the_barrier_threshold_and_other_init_control():
    """'Left the first basin' needs a barrier above BARRIER_MIN, not above a rerun's ≈ 0 barrier
    (a barrier of 1e-5 nats against a rerun's 0 is no basin); the other-initialisation control
    guards every part."""
    import pandas as pd
    from deepatoms.atoms.generalization import optimizer_minima as om
    rows = []
    for s in range(5):
        for run, norm in (("sgd", 10.0), ("adam", 20.0), ("sgd/rerun", 10.1), ("adam/rerun", 20.1),
                          ("sgd" + om.OTHER_INIT, 10.0), ("sgd>adam", 18.0 + 0.1 * s)):
            rows += [dict(seed=s, run=run, other="", alpha=np.nan, metric="test_error", value=0.02),
                     dict(seed=s, run=run, other="", alpha=np.nan, metric="weight_norm", value=norm)]
        for kind, a, b, bar in (("between", "sgd", "adam", 1e-4), ("rerun", "sgd", "sgd/rerun", 0.0),
                                ("rerun", "adam", "adam/rerun", 0.0),
                                ("other-init", "sgd", "sgd" + om.OTHER_INIT, 0.3 + 0.01 * s),
                                ("switch-first", "sgd>adam", "sgd", 2e-5 + 1e-6 * s),
                                ("switch-second", "sgd>adam", "adam", 0.0)):
            rows += [dict(seed=s, run=a, other=b, alpha=np.nan, metric=f"barrier_{kind}", value=bar),
                     dict(seed=s, run=a, other=b, alpha=np.nan, metric=f"distance_{kind}",
                          value=5.0 if kind == "between" else 1.0 + 0.01 * s)]
    v = om.judge(pd.DataFrame(rows))
    by = {e.metric: e for e in v.evidence}
    assert by["sgd>adam: barrier to sgd's solution (nats)"].supports is False
    control = by["barrier between two initialisations, same optimiser and order (nats)"]
    assert control.control and control.supports is True
    parts = {p.name: p.status for p in v.parts}
    assert parts[om.SWITCH_PART] == "not reproduced" and parts[om.SWITCH_NORM_PART] == "reproduced"


@pytest.mark.claim
def test_claim_optimizer_minima():
    """Measured (5 seeds): barrier between optimisers 4.6e-5 nats (reruns 2.3e-5), distance
    5.17 vs 2.59, |Δ‖θ‖| larger between optimisers, test errors within 0.7 points: the
    same-init solutions are linearly connected (central part not reproduced). Control: two
    initialisations of SGD give a 0.54-nat barrier [0.44, 0.64]. Switching at the first
    optimiser's plateau (steps 620–940 of 3,000): the barrier to the first solution is exactly
    0 in every seed (not reproduced), the norm ends nearer the second optimiser's in all four
    switches (0.66–1.40: reproduced)."""
    from deepatoms.atoms.generalization import optimizer_minima as om
    out = deepatoms.run("optimizer-minima", seeds=5, device="cpu")
    parts = {p.name: p.status for p in out.verdict.parts}
    assert parts[om.SWITCH_PART] == "not reproduced" and parts[om.SWITCH_NORM_PART] == "reproduced"
    assert out.verdict.status == "not reproduced"
    rows = {e.metric: e for e in out.verdict.evidence}
    assert rows["barrier between optimisers (mean over pairs, nats)"].supports is False
    assert rows["test-error range over optimisers"].supports is True
    assert rows["barrier between two initialisations, same optimiser and order (nats)"].supports is True
