"""engine/alloc.py: freed large blocks stay with the process (glibc), so tensors above glibc's
mmap threshold stop costing fresh zero-filled pages on every allocation."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

SCRIPT = """
import resource, torch
from deepatoms.engine.alloc import keep_freed_memory
applied, again = keep_freed_memory(), keep_freed_memory()
x = torch.ones(9_000_000)  # 36 MB: above the 32 MiB ceiling of glibc's mmap threshold
for _ in range(15):  # the heap settles (grows past small blocks placed after the big one)
    (x * 2).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    (x * 2).sum()
print(applied, again, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="glibc only")


def _run(**env: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         check=True, env={**os.environ, **env})
    return out.stdout.split()


@glibc
def test_freed_memory_is_reused_instead_of_faulting_fresh_pages():
    plain = _run(DEEPATOMS_MALLOC="system")  # the environment leaves malloc alone
    kept = _run()
    assert plain[:2] == ["False", "False"]
    assert kept[:2] == ["True", "True"]  # applied, and a second call says so too
    # without it every 36 MB temporary is a fresh mmap: ~8,800 faults each, 20 of them
    assert int(plain[2]) > 20 * 4_000
    assert int(kept[2]) < int(plain[2]) / 4  # measured: 0 once the heap has settled
