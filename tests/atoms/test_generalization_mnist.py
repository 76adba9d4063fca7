"""The MNIST data of distillation, optimizer-minima and pretraining: the fixed validation split, and
the paper presets on tiny gzipped MNIST files (and the error when they are missing)."""
from __future__ import annotations

import gzip
import struct
import numpy as np
import pytest

import deepatoms
from deepatoms.data import images as data
from deepatoms.data.files import DataFileError


def test_validation_split_is_fixed_stratified_and_disjoint():
    full = data.labelled_images("digits", unit=True)
    rest, xv, yv = data.with_validation(full, 0.2)
    again = data.with_validation(full, 0.2)[0]
    assert np.array_equal(rest.x_train, again.x_train)
    assert len(rest.y_train) + len(yv) == len(full.y_train)
    assert 0.0 <= full.x_train.min() and full.x_train.max() <= 1.0
    counts = np.bincount(yv, minlength=10) / np.bincount(full.y_train, minlength=10)
    assert np.all(np.abs(counts - 0.2) < 0.02)
    joined = {r.tobytes() for r in rest.x_train} & {r.tobytes() for r in xv}
    assert len(joined) <= 2   # the digits set has a few duplicate images, no shared rows otherwise


def _write_mnist(folder, n_train=60, n_test=20):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for name, arr in ((f"{split}-images-idx3-ubyte", images), (f"{split}-labels-idx1-ubyte", labels)):
            header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}i", *arr.shape)
            (folder / f"{name}.gz").write_bytes(gzip.compress(header + arr.tobytes()))


SMALL_PAPER = {"distillation": dict(teacher_hidden=(16, 16), student_hidden=(8, 8), teacher_steps=3,
                                    student_steps=3, batch_size=10),
               "optimizer-minima": dict(hidden=(8,), steps=10, batch_size=10, path_examples=30),
               "pretraining": dict(width=8, pretrain_steps=3, steps=20, eval_every=10, batch_size=10)}


@pytest.mark.parametrize("name", sorted(SMALL_PAPER))
def test_paper_presets_read_mnist_files_and_say_so_when_missing(name, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPATOMS_DATA", str(tmp_path / "absent"))
    with pytest.raises(DataFileError, match="does not exist"):
        deepatoms.run(name, preset="paper", seeds=1, device="cpu", **SMALL_PAPER[name])
    _write_mnist(tmp_path)
    monkeypatch.setenv("DEEPATOMS_DATA", str(tmp_path))
    out = deepatoms.run(name, preset="paper", seeds=1, device="cpu", **SMALL_PAPER[name])
    assert np.isfinite(out.table.value.astype(float)).all()
    assert out.params.dataset == "mnist"
