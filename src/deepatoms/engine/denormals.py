"""Flushing denormal floats to zero while a block runs (CPU only).

A saturated sigmoid gives values like e^{-90} ≈ 1e-39, below float32's normal range; CPUs handle
such denormals in microcode, ~90× slower per operation on this project's machines, so a few
saturated models can dominate a population's step. Inside `flushed()` torch's CPU ops read and
write them as zero (x86 FTZ/DAZ, set on the calling thread: with one torch thread, every op of
the block). A denormal changes a sum of normal-sized terms by less than its last bit, so results
change only where such tiny values are all there is; the atoms that use it check their tables.
The setting before the block is restored after it; CUDA tensors are unaffected.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

_TINY = 1e-39  # a float32 denormal


def flushing() -> bool:
    """Whether torch's CPU ops flush denormals now (a denormal times one reads as zero)."""
    return float(torch.tensor([_TINY], dtype=torch.float32).mul(1.0)[0]) == 0.0


@contextlib.contextmanager
def flushed() -> Iterator[None]:
    """Flush denormals to zero inside the block (where the CPU supports it)."""
    before = flushing()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)
