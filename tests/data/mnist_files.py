"""Small MNIST IDX file sets for tests: valid ones, and each way such a set can be malformed."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def idx_bytes(array: np.ndarray, code: int = 0x08, dims: tuple[int, ...] | None = None) -> bytes:
    """`array` as an IDX file; `dims` replaces the header's dimensions (to write a bad one)."""
    dims = array.shape if dims is None else dims
    header = struct.pack(">BBBB", 0, 0, code, len(dims)) + struct.pack(f">{len(dims)}i", *dims)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_mnist(folder: Path, n_train: int = 3, n_test: int = 2) -> Path:
    """The four MNIST files, uint8 28×28 images and labels 0..9."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = NAMES[split]
        (folder / images).write_bytes(idx_bytes(rng.integers(0, 256, (n, 28, 28), np.uint8)))
        (folder / labels).write_bytes(idx_bytes((np.arange(n) % 10).astype(np.uint8)))
    return folder


TRAIN_IMAGES, TRAIN_LABELS = NAMES["train"]
U8 = np.zeros(0, np.uint8)

# name → (file to replace, its new bytes or None to delete it, what the error says)
MALFORMED = {
    "missing images": (TRAIN_IMAGES, None, "missing data file 'train-images-idx3-ubyte'"),
    "missing labels": (NAMES["test"][1], None, "missing data file 't10k-labels-idx1-ubyte'"),
    "bad magic": (TRAIN_IMAGES, b"\x12\x34\x56\x78" + bytes(100), "bad magic"),
    "truncated header": (TRAIN_IMAGES, b"\x00\x00\x08\x03\x00\x00", "truncated header"),
    "dimensions multiply to 0": (TRAIN_IMAGES, idx_bytes(U8, dims=(3, 0, 28)),
                                 "impossible dimensions (3, 0, 28)"),
    "empty training set": (TRAIN_IMAGES, idx_bytes(np.zeros((0, 28, 28), np.uint8)),
                           "hold no images"),
    "negative dimension": (TRAIN_IMAGES, idx_bytes(U8, dims=(-3, 28, 28)),
                           "impossible dimensions (-3, 28, 28)"),
    "255 dimensions": (TRAIN_IMAGES, idx_bytes(U8, dims=(1,) * 255), "255 dimensions"),
    "short data": (TRAIN_IMAGES, idx_bytes(np.zeros((2, 28, 28), np.uint8), dims=(3, 28, 28)),
                   "file has 1568"),
    "8x8 images": (TRAIN_IMAGES, idx_bytes(np.zeros((3, 8, 8), np.uint8)),
                   "expected uint8 (N, 28, 28)"),
    "float images": (TRAIN_IMAGES, idx_bytes(np.zeros((3, 28, 28), np.float32), 0x0D),
                     "expected uint8 (N, 28, 28)"),
    "labels above 9": (TRAIN_LABELS, idx_bytes(np.array([1, 10, 2], np.uint8)),
                       "labels outside 0..9"),
    "NaN labels": (TRAIN_LABELS, idx_bytes(np.array([1, np.nan, 2], np.float32), 0x0D),
                   "expected uint8 (N,)"),
    "2-D labels": (TRAIN_LABELS, idx_bytes(np.zeros((3, 1), np.uint8)), "expected uint8 (N,)"),
    "counts disagree": (TRAIN_LABELS, idx_bytes(np.zeros(4, np.uint8)),
                        "disagree: 3 images, 4 labels"),
    "corrupt gzip": (TRAIN_IMAGES + ".gz", b"not gzip at all", "cannot read"),
}


def write_malformed(folder: Path, case: str) -> str:
    """A valid set with one file replaced as `case` says; returns what the error says."""
    write_mnist(folder)
    name, data, message = MALFORMED[case]
    if name.endswith(".gz"):
        (folder / name[:-3]).unlink()
    if data is None:
        (folder / name).unlink()
    else:
        (folder / name).write_bytes(data)
    return message
