"""random-labels' explicit regularisers (dropout, pixel-shift augmentation, weight decay): unit
tests of the per-model noise (exact shifts, seeded draws, the same noise alone or in a
population), parameter checks, and the claim test at the default configuration."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from deepatoms import registry
from deepatoms.atoms.generalization import _random_labels_conditions as cond
from deepatoms.atoms.generalization import _random_labels_regularisers as reg
from deepatoms.atoms.generalization import random_labels as rl
from deepatoms.data.images import image_data
from deepatoms.errors import ParamError
from deepatoms.lab import Lab


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
    p = rl.RandomLabelsParams(width=16, batch=32, max_steps=30, record_every=10)
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


# --- claim test (default configuration, 5 seeds) ---------------------------------------------
