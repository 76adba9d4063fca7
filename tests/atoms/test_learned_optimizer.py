"""The atom learned-optimizer: its pieces against closed forms and references, and its claim test (slow tier)."""

import math
import numpy as np
import pytest
import torch

import deepatoms
from deepatoms.errors import ParamError
from deepatoms import registry
from deepatoms.atoms.architecture import _learned_optimizer_lstm as lstm
from deepatoms.atoms.architecture import _learned_optimizer_quadratics as quad
from deepatoms.atoms.architecture._learned_optimizer_transfer import BaselineOptimizer, LearnedOptimizer
from .architecture_helpers import gens


# ---- learned optimizer ----------------------------------------------------------------------
def test_preprocess_log_and_sign_closed_form():
    g = torch.tensor([1.0, -math.e ** -2, 1e-6, -1e-6, 0.0])
    out = lstm.preprocess(g, p=10.0)
    assert out.shape == (5, 2)
    np.testing.assert_allclose(out[0], [0.0, 1.0], atol=1e-7)
    np.testing.assert_allclose(out[1], [-0.2, -1.0], atol=1e-6)
    # |g| < e^-10 ≈ 4.5e-5: (−1, e^10 g)
    np.testing.assert_allclose(out[2], [-1.0, math.exp(10) * 1e-6], rtol=1e-5)
    np.testing.assert_allclose(out[3], [-1.0, -math.exp(10) * 1e-6], rtol=1e-5)
    np.testing.assert_allclose(out[4], [-1.0, 0.0])


def test_lstm_update_shape_and_zero_readout_gives_scaled_bias():
    params = lstm.init_lstm(gens(0, 1), hidden=20)
    with torch.no_grad():
        params[4].zero_()
        params[5].fill_(3.0)
    state = lstm.zero_state(2, 7, 20)
    upd, new = lstm.lstm_update(params, torch.randn(2, 7, generator=gens(2)[0]), state)
    assert upd.shape == (2, 7) and all(s.shape == (2, 7, 20) for s in new)
    np.testing.assert_allclose(upd.detach(), torch.full((2, 7), 3.0 * lstm.OUTPUT_SCALE), rtol=1e-6)


def test_quadratic_gradient_matches_autograd():
    w, y, th = quad.sample(gens(3, 4), 5, 10)
    th = th.clone().requires_grad_()
    quad.loss(w, y, th).sum().backward()
    np.testing.assert_allclose(quad.grad(w, y, th.detach()), th.grad, rtol=1e-5, atol=1e-5)
    # f = ‖Wθ − y‖² computed as a matrix product
    ref = ((torch.einsum("sqij,sqj->sqi", w, th.detach()) - y) ** 2).sum(-1)
    np.testing.assert_allclose(quad.loss(w, y, th.detach()), ref, rtol=1e-5)


def test_baseline_steps_closed_forms():
    g, lr = torch.tensor([2.0, -0.5]), torch.tensor(0.1)
    np.testing.assert_allclose(lstm.baseline_step("sgd", g, {}, lr, 0), [-0.2, 0.05])
    state = {}
    lstm.baseline_step("momentum", g, state, lr, 0)
    np.testing.assert_allclose(lstm.baseline_step("momentum", g, state, lr, 1), -0.1 * 1.9 * g)
    # Adam's first step is −lr · sign(g) (up to ε); RMSprop's first is −lr · g / √(0.1 g²)
    np.testing.assert_allclose(lstm.baseline_step("adam", g, {}, lr, 0), [-0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(lstm.baseline_step("rmsprop", g, {}, lr, 0),
                               -0.1 * torch.sign(g) / math.sqrt(0.1), rtol=1e-6)
    with pytest.raises(ValueError):
        lstm.baseline_step("lion", g, {}, lr, 0)


def test_meta_training_moves_the_lstm_and_seeds_are_independent():
    init = lstm.init_lstm(gens(0, 1))
    both, curve = quad.meta_train(gens(0, 1), gens(10, 11), 1, 2, 10, 5, 10, 1e-3)
    alone, curve0 = quad.meta_train(gens(0), gens(10), 1, 2, 10, 5, 10, 1e-3)
    assert curve.shape == (2, 1) and np.isfinite(curve).all()
    assert all(not torch.equal(a, b) for a, b in zip(init, both))   # the meta-gradient arrived
    for a, b in zip(both, alone):
        assert torch.equal(a[:1], b)                                    # bitwise alone vs batch
    assert curve0[0, 0] == curve[0, 0]


def test_best_lr_index_skips_divergence():
    finals = np.array([[0.5, -1.0, np.nan], [np.inf, 0.2, 0.1]])
    assert quad.best_lr_index(finals).tolist() == [1, 2]


def test_learned_and_baseline_optimizers_update_mlp_parameters():
    p = [torch.zeros(2, 3, 4), torch.zeros(2, 1, 4)]
    for t in p:
        t.grad = torch.ones_like(t)
    BaselineOptimizer(p, "sgd", torch.tensor([0.1, 1.0])).step()
    np.testing.assert_allclose(p[0][0], -0.1 * torch.ones(3, 4))
    np.testing.assert_allclose(p[1][1], -1.0 * torch.ones(1, 4))
    opt = LearnedOptimizer(p, lstm.init_lstm(gens(5, 6)))
    assert opt.state[0].shape == (2, 16, 20)
    before = [t.clone() for t in p]
    opt.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, p))


def test_learned_optimizer_rejects_horizon_not_multiple_of_unroll():
    with pytest.raises(ParamError, match="horizon"):
        registry.get("learned-optimizer").params(horizon=30, unroll=20)


def test_fewer_than_four_checkpoints_are_refused():
    with pytest.raises(ParamError, match="checkpoints"):   # a last quarter needs two of them
        registry.get("learned-optimizer").params(checkpoints=3)


def test_quadratics_are_the_reference_codes_uniform_ones():
    w, y, th = quad.sample(gens(7), 200, 10)
    for t in (w, y):
        assert 0 <= float(t.min()) and float(t.max()) < 1 and abs(float(t.mean()) - 0.5) < 0.01
    assert abs(float(th.std()) - quad.THETA_STD) < 0.001


def _table(meta_fall: float, learned_q: float = -0.7, learned_t: float = -1.8,
           horizons: float = 256_000) -> "pd.DataFrame":
    """A learned-optimizer table: a meta-loss (and a held-out meta-loss at 8 checkpoints)
    falling linearly by `meta_fall` per 100 of 400 epochs (plus noise), and final losses per
    task and optimiser."""
    import pandas as pd
    rng, rows = np.random.default_rng(0), []
    finals = {"quadratic": dict(learned=learned_q, sgd=0.0, momentum=-0.5, rmsprop=-0.2, adam=-0.4),
              "digits-mlp": dict(learned=learned_t, sgd=-1.0, momentum=-1.8, rmsprop=-1.5, adam=-1.8)}
    for s in range(5):
        for e in range(400):
            v = -0.3 - meta_fall * e / 100 + 0.01 * rng.standard_normal()
            rows.append(dict(seed=s, task="quadratic", optimizer="learned", step=e + 1,
                             metric="meta_log10_loss", value=v))
        rows += [dict(seed=s, task="quadratic", optimizer="learned", step=e,
                      metric="heldout_meta_log10_loss",
                      value=-0.3 - meta_fall * e / 100 + 0.002 * rng.standard_normal())
                 for e in range(50, 401, 50)]
        rows.append(dict(seed=s, task="quadratic", optimizer="learned", step=400,
                         metric="meta_function_horizons", value=horizons))
        for task, by in finals.items():
            rows += [dict(seed=s, task=task, optimizer=o, step=100, metric="final_log10_loss",
                          value=v + 0.01 * rng.standard_normal()) for o, v in by.items()]
    return pd.DataFrame(rows)


def test_meta_loss_plateau_is_a_control_of_every_part():
    from deepatoms.atoms.architecture import learned_optimizer as lo
    v = lo.judge(_table(meta_fall=0.0))
    assert v.status == "reproduced" and [p.status for p in v.parts] == ["reproduced"] * 2
    budget, control = v.controls
    assert budget.supports is True and control.supports is True and abs(control.estimate) < 0.02
    v = lo.judge(_table(meta_fall=0.2))      # still falling: 0.2 log10 over the last quarter
    assert {p.status for p in v.parts} == {"inconclusive"}
    assert v.controls[1].estimate == pytest.approx(0.2, abs=0.01)  # checkpoints 300…400
    assert "not shown to have stopped falling" in v.parts[0].reason


def test_heldout_checkpoints_watch_meta_training_without_changing_it():
    seen = []
    args = lambda: (gens(1, 2), gens(3, 4), 6, 3, 4, 5, 10, 1e-3)   # fresh generators
    params, curve = quad.meta_train(*args(), after_epoch=lambda e, p: seen.append(
        (e, [t.clone() for t in p])))
    plain, plain_curve = quad.meta_train(*args())
    assert [e for e, _ in seen] == list(range(6))
    np.testing.assert_array_equal(curve, plain_curve)
    for a, b, c in zip(params, plain, seen[-1][1]):
        assert torch.equal(a, b) and torch.equal(a, c)
    out = deepatoms.run("learned-optimizer", seeds=2, preset="quick", device="cpu",
                        checkpoints=4)
    held = out.table[out.table.metric == "heldout_meta_log10_loss"]
    assert sorted(held.step.unique()) == [2, 3, 4, 6]   # round(k · 6 / 4), k = 1…4
    assert held.value.notna().all() and len(held) == 2 * 4


def test_meta_training_below_a_fifth_of_the_references_functions_is_a_failed_control():
    from deepatoms.atoms.architecture import learned_optimizer as lo
    assert lo.MIN_HORIZONS == 2_000 * 128
    v = lo.judge(_table(meta_fall=0.0, learned_q=-0.3, horizons=450 * 4))  # learned loses
    assert {p.status for p in v.parts} == {"inconclusive"}       # not "not reproduced"
    budget = v.controls[0]
    assert budget.supports is False and "1,800 function-horizons" in budget.note
    assert "`paper` preset" in v.parts[0].reason


def test_transfer_part_is_non_inferiority_to_adam():
    from deepatoms.atoms.architecture import learned_optimizer as lo
    v = lo.judge(_table(meta_fall=0.0, learned_t=-1.5))   # 0.3 log10 worse than Adam
    parts = {p.name: p.status for p in v.parts}
    assert parts[""] == "reproduced" and parts[lo.TRANSFER_PART] == "not reproduced"


# ---- claim tests (default configuration, 5 seeds) -------------------------------------------
@pytest.mark.claim
def test_claim_learned_optimizer():
    """Measured (5 seeds, 450 meta-epochs of 4 quadratics, W, y ~ U[0, 1) as the reference code):
    final log10 loss on fresh quadratics learned −1.06 vs tuned momentum −1.15, Adam −0.99; the
    learned optimiser beats SGD, RMSprop and Adam (Adam by 0.07 [0.03, 0.12]) but momentum beats
    it (−0.095 [−0.15, −0.04], Holm-adjusted p .023: a contradiction). Transfer to the digits
    MLP: learned −1.54 vs Adam −1.77 (−0.24 [−0.41, −0.06] against a −0.1 margin: undecided).
    Neither control holds: 450 × 4 = 1,800 function-horizons are below a fifth of the
    reference code's (256,000), and the held-out meta-loss (64 fixed quadratics, 8 checkpoints)
    falls by 0.026 [−0.010, 0.063] over the last quarter, not shown below 0.05 — so both parts
    are inconclusive (not 'not reproduced'). At the `paper` preset (2,000 × 128) the learned
    optimiser ends below every tuned baseline in 5 of 5 seeds (−1.21 vs momentum −1.15)."""
    out = deepatoms.run("learned-optimizer", seeds=5, device="cpu")
    v = out.verdict
    assert out.verdict.status == "inconclusive" and {p.status for p in v.parts} == {"inconclusive"}
    assert "control failed" in v.parts[0].reason
    assert [c.supports for c in v.controls] == [False, None]
    by = {e.metric: e for e in v.evidence}
    for b in ("sgd", "rmsprop", "adam"):
        assert by[f"quadratics: final log10 loss, tuned {b} − learned"].supports is True
    assert by["quadratics: final log10 loss, tuned momentum − learned"].estimate < 0
