"""The paper presets' MNIST path on tiny stand-in IDX files (random-labels, sharp-minima,
loss-interpolation, the robustness atoms), and the one-line error without data."""
from __future__ import annotations

import struct
import numpy as np
import pytest

import deepatoms
from deepatoms.data.images import image_data
from deepatoms.data.files import DataFileError
from .mnist_files import _idx


def test_paper_preset_without_data_is_a_one_line_error(monkeypatch):
    monkeypatch.delenv("DEEPATOMS_DATA", raising=False)
    with pytest.raises(DataFileError, match="DEEPATOMS_DATA") as err:
        image_data("mnist")
    assert "\n" not in str(err.value)


def _write_mnist(folder, n_train=120, n_test=40):
    """Tiny files in the MNIST IDX format (random pixels and labels)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        for kind, arr in (("images-idx3", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                          ("labels-idx1", rng.integers(0, 10, n).astype(np.uint8))):
            header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(
                f">{arr.ndim}i", *arr.shape)
            (folder / f"{split}-{kind}-ubyte").write_bytes(header + arr.tobytes())


PAPER_SHRUNK = {  # the paper presets on tiny files: their data path, not their scale
    "random-labels": dict(width=8, max_steps=10, record_every=5, corruptions=(),
                          input_kinds=("random pixels",), batch_size=16),
    "sharp-minima": dict(hidden=(8,), small_batch=4, max_epochs=1, random_dims=3,
                         power_iterations=2, lbfgs_iterations=2, line_points=3),
    "loss-interpolation": dict(hidden=(8,), steps=10, points=5, batch_size=16),
}


@pytest.mark.parametrize("name", sorted(PAPER_SHRUNK))
def test_paper_presets_read_mnist_files(name, tmp_path, monkeypatch):
    _write_mnist(tmp_path)
    monkeypatch.setenv("DEEPATOMS_DATA", str(tmp_path))
    out = deepatoms.run(name, preset="paper", seeds=1, device="cpu", **PAPER_SHRUNK[name])
    assert out.verdict.scale == "reduced" and len(out.table) > 0
    assert np.isfinite(out.table.value.to_numpy(float)).all()


def _fake_mnist(tmp_path, n=30):
    rng = np.random.default_rng(0)
    for split in ("train", "t10k"):
        (tmp_path / f"{split}-images-idx3-ubyte").write_bytes(_idx(rng.integers(0, 256, (n, 28, 28))))
        (tmp_path / f"{split}-labels-idx1-ubyte").write_bytes(_idx(np.arange(n) % 10))


@pytest.mark.parametrize("name, overrides", [
    ("adversarial-examples", dict(steps=3, batch_size=16, hidden=(8,), eps=(0.1, 0.25),
                                  lbfgs_images=2, lbfgs_rounds=1)),
    ("fooling-images", dict(steps=3, batch_size=16, hidden=(8,), ascent_steps=3,
                            generations=3, offspring=2)),
    ("saliency-fragility", dict(steps=3, batch_size=16, images=2, attack_steps=1, eps=(8 / 255, 32 / 255),
                                ig_steps=2, channels=(2, 2))),
])
def test_the_mnist_path_of_the_paper_presets_runs(tmp_path, monkeypatch, name, overrides):
    """The paper presets read MNIST (28 × 28) from DEEPATOMS_DATA: on tiny stand-in files the
    same code path runs end to end (the real files are not on this machine)."""
    _fake_mnist(tmp_path)
    monkeypatch.setenv("DEEPATOMS_DATA", str(tmp_path))
    out = deepatoms.run(name, preset="paper", seeds=[0], device="cpu", **overrides)
    assert len(out.table) and out.verdict.status in ("reproduced", "not reproduced", "inconclusive")
    assert out.verdict.scale == "reduced"
