"""Real data sets from local files, for `paper` presets: MNIST (IDX) and CIFAR-10 (binary).

Nothing is downloaded. Files are looked up in `data_dir` (an explicit directory, else the
`DEEPATOMS_DATA` environment variable). CIFAR-10's python pickle batches are never unpickled
(unpickling runs arbitrary code): only the binary version, `cifar-10-batches-bin`, is read.
A missing or malformed file raises DataFileError, which the CLI prints as one line (exit 2).
"""
from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np

from ..errors import DeepatomsError

ENV = "DEEPATOMS_DATA"
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
CIFAR_DIR = "cifar-10-batches-bin"
CIFAR = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
CIFAR_RECORD = 1 + 3 * 32 * 32
MNIST_SIDE = 28
MAX_IDX_DIMS = 4   # MNIST's files have 1 (labels) or 3 (images)


class DataFileError(DeepatomsError):
    """A data file is missing or not in the expected format."""


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The directory to read data files from: `explicit`, else $DEEPATOMS_DATA (which the CLI's
    `run --data-dir DIR` sets)."""
    if explicit is not None and not str(explicit).strip():
        raise DataFileError("--data-dir needs a directory, got an empty value")
    chosen = explicit if explicit is not None else os.environ.get(ENV)
    if not chosen or not str(chosen).strip():
        raise DataFileError(f"this preset reads local data files: pass --data-dir DIR or set "
                            f"{ENV}=DIR, the directory that holds them")
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise DataFileError(f"data directory '{path}' does not exist")
    return path


def _find(root: Path, name: str) -> Path:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DataFileError(f"missing data file '{name}' (or '{name}.gz') in '{root}'")


def _read_bytes(path: Path) -> bytes:
    try:
        return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataFileError(f"cannot read '{path}': {exc}") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An IDX file (the MNIST format: magic 0x0000TTNN, NN big-endian int32 dims, then data)."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DataFileError(f"'{path}' is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or ndim > MAX_IDX_DIMS:
        raise DataFileError(f"'{path}' is not an IDX file ({ndim} dimensions; allowed 1 to "
                            f"{MAX_IDX_DIMS})")
    if len(raw) < header:
        raise DataFileError(f"'{path}' is not an IDX file (truncated header)")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    if any(d < 0 for d in dims) or any(d == 0 for d in dims[1:]):
        raise DataFileError(f"'{path}': header has impossible dimensions {dims}")
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = math.prod(dims) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataFileError(f"'{path}': header says {dims} ({expected} bytes of data), "
                            f"file has {len(raw) - header}")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def load_mnist(root: str | os.PathLike | None = None, split: str = "train"
               ) -> tuple[np.ndarray, np.ndarray]:
    """x (N, 28, 28) uint8, y (N,) int64 from the four standard MNIST IDX files: unsigned-byte
    images of 28×28 pixels, at least one, and as many unsigned-byte labels in 0..9."""
    base = data_dir(root)
    (images, image_path), (labels, label_path) = (
        (read_idx(found), found) for found in (_find(base, name) for name in MNIST[split]))
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (MNIST_SIDE,) * 2:
        raise DataFileError(f"'{image_path}' is not MNIST images: {images.dtype} "
                            f"{images.shape}, expected uint8 (N, 28, 28)")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataFileError(f"'{label_path}' is not MNIST labels: {labels.dtype} "
                            f"{labels.shape}, expected uint8 (N,)")
    if len(images) == 0:
        raise DataFileError(f"MNIST {split} files in '{base}' hold no images")
    if len(images) != len(labels):
        raise DataFileError(f"MNIST {split} files in '{base}' disagree: {len(images)} images, "
                            f"{len(labels)} labels")
    if labels.max() > 9:
        raise DataFileError(f"'{label_path}': labels outside 0..9 (largest {labels.max()})")
    return images, labels.astype(np.int64)


def check_mnist(root: str | os.PathLike | None = None) -> None:
    """Both MNIST splits in `root` (else $DEEPATOMS_DATA) load: a DataFileError otherwise."""
    for split in MNIST:
        load_mnist(root, split)


def load_cifar10(root: str | os.PathLike | None = None, split: str = "train"
                 ) -> tuple[np.ndarray, np.ndarray]:
    """x (N, 3, 32, 32) uint8, y (N,) int64 from `cifar-10-batches-bin` (records of one label
    byte and 3,072 pixel bytes)."""
    base = data_dir(root)
    folder = base / CIFAR_DIR if (base / CIFAR_DIR).is_dir() else base
    xs, ys = [], []
    for name in CIFAR[split]:
        path = _find(folder, name)
        raw = np.frombuffer(_read_bytes(path), np.uint8)
        if raw.size == 0 or raw.size % CIFAR_RECORD:
            raise DataFileError(f"'{path}' is not a CIFAR-10 binary batch "
                                f"({raw.size} bytes is not a multiple of {CIFAR_RECORD})")
        records = raw.reshape(-1, CIFAR_RECORD)
        if records[:, 0].max() > 9:
            raise DataFileError(f"'{path}': labels outside 0..9 (is this CIFAR-100?)")
        ys.append(records[:, 0].astype(np.int64))
        xs.append(records[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(xs), np.concatenate(ys)
