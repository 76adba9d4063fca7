"""Opt-in reduced precision: `--precision bf16` runs an atom with oneDNN's bf16 math mode.

Every tensor stays float32 (or float64 where the atom asks for it), so each atom runs as
written; float32 matmuls, batched matmuls and convolutions are computed by oneDNN with bfloat16
arithmetic inside (`torch.backends.mkldnn.{matmul,conv}.fp32_precision = "bf16"`). Measured on
the 2-core development CPU (avx512_bf16, one thread): a 2048×512 by 512×512 matmul 2.5× faster,
a 64×256×256 bmm 1.6× faster, max |Δ| ≈ 1e-4 against fp32. (`torch.autocast` to bfloat16 is
faster still, 4.7× on that matmul, but its outputs are bfloat16 tensors that many atoms pass on
to NumPy, which has no bfloat16.) Trials computed this way are stored under their own dtype key,
so they never mix with fp32 trials, and `deepatoms precision-check` reports whether bf16
changes any atom's verdict.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from ..errors import DeepatomsError

PRECISIONS = ("fp32", "bf16")
# The dtype recorded in the store for each precision (the trial key has device and dtype).
STORE_DTYPE = {"fp32": "float32", "bf16": "float32-bf16-math"}


def check_precision(precision: object) -> str:
    if precision not in PRECISIONS:
        raise DeepatomsError(f"unknown precision {precision!r:.40}; allowed: "
                             f"{', '.join(PRECISIONS)}")
    return str(precision)


def check_device(precision: str, device: torch.device) -> None:
    """bf16 math mode is oneDNN's: refuse it for a CUDA run before anything runs."""
    if check_precision(precision) != "fp32" and device.type != "cpu":
        raise DeepatomsError(f"--precision {precision} is CPU-only (oneDNN's bf16 math mode); "
                             f"use --device cpu or --precision fp32")


def precision_of(store_dtype: str) -> str:
    """The precision a trial's stored dtype stands for (a plain dtype: fp32 arithmetic)."""
    return next((k for k, v in STORE_DTYPE.items() if v == store_dtype and k != "fp32"), "fp32")


@contextlib.contextmanager
def math_mode(precision: str, device: torch.device) -> Iterator[None]:
    """The context an atom's run executes in: nothing for fp32; for bf16, oneDNN's bf16 math
    mode for float32 matmuls and convolutions (tensors stay float32, so every atom runs as
    written; the previous mode is restored after). CPU only."""
    if check_precision(precision) == "fp32":
        yield
        return
    check_device(precision, device)
    backends = (torch.backends.mkldnn.matmul, torch.backends.mkldnn.conv)
    before = [b.fp32_precision for b in backends]
    try:
        for b in backends:
            b.fp32_precision = "bf16"
        yield
    finally:
        for b, mode in zip(backends, before):
            b.fp32_precision = mode


def device_key(device: torch.device) -> str:
    """The device part of a trial's key: "cpu" or "cuda:N" (a bare "cuda" is its current GPU)."""
    if device.type == "cuda" and device.index is None:
        return f"cuda:{torch.cuda.current_device()}"
    return str(device)


def dtype_key(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
