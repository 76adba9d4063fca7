"""(d) The same work idle and beside busy processes, at 1 and at 2 torch threads.

A shared machine is the normal case here. Busy neighbours are `busy` Python processes spinning
in a loop; the work is the atom-scale population training of `population.py` (or any callable).
The slow-down ratio is loaded wall / idle wall, measured in one run. With more runnable threads
than cores, OpenMP's worker threads wait on each other at every parallel region, which is what
makes multi-threaded torch collapse under load.
"""
from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from .flops import torch_threads

SPIN = "import time\nend = time.time() + {limit}\nwhile time.time() < end:\n    pass\n"


@contextmanager
def busy_processes(n: int, limit_s: float = 600.0) -> Iterator[list[subprocess.Popen]]:
    """`n` processes that each keep one core busy (each ends by itself after `limit_s`)."""
    procs = [subprocess.Popen([sys.executable, "-c", SPIN.format(limit=limit_s)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(n)]
    try:
        time.sleep(0.3)  # let them start spinning
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def _timed(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def under_load(work: Callable[[], Any], busy: int = 4,
               threads: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """For each thread count: idle wall, wall beside `busy` spinning processes, their ratio."""
    out: dict[str, Any] = dict(busy_processes=busy, cases=[])
    for t in threads:
        with torch_threads(t):
            work()  # warm-up at this thread count
            idle = _timed(work)
            with busy_processes(busy):
                loaded = _timed(work)
        out["cases"].append(dict(threads=t, idle_s=idle, loaded_s=loaded, slowdown=loaded / idle))
    return out
