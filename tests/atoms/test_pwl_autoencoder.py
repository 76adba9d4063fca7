"""The atom pwl-autoencoder: its pieces against closed forms and references, and its claim test (slow tier)."""

import numpy as np
import pytest

import deepatoms
from deepatoms.atoms.failures.pwl_autoencoder import near_far_mse, near_mask


# ---------------------------------------------------------------- autoencoder helpers
def test_near_mask_and_split_exact():
    mask = near_mask(np.array([[2.5]]), 8)[0]
    assert mask.tolist() == [False, True, True, True, True, False, False, False]
    err2 = np.arange(8, dtype=float)[None, None, :]
    near, far = near_far_mse(err2, mask[None, None, :])
    assert near[0] == pytest.approx(2.5) and far[0] == pytest.approx((0 + 5 + 6 + 7) / 4)


@pytest.mark.claim
def test_claim_pwl_autoencoder():
    out = deepatoms.run("pwl-autoencoder", device="cpu")
    assert out.verdict.status == "reproduced", out.verdict.finding


def test_a_conditioned_conv_that_is_not_exact_fails_the_control():
    from deepatoms.atoms.failures import pwl_autoencoder
    out = deepatoms.run("pwl-autoencoder", preset="quick", seeds=2, device="cpu", steps=30,
                        conv_steps=30)
    t = out.table.copy()
    ae = t[(t.model == "autoencoder") & (t.metric == "near_kink_mse")].value.to_numpy()
    t.loc[(t.model == "conv-whitened") & (t.metric == "near_kink_mse"), "value"] = ae
    v = pwl_autoencoder.judge(t)
    assert v.status == "inconclusive" and "whitened conv" in v.parts[0].reason
    t.loc[t.metric == "val_mse_curve", "value"] = 1.0  # an autoencoder that never learned
    assert "validation MSE at the end / at init" in pwl_autoencoder.judge(t).parts[0].reason
