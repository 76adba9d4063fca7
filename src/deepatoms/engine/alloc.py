"""Keep freed memory in the process, so large tensors do not cost fresh pages on every op.

glibc's malloc serves every allocation above its mmap threshold (at most 32 MiB) with a fresh
`mmap` and gives it back with `munmap` on free; the kernel then zero-fills each 4 KiB page on first
touch. A population whose activations are just above that size (class-imbalance: 70 MLPs × 1,200
points × 100 units = 33.6 MB per layer) paid ~68,000 page faults per training step, and sigmoid
ran 8× slower than on warm memory. `keep_freed_memory()` turns the mmap path off
(M_MMAP_MAX = 0: large blocks come from the heap, and glibc still falls back to mmap if the heap
cannot grow) and keeps up to `TRIM_BYTES` of freed memory at the top of the heap instead of giving
it back, so the next step reuses warm pages. The cost: the process keeps up to its peak heap
size (plus fragmentation) until it exits.

The runner calls it once per process before an atom computes; it does nothing off glibc, when
already applied, or when DEEPATOMS_MALLOC=system asks to leave the allocator alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
M_MMAP_MAX = -4
TRIM_BYTES = 1 << 30  # freed memory up to 1 GiB stays with the process
ENV = "DEEPATOMS_MALLOC"

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the settings above once; True if they are in effect in this process."""
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply() -> bool:
    if os.environ.get(ENV, "").strip().lower() == "system":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))
