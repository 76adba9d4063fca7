"""Local data loaders (MNIST IDX, CIFAR-10 binary) on small files in those formats written here."""
from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pytest

from deepatoms.data.files import (CIFAR_DIR, DataFileError, data_dir, load_cifar10, load_mnist,
                                  read_idx)


def _idx(array: np.ndarray, code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _mnist(tmp_path, n=5, gz=False, split="t10k"):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    for name, arr in ((f"{split}-images-idx3-ubyte", images), (f"{split}-labels-idx1-ubyte", labels)):
        data = _idx(arr)
        if gz:
            (tmp_path / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (tmp_path / name).write_bytes(data)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_round_trip(tmp_path, gz):
    images, labels = _mnist(tmp_path, gz=gz)
    x, y = load_mnist(tmp_path, "test")
    assert x.shape == (5, 28, 28) and x.dtype == np.uint8 and np.array_equal(x, images)
    assert y.dtype == np.int64 and np.array_equal(y, labels)


def test_idx_reads_big_endian_floats(tmp_path):
    arr = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    (tmp_path / "f.idx").write_bytes(_idx(arr, 0x0D))
    out = read_idx(tmp_path / "f.idx")
    assert out.dtype == np.float32 and np.array_equal(out, arr)


@pytest.mark.parametrize("data, message", [
    (b"\x01\x02\x03", "bad magic"),
    (b"\x00\x00\x08\x02\x00\x00", "truncated header"),
    (struct.pack(">BBBBii", 0, 0, 8, 2, 2, 2) + b"\x00\x01\x02", "file has 3"),
])
def test_malformed_idx_is_one_clear_error(tmp_path, data, message):
    (tmp_path / "bad").write_bytes(data)
    with pytest.raises(DataFileError, match=message):
        read_idx(tmp_path / "bad")


def test_missing_files_and_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPATOMS_DATA", raising=False)
    with pytest.raises(DataFileError, match="set DEEPATOMS_DATA=DIR"):
        data_dir(None)
    with pytest.raises(DataFileError, match="does not exist"):
        data_dir(tmp_path / "nope")
    with pytest.raises(DataFileError, match="missing data file 't10k-images-idx3-ubyte'"):
        load_mnist(tmp_path, "test")
    monkeypatch.setenv("DEEPATOMS_DATA", str(tmp_path))
    assert data_dir(None) == tmp_path


def _cifar(folder, n=4, labels_max=9):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, labels_max + 1, n).astype(np.uint8)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    (folder / "test_batch.bin").write_bytes(np.column_stack([labels, pixels]).tobytes())
    return labels, pixels


def test_cifar_binary_round_trip(tmp_path):
    folder = tmp_path / CIFAR_DIR
    folder.mkdir()
    labels, pixels = _cifar(folder)
    x, y = load_cifar10(tmp_path, "test")
    assert x.shape == (4, 3, 32, 32) and np.array_equal(x.reshape(4, -1), pixels)
    assert np.array_equal(y, labels)


def test_cifar_malformed_and_wrong_labels(tmp_path):
    (tmp_path / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DataFileError, match="not a multiple of 3073"):
        load_cifar10(tmp_path, "test")
    _cifar(tmp_path, labels_max=99)
    with pytest.raises(DataFileError, match="CIFAR-100"):
        load_cifar10(tmp_path, "test")


def test_digits_split_fixed_stratified_and_standardised():
    from deepatoms.data.digits_split import digits_split
    a, b = digits_split(), digits_split()
    assert np.array_equal(a.train_index, b.train_index)          # fixed: the same every call
    assert len(a.y_train) + len(a.y_test) == 1797
    assert not set(a.train_index) & set(a.test_index)
    counts = np.bincount(a.y_train, minlength=10) / np.bincount(np.r_[a.y_train, a.y_test])
    assert np.all(np.abs(counts - 0.7) < 0.01)                   # 70/30 in every class
    assert np.allclose(a.x_train.mean(axis=0), 0, atol=1e-5)
    other = digits_split(np.random.default_rng(1))
    assert not np.array_equal(other.train_index, a.train_index)
    unit = digits_split(unit=True)
    assert unit.x_train.min() >= 0 and unit.x_train.max() <= 1
    assert a.images().shape == (len(a.y_train), 1, 8, 8)


def test_cli_data_dir_is_checked_before_anything_runs(tmp_path, monkeypatch):
    from typer.testing import CliRunner
    from deepatoms.cli import app
    monkeypatch.setenv("DEEPATOMS_DATA", "")  # recorded, so the CLI's setting is undone after
    monkeypatch.delenv("DEEPATOMS_DATA")
    store = tmp_path / "runs"
    missing = CliRunner().invoke(app, ["run", "random-labels", "--preset", "paper", "--data-dir",
                                       str(tmp_path / "absent"), "--store", str(store)])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    assert len(missing.output.strip().splitlines()) == 1 and not store.exists()
    empty = CliRunner().invoke(app, ["run", "random-labels", "--preset", "paper", "--data-dir",
                                     str(tmp_path), "--store", str(store), "--dry-run"])
    assert empty.exit_code == 2 and "missing data file" in empty.output  # checked, even dry
    write_mnist(tmp_path)
    plan = CliRunner().invoke(app, ["run", "random-labels", "--preset", "paper", "--data-dir",
                                    str(tmp_path), "--store", str(store), "--dry-run"])
    assert plan.exit_code == 0, plan.output
    import os
    assert os.environ["DEEPATOMS_DATA"] == str(tmp_path)  # what the paper preset's loader reads


# ---------------------------------------------------------------- malformed MNIST sets
from tests.data.mnist_files import MALFORMED, write_malformed, write_mnist  # noqa: E402

from deepatoms.data.files import check_mnist  # noqa: E402


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_every_malformed_mnist_set_is_one_data_file_error(tmp_path, case):
    message = write_malformed(tmp_path, case)
    with pytest.raises(DataFileError, match=re.escape(message)) as err:
        check_mnist(tmp_path)
    assert "\n" not in str(err.value)


def test_a_valid_small_mnist_set_passes_the_check(tmp_path):
    check_mnist(write_mnist(tmp_path))
    x, y = load_mnist(tmp_path, "train")
    assert x.shape == (3, 28, 28) and y.tolist() == [0, 1, 2]


def test_an_empty_data_dir_is_not_the_current_directory(tmp_path, monkeypatch):
    write_mnist(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEEPATOMS_DATA", raising=False)
    for empty in ("", " "):
        with pytest.raises(DataFileError, match="--data-dir needs a directory"):
            data_dir(empty)
