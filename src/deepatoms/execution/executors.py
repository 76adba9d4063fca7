"""Executors: where trials compute. Each yields `TrialResult`s in completion order; only the
caller (the driver) writes the store.

- `InProcess`: one after another in this process (the atom's progress goes to the bar).
- `LocalPool`: `workers` spawned processes, each with `threads` torch threads. A worker that
  dies mid-trial (killed, out of memory) breaks the pool: a fresh pool retries the unfinished
  trials, `retries` times, then the run fails with one line (finished trials are stored already,
  so running again resumes). The pool is kept for the next run of this process.
- Ray: `ray_backend.RayExecutor` (the `ray` extra).

Workers compare their own code version of the atom with the driver's and refuse a trial on a
mismatch (the files changed under the run, or a cluster has other code).
"""
from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import dataclasses
import math
import multiprocessing
import os
import sys
from typing import TYPE_CHECKING, Iterator, Sequence

from ..errors import DeepatomsError
from .trials import Trial, TrialFailure, TrialResult, run_trial, setting_groups

if TYPE_CHECKING:
    from ..atom import Atom
    from ..lab import Progress
    from ..params import Params

WORKERS_ENV = "DEEPATOMS_WORKERS"  # the default of --workers (tests set 1: in-process)
BACKENDS = ("local", "ray")
RETRIES = 1
# With the default --workers, a run estimated under this many seconds stays in this process, and
# so does any run while the machine is busy (load average >= cores): each spawned worker first
# imports torch and the atoms (≈ 4 CPU-seconds), and smaller populations cost more per model.
# Measured on the shared 2-core machine, universal-approximation at default (15 s in-process):
# 2 workers took 25-31 s wall and 25-29 CPU-s against 15 CPU-s (README).
PARALLEL_MIN_S = 60.0


class ExecutorError(DeepatomsError):
    """A backend cannot run the trials: Ray missing or unreachable, a worker lost, a code
    version mismatch. One line, exit code 2."""


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    text = os.environ.get(WORKERS_ENV, "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise DeepatomsError(f"{WORKERS_ENV} must be a whole number >= 1, got {text!r}")
        return int(text)
    return cores()


@dataclasses.dataclass(frozen=True)
class ExecOptions:
    """How trials run: `backend` local or ray; `workers` processes (None: DEEPATOMS_WORKERS,
    else the number of cores, used only for runs estimated over PARALLEL_MIN_S); `threads`
    torch threads per worker, this process included when it computes (None: 1); `address` of a Ray
    cluster (None: a private local one); `precision` fp32, or bf16 autocast (precision.py)."""
    backend: str = "local"
    workers: int | None = None
    threads: int | None = None
    address: str | None = None
    precision: str = "fp32"

    def __post_init__(self) -> None:
        from .precision import check_precision  # torch: imported when used
        check_precision(self.precision)
        if self.backend not in BACKENDS:
            raise DeepatomsError(f"unknown backend {self.backend!r}; allowed: local, ray")
        for name in ("workers", "threads"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 1):
                raise DeepatomsError(f"{name} must be a whole number >= 1, got {value!r}")
        if self.address is not None and self.backend != "ray":
            raise DeepatomsError("--address goes with --backend ray")

    def slots(self, atom: "Atom", params: "Params", n_seeds: int) -> int:
        """How many trials of this run may compute at once (1: in this process)."""
        if self.backend == "ray":
            return self.workers or default_workers()
        workers = self.workers or default_workers()
        if workers <= 1 or not registered(atom) or atom.timing_metrics:
            return 1  # an atom that measures wall time is timed alone, in this process
        if self.workers is None:
            from .estimates import estimate_s
            if estimate_s(atom, params, n_seeds) < PARALLEL_MIN_S or busy():
                return 1
        return workers

    def layout(self, atom: "Atom", params: "Params", n_seeds: int,
               seeds_per_batch: int | None) -> tuple[list["Params"], int | None, int]:
        """(setting groups, seeds per batch, slots). Trials in parallel only; then batches of
        seeds first (balanced, each population as large as the slots allow), and setting
        groups too when there are fewer seeds than slots."""
        slots = self.slots(atom, params, n_seeds)
        if slots <= 1:
            return [params], seeds_per_batch, slots
        groups = setting_groups(atom, params) if n_seeds < slots else [params]
        size = seeds_per_batch
        if size is None:
            size = math.ceil(n_seeds / min(n_seeds, math.ceil(slots / len(groups))))
        return groups, size, slots


def registered(atom: "Atom") -> bool:
    """Workers find atoms by name: only the catalog's own atom objects can leave this process."""
    from .. import registry
    return registry.all_atoms().get(atom.name) is atom


def busy() -> bool:
    """The cores are taken already: more processes would only add their start-up."""
    try:
        return os.getloadavg()[0] >= cores()
    except (AttributeError, OSError):
        return False


def set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch
        torch.set_num_threads(int(threads))


def checked_trial(trial: Trial, settle: bool = False) -> TrialResult | TrialFailure:
    """A worker's entry: refuse a trial of other code, then compute it. `settle`: an
    exception is returned as a TrialFailure instead of raised."""
    from .. import registry
    try:
        mine = registry.get(trial.atom).code_version
        if mine != trial.code_version:
            raise ExecutorError(f"code version mismatch for {trial.atom}: the driver has "
                                f"{trial.code_version}, this worker {mine}; install the same "
                                "deepatoms on every worker")
        return run_trial(trial)
    except Exception as exc:
        if not settle:
            raise
        return TrialFailure(trial, f"{type(exc).__name__}: {' '.join(str(exc).split())}")


class InProcess:
    """Trials one after another in this process, with the atom object the runner holds."""

    def __init__(self, atom: "Atom", progress: "Progress | None" = None):
        self.atom, self.progress = atom, progress

    def map(self, trials: Sequence[Trial]) -> Iterator[TrialResult]:
        for trial in trials:
            yield run_trial(trial, self.atom, self.progress)


def _init_worker(threads: int) -> None:
    set_threads(threads)


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """Spawned workers need only deepatoms' modules: while they start, hide the main module's
    file and spec, so they do not run the caller's script again (a script without an
    `if __name__ == "__main__":` guard would start workers of its own)."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main and k in main.__dict__}
    for key in saved:
        setattr(main, key, None) if key == "__spec__" else delattr(main, key)
    try:
        yield
    finally:
        for key, value in saved.items():
            setattr(main, key, value)


class LocalPool:
    """`workers` spawned processes with `threads` torch threads each."""

    def __init__(self, workers: int, threads: int = 1, retries: int = RETRIES):
        self.workers, self.threads, self.retries = int(workers), int(threads), int(retries)
        self._pool: cf.ProcessPoolExecutor | None = None

    def _fresh(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(self.threads,))
        return self._pool

    def map(self, trials: Sequence[Trial], settle: bool = False
            ) -> Iterator[TrialResult | TrialFailure]:
        """Results in completion order (`settle`: a trial's exception as a TrialFailure)."""
        todo, attempt = list(trials), 0
        while todo:
            pool = self._fresh()
            with _main_hidden():
                futures = {pool.submit(checked_trial, t, settle): t for t in todo}
            try:
                for future in cf.as_completed(futures):
                    result = future.result()
                    todo.remove(futures[future])
                    yield result
            except cf.process.BrokenProcessPool:
                self.close()
                attempt += 1
                if attempt > self.retries:
                    raise ExecutorError(
                        f"a worker process died while computing {todo[0].label()} (tried "
                        f"{attempt} times); finished trials are stored: run again to resume"
                    ) from None
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


_POOLS: dict[tuple[int, int], LocalPool] = {}


def local_pool(workers: int, threads: int) -> LocalPool:
    """The process's pool of this size (kept between runs: workers start once)."""
    key = (workers, threads)
    if key not in _POOLS:
        for other in list(_POOLS):  # one pool at a time: the cores are shared
            _POOLS.pop(other).close()
        _POOLS[key] = LocalPool(workers, threads)
    return _POOLS[key]


@atexit.register
def _close_pools() -> None:
    for pool in _POOLS.values():
        pool.close()
    _POOLS.clear()
