"""The atom dataset-bias: its pieces against closed forms and references, and its claim test (slow tier)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import deepatoms
from deepatoms.errors import ParamError
from deepatoms.atoms.generalization import dataset_bias as bias  # noqa: E402
from deepatoms.data import font_digits as glyphs  # noqa: E402


def test_glyph_bank_has_every_digit_of_every_bundled_font():
    bank = glyphs.glyph_bank()
    assert bank.shape == (len(glyphs.FONT_FILES), 10, glyphs.BASE, glyphs.BASE)
    ink = bank.sum(axis=(2, 3))
    assert (ink > 50).all()                              # every glyph drawn
    flat = bank.reshape(len(glyphs.FONT_FILES), 10, -1)
    for f in range(len(glyphs.FONT_FILES)):              # ten different shapes per font
        d = np.abs(flat[f][:, None] - flat[f][None]).sum(-1)
        assert (d + np.eye(10) * 1e9 > 10).all()


def test_render_is_seeded_vectorised_and_thick_only_adds_ink():
    y = np.arange(200) % 10
    a = glyphs.render("fonts", y, np.random.default_rng(3))
    assert a.shape == (200, 64) and a.min() >= 0 and a.max() <= 16
    assert np.array_equal(a, glyphs.render("fonts", y, np.random.default_rng(3)))
    assert not np.array_equal(a, glyphs.render("fonts", y, np.random.default_rng(4)))
    # the same draws (fonts, offsets) with 2-px dilation: block counts can only grow
    thick = glyphs.render("thick", y, np.random.default_rng(3))
    assert (thick >= a - 1e-6).all() and thick.mean() > 1.3 * a.mean()
    # binarised block counts are multiples of 1 (16 pixels per block → counts 0..16)
    np.testing.assert_allclose(a, np.round(a), atol=1e-4)
    with pytest.raises(ValueError, match="capture process"):
        glyphs.render("sketch", y, np.random.default_rng(0))


def test_own_minus_best_other_on_a_hand_made_table():
    acc = {("a", "a"): 0.9, ("a", "b"): 0.7, ("a", "c"): 0.8,
           ("b", "a"): 0.95, ("b", "b"): 0.85, ("b", "c"): 0.1}
    table = pd.DataFrame([dict(seed=0, task="digit", train_set=tr, test_set=te, metric="accuracy",
                               value=v) for (tr, te), v in acc.items()])
    assert bias._own_minus_best_other(table, "a").item() == pytest.approx(0.1)
    assert bias._own_minus_best_other(table, "b").item() == pytest.approx(-0.1)


def test_dataset_bias_params():
    with pytest.raises(ParamError, match="datasets"):
        deepatoms.run("dataset-bias", "quick", seeds=1, datasets=("fonts",))


@pytest.mark.claim
def test_claim_dataset_bias():
    """Measured (5 seeds): name that dataset 97.9% with 4 datasets (chance 25%; paper 39% vs 8%
    with 12); own-test accuracy sklearn 0.98 / fonts 0.97 / thick 0.95 beat every other test
    set, but the classifier trained on the blurred/noisy set scores 0.91 on its own test set and
    0.96 on the clean 'fonts' one (−0.052): its own data are the hardest, so the diagonal is not
    dominant row-wise (column-wise it is, 4 of 4). Not reproduced."""
    out = deepatoms.run("dataset-bias", seeds=5, device="cpu")
    assert out.verdict.status == "not reproduced"
    by = {e.setting: e for e in out.verdict.evidence}
    assert by["train_set=all"].supports is True and by["train_set=blurred"].supports is False
    assert all(by[f"train_set={d}"].supports for d in ("sklearn", "fonts", "thick"))
