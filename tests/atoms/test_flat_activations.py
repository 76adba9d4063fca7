"""The atom flat-activations: its pieces against closed forms and references, and its claim test (slow tier)."""

import numpy as np
import pandas as pd
import pytest
import torch

from deepatoms.atoms.failures import end_to_end_portfolio as portfolio_atom
from deepatoms.atoms.failures import flat_activations as flat_atom
from deepatoms.atoms.failures import linear_periodic as lp_atom
from deepatoms.atoms.failures import parity as parity_atom
from deepatoms.data.step_targets import (LEVEL_OFFSETS, FlatTask, jump_distance, levels,
                                         round_down, smooth_step)
from deepatoms.lab import Lab
from .failure_helpers import gen


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


# ------------------------------------------------------------- claims (default configuration)
@pytest.mark.claim
@pytest.mark.parametrize("name,status", [
    ("flat-activations", "reproduced"),
])
def test_claim_default(name, status):
    from deepatoms.execution.runner import execute
    from deepatoms.execution.seeds import parse_seeds
    atom = {"parity": parity_atom, "linear-periodic": lp_atom, "end-to-end-portfolio": portfolio_atom,
            "flat-activations": flat_atom}[name].ATOM
    outcome = execute(atom, atom.params(), parse_seeds(None, atom.default_seeds), device="cpu")
    assert outcome.verdict.status == status, outcome.verdict.finding


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


def test_a_forward_only_that_does_not_learn_fails_the_control():
    """'Forward-only fewest errors' compares failures when forward-only itself does not learn
    (here nMSE .3 against the control's 0.1): the claim is then inconclusive."""
    ok = flat_atom.judge(_flat_table({"multiclass": [36, 64, 62, 50, 58],
                                      "forward-only": [3, 2, 1, 2, 2]}))
    assert not ok.parts[0].reason
    bad = flat_atom.judge(_flat_table({"multiclass": [60, 64, 62, 50, 58],
                                       "forward-only": [34, 21, 19, 25, 22]}))
    assert bad.status == "inconclusive" and "forward-only: test nMSE" in bad.parts[0].reason
