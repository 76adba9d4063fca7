"""The atom pca-preprocessing: its pieces against closed forms and references, and its claim test (slow tier)."""
from __future__ import annotations

import numpy as np
import pytest
import contextlib
import pandas as pd

from deepatoms.atoms.atoms import pca_preprocessing
from deepatoms.data.rotations import haar_frame, rotate_rows
from deepatoms.execution.runner import execute
from .classifier_helpers import _evidence, _near, _run


@pytest.mark.parametrize("n, dim", [(30, 7), (6, 40)])
def test_rotate_rows_keeps_all_distances_and_angles(n, dim):
    x = np.random.default_rng(0).standard_normal((n, dim))
    r = rotate_rows(np.random.default_rng(1), x)
    assert r.shape == (n, dim)
    np.testing.assert_allclose(r @ r.T, x @ x.T, atol=1e-9)  # Gram matrix preserved
    assert not np.allclose(r, x)
    assert not np.allclose(r, rotate_rows(np.random.default_rng(2), x))


def test_haar_frame_is_orthonormal():
    q = haar_frame(np.random.default_rng(0), 9, 4)
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-12)


def test_pca_project_matches_sklearn_up_to_sign():
    from sklearn.decomposition import PCA
    rng = np.random.default_rng(0)
    xtr, xte = rng.standard_normal((30, 8)), rng.standard_normal((10, 8))
    ptr, pte = pca_preprocessing.pca_project(xtr, xte, 3)
    ref = PCA(n_components=3).fit(xtr)
    np.testing.assert_allclose(np.abs(ptr), np.abs(ref.transform(xtr)), atol=1e-10)
    np.testing.assert_allclose(np.abs(pte), np.abs(ref.transform(xte)), atol=1e-10)


def test_pca_groups_pad_only_to_similar_widths():
    widths = {"a": 5, "b": 10, "c": 12, "d": 110, "e": 2010, "f": 2010, "g": 30}
    got = sorted(sorted(g) for g in pca_preprocessing.groups(widths))
    assert got == [["a", "b", "c"], ["d"], ["e", "f"], ["g"]]


def test_pca_standardise_uses_training_statistics():
    rng = np.random.default_rng(0)
    xtr, xte = rng.normal(5, 3, (50, 4)), rng.normal(5, 3, (20, 4))
    xtr[:, 3] = 1.0  # a constant input stays finite
    ztr, zte = pca_preprocessing.standardise(xtr, xte)
    np.testing.assert_allclose(ztr[:, :3].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(ztr[:, :3].std(0), 1, atol=1e-12)
    np.testing.assert_allclose(zte, (xte - xtr.mean(0)) / np.where(xtr.std(0) > 0, xtr.std(0), 1))
    assert np.isfinite(ztr).all()


@pytest.mark.claim
def test_claim_pca_preprocessing_both_mixings_and_control():
    out = _run("pca-preprocessing")
    # the U[0,1] mixing collapses (.37, source .43), a true rotation does not (.96), and
    # standardising the U[0,1]-mixed features removes the collapse (.94)
    assert out.verdict.status == "not reproduced"
    _near(out, "uniform: no PCA, k ≥ 200", 0.370, (0.299, 0.441))
    assert _evidence(out, "uniform: no PCA, k ≥ 200").supports is True
    _near(out, "rotation: no PCA, k ≥ 200", 0.960, (0.909, 1.011))
    _near(out, "standardised uniform: no PCA, k ≥ 200", 0.942, (0.875, 1.010))
    _near(out, "uniform: PCA 10 − PCA 1", 0.106, (0.083, 0.130))
    assert [p.status for p in out.verdict.parts] == ["not reproduced", "not reproduced"]
    assert all(c.supports for c in out.verdict.controls)  # k ≤ 20: .98/.99/.98; ceiling 1.0


def test_a_network_that_does_not_learn_at_small_k_fails_the_control():
    """No collapse can show when raw inputs do not work even while d + k ≤ n/2: the central
    part is then inconclusive (control failed), not refuted."""
    out = _run("pca-preprocessing", "quick", seeds=(0, 1))
    t = out.table.copy()
    low = ((t.metric == "test_accuracy") & (t.features == "raw") & (t.pca_dims == 0)
           & (t.dummy_dims <= 20))
    t.loc[low, "value"] = 0.5
    v = pca_preprocessing.judge(t)
    assert v.status == "inconclusive" and "control failed" in v.parts[0].reason
    assert "no PCA, k ≤ 20" in v.parts[0].reason


@pytest.mark.claim
def test_claim_pca_preprocessing_original_code():
    out = _run("pca-preprocessing", "original-code")
    # the source's experiment alone: collapse and PCA 1 loss reproduce; PCA 5 / 10 at k ≥ 200
    # (.93 / .94) do not clear .9 with 5 seeds
    assert out.verdict.status == "inconclusive"
    _near(out, "uniform: no PCA, k ≥ 200", 0.370, (0.299, 0.441))
    _near(out, "uniform: PCA 5, k ≥ 200", 0.932, (0.849, 1.016))


def _pca_one_svd_per_dims(xtr, xte, dims):
    """The replaced code: one SVD for every PCA dimension."""
    mean = xtr.mean(axis=0)
    _, _, vt = np.linalg.svd(xtr - mean, full_matrices=False)
    axes = vt[:dims].T
    return (xtr - mean) @ axes, (xte - mean) @ axes


def test_pca_projections_from_one_svd_equal_one_svd_per_dims_bitwise():
    rng = np.random.default_rng(3)
    xtr, xte = rng.uniform(0, 40, (80, 210)), rng.uniform(0, 40, (20, 210))
    got = pca_preprocessing.pca_projections(xtr, xte, (10, 5, 1))
    assert sorted(got) == [1, 5, 10]
    for dims, (ptr, pte) in got.items():
        rtr, rte = _pca_one_svd_per_dims(xtr, xte, dims)
        assert ptr.shape == (80, dims) and pte.shape == (20, dims)
        np.testing.assert_array_equal(ptr, rtr)
        np.testing.assert_array_equal(pte, rte)
    assert pca_preprocessing.pca_projections(xtr, xte, ()) == {}


def _pca_table(monkeypatch, flush: bool) -> pd.DataFrame:
    if not flush:
        monkeypatch.setattr(pca_preprocessing, "flushed", contextlib.nullcontext)
    atom = pca_preprocessing.ATOM
    over = dict(dummy_dims=(1, 500), pca_dims=(0, 5, 1), hidden=(16, 16), steps=40)
    return execute(atom, atom.params("quick", **over), (0,), preset="quick", overrides=over,
                   device="cpu").rows


def test_pca_table_with_flushed_denormals_equals_the_table_without(monkeypatch):
    """Saturated sigmoids (k = 500: inputs offset by ≈ 125) give denormals; flushing them to zero
    leaves every accuracy of the table unchanged."""
    with_flush = _pca_table(monkeypatch, True)
    without = _pca_table(monkeypatch, False)
    assert len(with_flush) > 0 and with_flush.value.notna().all()
    pd.testing.assert_frame_equal(with_flush, without, check_exact=True)
