"""A worker process lives no longer than its driver, and only the driver answers Ctrl-C.

- `follow_driver` (in each worker, first thing): on Linux the kernel sends SIGKILL when the
  driver dies (prctl PR_SET_PDEATHSIG), and a watchdog thread also exits the worker once its
  parent is no longer the driver (the driver killed with `kill -9`, on any POSIX system).
- `sigint_ignored` (in the driver, while workers spawn): they inherit SIGINT ignored, so a
  terminal's Ctrl-C, sent to the whole process group, reaches only the driver; Python installs
  no KeyboardInterrupt handler where SIGINT starts ignored, so no worker prints a traceback.
- `stop_processes` (in the driver, interrupted): SIGTERM to each worker, SIGKILL after a moment.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from typing import Any, Iterator, Sequence

PR_SET_PDEATHSIG = 1
POLL_S = 0.5      # how often a worker's watchdog looks at its parent
STOP_WAIT_S = 1.0  # how long stopped workers get to exit before SIGKILL


def follow_driver(driver: int) -> None:
    """Exit this process when `driver` (its parent) dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != driver:  # the driver died before the line above
        os._exit(1)
    threading.Thread(target=_watch, args=(driver,), name="deepatoms-driver-watch",
                     daemon=True).start()


def _watch(driver: int) -> None:
    while os.getppid() == driver:
        time.sleep(POLL_S)
    os._exit(1)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored inside the block (main thread only; elsewhere nothing changes)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def stop_processes(processes: Sequence[Any], wait_s: float = STOP_WAIT_S) -> None:
    """Terminate `processes` (multiprocessing.Process objects), then kill what is left."""
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            process.terminate()
    deadline = time.monotonic() + wait_s
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AttributeError, AssertionError):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(1.0)
