"""The atom random-labels: its pieces against closed forms and references, and its claim test (slow tier)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import deepatoms
from deepatoms.atoms.generalization import _random_labels_conditions as cond
from deepatoms.atoms.generalization.random_labels import step_ratios
from deepatoms.atoms.generalization._ratio_evidence import factor_row
from deepatoms import registry
from deepatoms.atoms.generalization import _random_labels_regularisers as reg
from deepatoms.atoms.generalization import random_labels as rl
from deepatoms.data.images import image_data
from deepatoms.errors import ParamError
from deepatoms.lab import Lab


# --- random-labels: the randomisations ----------------------------------------------------
def test_label_corruption_rates_and_fixed_draws():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 20_000)
    assert np.array_equal(cond.labels(y, 0.0, rng), y)
    changed = np.mean(cond.labels(y, 0.4, np.random.default_rng(3)) != y)
    assert changed == pytest.approx(0.4 * 0.9, abs=0.015)   # a random class may be the true one
    rand = cond.labels(y, 1.0, np.random.default_rng(4))
    assert np.mean(rand == y) == pytest.approx(0.1, abs=0.01)
    assert np.array_equal(rand, cond.labels(y, 1.0, np.random.default_rng(4)))


def test_input_randomisations():
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((300, 16)), rng.standard_normal((50, 16))
    sa, sb = cond.inputs("shuffled pixels", xa, xb, np.random.default_rng(1))
    perm = [int(np.argmax(np.all(xa == sa[:, [j]], axis=0))) for j in range(16)]
    assert sorted(perm) == list(range(16)) and np.array_equal(sb, xb[:, perm])  # one permutation
    ra, rb = cond.inputs("random pixels", xa, xb, np.random.default_rng(1))
    assert np.array_equal(np.sort(ra, 1), np.sort(xa, 1)) and not np.array_equal(ra, xa)
    ga, gb = cond.inputs("gaussian pixels", xa * 3 + 1, xb, np.random.default_rng(1))
    np.testing.assert_allclose(ga.mean(0), 1, atol=0.6)
    np.testing.assert_allclose(ga.std(0), 3, rtol=0.2)
    assert gb.shape == xb.shape
    names = [c.name for c in cond.conditions((0.5,), ("random pixels",), 1e-4)]
    assert names == [cond.TRUE, "corrupted p=0.5", cond.RANDOM, "random pixels", cond.DECAY]


def test_step_ratio_and_factor_row_on_a_hand_made_table():
    rows = []
    for seed, (true, rand, fitted) in enumerate([(100, 300, 1), (200, 400, 1), (100, 800, 0)]):
        for c, steps, f in ((cond.TRUE, true, 1), (cond.RANDOM, rand, fitted)):
            rows += [dict(seed=seed, condition=c, metric="steps_to_fit", value=steps),
                     dict(seed=seed, condition=c, metric="fitted", value=f)]
    ratio, cens = step_ratios(pd.DataFrame(rows))
    np.testing.assert_allclose(ratio, [3.0, 2.0, 8.0])
    assert cens.tolist() == [False, False, True]
    ev = factor_row("r", np.array([2.0, 2.0, 8.0, 8.0]), 1.0)
    assert ev.estimate == pytest.approx(4.0)                      # geometric mean
    assert ev.ci_low < 4.0 < ev.ci_high and ev.supports is True


# --- claim tests (default configuration, 5 seeds) ------------------------------------------
@pytest.mark.claim
def test_claim_random_labels():
    """Measured (5 seeds, 1×512): the 50 unregularised models (10 conditions) and the true-label
    regularised ones all reach ≥ 99 % train accuracy; random labels take 3.74× [3.07, 4.54] the
    steps of true labels (~670 vs ~180); test accuracy 96.9 % (true) falling monotonically to
    9.9 % (random); random labels with weight decay and dropout (the source's regularised
    random-label setting) fit in 5 of 5 seeds. Reproduced. Beyond the source, random labels with
    ±1-pixel shifts too reach only 55 % train accuracy at the 4,000-step cap (0 of 5 seeds):
    measured and reported in the finding, not judged. True-label test accuracy, paired change:
    weight decay −0.07 [−0.20, +0.05] points, dropout +0.15 [−0.26, +0.56], ±1-pixel shifts
    −0.45 [−0.75, −0.14], each well within ±5. The 3×512 MLP on true and random labels:
    both fitted in 5 of 5 seeds, random labels in 4.41× [3.19, 6.10] the steps of true labels;
    test accuracy 97.4 % (true) vs 9.6 % (random). Controls: true labels fitted at both depths."""
    out = deepatoms.run("random-labels", seeds=5, device="cpu")
    assert out.verdict.status == "reproduced"
    by = {e.metric: e for e in out.verdict.evidence if "hidden_layers=1" in e.setting}
    deep = {e.metric: e for e in out.verdict.evidence if "hidden_layers=3" in e.setting}
    assert deep["random labels: train accuracy ≥ 99%"].supports is True
    assert deep["true labels: train accuracy ≥ 99%"].control
    assert all(c.supports for c in out.verdict.controls)
    assert by["random labels + weight decay + dropout: train accuracy ≥ 99%"].supports is True
    assert not any(m.startswith("random labels + all regularisers") for m in by)
    for label in ("weight decay", "dropout", "augmentation"):
        row = by[f"{label} − none: true-label test accuracy"]
        assert row.supports and by[f"none − {label}: true-label test accuracy"].supports
        assert -0.02 < row.ci_low and row.ci_high < 0.02
    t = out.table
    beyond = t[(t.condition == "random labels + all regularisers") & (t.metric == "train_accuracy")]
    assert len(beyond) == 5 and "reported, not judged" in out.verdict.finding
    assert 0.3 < beyond.value.mean() < 0.9               # fitting, far above chance, not done
    small = by["steps to fit: random / true labels (small factor)"]
    assert 2.0 < small.estimate < 6.0 and small.ci_high < 10


def test_core_depths_run_true_and_random_labels_only():
    """`core_layers`: a further depth with only the claim's core conditions; the true-label fit
    row of each depth is the control."""
    out = deepatoms.run("random-labels", preset="quick", seeds=1, device="cpu", width=16,
                        max_steps=50, core_layers=(2,))
    t = out.table
    assert set(t[t.hidden_layers == 2].condition) == {"true labels", "random labels"}
    assert len(set(t[t.hidden_layers == 1].condition)) > 2
    controls = out.verdict.controls
    assert {c.setting for c in controls} == {"hidden_layers=1; condition=true labels",
                                             "hidden_layers=2; condition=true labels"}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- augmentation: integer pixel shifts -----------------------------------------------------
def _shift_by_hand(img: np.ndarray, down: int, right: int) -> np.ndarray:
    """Reference: out[i, j] = img[i − down, j − right], 0 outside."""
    out = np.zeros_like(img)
    for i in range(img.shape[0]):
        for j in range(img.shape[1]):
            a, b = i - down, j - right
            if 0 <= a < img.shape[0] and 0 <= b < img.shape[1]:
                out[i, j] = img[a, b]
    return out


def test_shifts_are_exact_integer_shifts_and_keep_the_shape():
    x = torch.arange(1, 2 * 3 * 64 + 1, dtype=torch.float32).view(2, 3, 64)   # (M, B, 8·8)
    shifts = torch.tensor([[[1, 0], [0, -1], [-1, 1]], [[0, 0], [1, 1], [-1, -1]]])
    out = reg.shift_images(x, shifts)
    assert out.shape == x.shape
    for m in range(2):
        for b in range(3):
            want = _shift_by_hand(x[m, b].view(8, 8).numpy(), *shifts[m, b].tolist())
            np.testing.assert_array_equal(out[m, b].view(8, 8).numpy(), want)
    np.testing.assert_array_equal(out[1, 0].numpy(), x[1, 0].numpy())        # (0, 0): unchanged
    assert out[0, 0].view(8, 8)[0].abs().sum() == 0                           # row shifted in: blank


def test_shifts_of_standardised_images_move_the_raw_pixels():
    data = image_data("digits")
    mean, std = torch.tensor(data.mean), torch.tensor(data.std)
    x = torch.tensor(data.x_train[:5])                                        # (5, 64) standardised
    shifts = torch.tensor([[1, 1], [-1, 0], [0, 1], [1, -1], [0, 0]])
    out = reg.shift_images(x, shifts, mean, std)
    raw = (x * std + mean).numpy()
    for b in range(5):
        want = (_shift_by_hand(raw[b].reshape(8, 8), *shifts[b].tolist()).ravel()
                - data.mean) / data.std
        np.testing.assert_allclose(out[b].numpy(), want, atol=1e-5)
    np.testing.assert_allclose(out[4].numpy(), x[4].numpy(), atol=1e-5)


def test_shift_draws_are_seeded_per_model_and_bounded():
    a = reg.draw_shifts({0: _gen(1), 2: _gen(2)}, 3, 500, 1, "cpu")
    b = reg.draw_shifts({0: _gen(1), 2: _gen(2)}, 3, 500, 1, "cpu")
    assert a.shape == (3, 500, 2) and a.dtype == torch.long
    assert torch.equal(a, b)                                                  # same seed: same
    assert not torch.equal(a[0], a[2])                                        # other seed: other
    assert torch.all(a[1] == 0)                                               # no generator: none
    assert set(a[0].unique().tolist()) == {-1, 0, 1}
    alone = reg.draw_shifts({0: _gen(2)}, 1, 500, 1, "cpu")
    assert torch.equal(alone[0], a[2])                                        # alone = in a batch
    with pytest.raises(ValueError, match="square"):
        reg.shift_images(torch.zeros(2, 10), torch.zeros(2, 2, dtype=torch.long))


# --- dropout masks --------------------------------------------------------------------------
def test_dropout_masks_differ_between_seeds_and_match_alone_vs_batch():
    batch = reg.dropout_keep({0: _gen(5), 1: _gen(6)}, 3, 64, [512, 32], 0.5, "cpu",
                             torch.float32)
    alone = reg.dropout_keep({0: _gen(6)}, 1, 64, [512, 32], 0.5, "cpu", torch.float32)
    assert [m.shape for m in batch] == [(3, 64, 512), (3, 64, 32)]
    for layer in range(2):
        assert torch.equal(alone[layer][0], batch[layer][1])                  # alone = in a batch
        assert not torch.equal(batch[layer][0], batch[layer][1])              # seeds differ
        assert torch.all(batch[layer][2] == 1)                                # no dropout: ones
    values = batch[0][0].unique().tolist()
    assert values == [0.0, 2.0]                                               # inverted: 1/(1−p)
    assert (batch[0][0] == 0).float().mean().item() == pytest.approx(0.5, abs=0.02)


def test_a_regularised_condition_trains_the_same_alone_and_in_a_population():
    """A seed's dropout + shift noise comes from its own generators: training seeds (3, 4)
    together gives seed 4 exactly the weights it gets alone."""
    p = rl.RandomLabelsParams(width=16, batch_size=32, max_steps=30, record_every=10)
    data, c = image_data("digits"), cond.Condition("reg", 1.0, decay=True, dropout=True,
                                                   augment=True)
    _, out_b, test_b = rl._train_group(p, Lab([3, 4]), data, [c], 1)
    _, out_a, test_a = rl._train_group(p, Lab([4]), data, [c], 1)
    np.testing.assert_array_equal(test_a, test_b[1:])
    assert np.array_equal(out_a.records[-1][1], out_b.records[-1][1][1:])
    assert not np.array_equal(out_b.records[-1][1][:1], out_b.records[-1][1][1:])


# --- conditions and parameters --------------------------------------------------------------
def test_regularised_conditions_follow_the_switches():
    names = lambda **kw: [c.name for c in cond.conditions((), (), **kw) if c.regularised]
    assert names(weight_decay=5e-4, dropout=0.5, max_shift=1, random_regularised=True) == [
        cond.DECAY, cond.DROPOUT, cond.AUGMENT, cond.RANDOM_REGULARISED,
        cond.RANDOM_DECAY_DROPOUT]
    assert names(weight_decay=0.0, dropout=0.5, max_shift=0, random_regularised=True) == [
        cond.DROPOUT, cond.RANDOM_REGULARISED]
    assert names(weight_decay=0.0, dropout=0.0, max_shift=0, random_regularised=True) == []
    every = [c for c in cond.conditions((), (), 5e-4, 0.5, 1, True)
             if c.name == cond.RANDOM_REGULARISED][0]
    assert (every.p, every.decay, every.dropout, every.augment) == (1.0, True, True, True)


@pytest.mark.parametrize("field, value", [("dropout", 1.0), ("dropout", -0.1),
                                          ("max_shift", -1), ("max_shift", 4),
                                          ("weight_decay", -1e-4)])
def test_params_refuse_bad_regulariser_values(field, value):
    with pytest.raises(ParamError, match=field):
        registry.get("random-labels").params(**{field: value})


def test_a_regulariser_that_changes_no_test_accuracy_is_judged_on_the_points():
    """Seeds 200…204 once gave weight decay exactly the unregularised test accuracy in every
    seed: the sign test (smallest p 1/32 with 5 seeds) left '|change| < 5 points' undecided.
    With the test set's size in the table the pooled counts decide it; without it, as before."""
    rows = []
    for seed in range(5):
        for c in (cond.TRUE, cond.DECAY):
            rows += [dict(seed=seed, condition=c, metric="test_accuracy", value=0.97),
                     dict(seed=seed, condition=c, metric="test_points", value=540)]
    table = pd.DataFrame(rows)
    with_points = rl._regulariser_rows(table, 1)
    assert [r.supports for r in with_points] == [True, True]
    assert all(r.ci_low > -0.02 and r.ci_high < 0.02 for r in with_points)
    assert all("Newcombe" in r.test for r in with_points)
    without = rl._regulariser_rows(table[table.metric != "test_points"], 1)
    assert [r.supports for r in without] == [None, None]
