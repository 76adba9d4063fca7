"""Timing of the architecture atoms that measure speed (tensor-calculus-hessians,
lightweight-convolution): the best of a few calls on one torch thread, CPU time of the calling
thread on the CPU, wall-clock after synchronising on CUDA."""
from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator

import torch


def _clock(device: torch.device) -> Callable[[], float]:
    """CPU time of the calling thread on the CPU (with one torch thread: the compute itself, not
    the time other processes on shared cores took); wall-clock after synchronising on CUDA."""
    if device.type == "cuda":
        def wall() -> float:
            torch.cuda.synchronize(device)
            return time.perf_counter()
        return wall
    return time.thread_time


@contextlib.contextmanager
def one_thread(device: torch.device) -> Iterator[None]:
    """torch on one intra-op thread while timing on the CPU (restored afterwards)."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def timed(fn: Callable[[], torch.Tensor], device: torch.device, repeats: int,
          budget_s: float) -> tuple[float, torch.Tensor]:
    """(best time of up to `repeats` calls, stopping once `budget_s` is spent, the result)."""
    clock = _clock(device)
    best, out, spent = float("inf"), None, 0.0
    with one_thread(device):
        for _ in range(repeats):
            start = clock()
            out = fn()
            elapsed = clock() - start
            best, spent = min(best, elapsed), spent + elapsed
            if spent > budget_s:
                break
    return best, out
