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
import gc
import math
import multiprocessing
import os
import sys
from typing import TYPE_CHECKING, Iterator, Sequence

from ..errors import DeepatomsError
from .trials import Trial, TrialFailure, TrialResult, run_trial, setting_groups
from .worker_life import follow_driver, sigint_ignored, stop_processes

if TYPE_CHECKING:
    from ..atom import Atom
    from ..lab import Progress
    from ..params import Params

WORKERS_ENV = "DEEPATOMS_WORKERS"  # the default of --workers (tests set 1: in-process)
BACKENDS = ("local", "ray")
RETRIES = 1
MAX_WORKERS = 1024  # processes or Ray tasks at once (a larger count is a typo, not a cluster)
MAX_THREADS = 1024  # torch threads per worker
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
        if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
            raise DeepatomsError(f"{WORKERS_ENV} must be a whole number from 1 to "
                                 f"{MAX_WORKERS:,}, got {text[:30]!r}")
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
        for name, most in (("workers", MAX_WORKERS), ("threads", MAX_THREADS)):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or not 1 <= value <= most):
                raise DeepatomsError(f"{name} must be a whole number from 1 to {most:,}, "
                                     f"got {str(value)[:30]}")
        if self.address is not None:
            if not isinstance(self.address, str) or not self.address.strip():
                raise DeepatomsError(f"address must be text 'HOST:PORT', got {self.address!r:.40}")
            if self.backend != "ray":
                raise DeepatomsError("--address goes with --backend ray")
        if self.workers is None:
            default_workers()  # a bad DEEPATOMS_WORKERS: one line before anything runs

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


def _init_worker(threads: int, driver: int) -> None:
    follow_driver(driver)
    set_threads(threads)


def spawn_pool(workers: int, threads: int) -> cf.ProcessPoolExecutor:
    """`workers` spawned processes with `threads` torch threads each, that die with this one
    (submit to it inside `spawning()`)."""
    return cf.ProcessPoolExecutor(int(workers), mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_init_worker, initargs=(int(threads), os.getpid()))


def kill_workers(pool: cf.ProcessPoolExecutor) -> None:
    """Stop every worker process of `pool` now (SIGTERM, then SIGKILL): their unfinished work is
    lost."""
    stop_processes(list((getattr(pool, "_processes", None) or {}).values()))


@contextlib.contextmanager
def worker_pool(workers: int, threads: int) -> Iterator[cf.ProcessPoolExecutor]:
    """`spawn_pool` for a `with` block: on any exit its workers are waited for and its queues
    released; on an exception (Ctrl-C, SIGTERM, a dead worker) they are stopped first, their
    unfinished work lost."""
    pool = spawn_pool(workers, threads)
    try:
        yield pool
    except BaseException:
        kill_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def spawning() -> Iterator[None]:
    """While workers spawn: hide the main module's file and spec, so they do not run the
    caller's script again (a script without an `if __name__ == "__main__":` guard would start
    workers of its own), and ignore SIGINT, so they inherit SIGINT ignored (Python then installs
    no KeyboardInterrupt handler): a terminal's Ctrl-C stops the driver, which stops them."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main and k in main.__dict__}
    for key in saved:
        setattr(main, key, None) if key == "__spec__" else delattr(main, key)
    try:
        with sigint_ignored():
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
            self._pool = spawn_pool(self.workers, self.threads)
        return self._pool

    def map(self, trials: Sequence[Trial], settle: bool = False
            ) -> Iterator[TrialResult | TrialFailure]:
        """Results in completion order (`settle`: a trial's exception as a TrialFailure)."""
        todo, attempt = list(trials), 0
        while todo:
            pool = self._fresh()
            with spawning():
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
            except KeyboardInterrupt:  # Ctrl-C, SIGTERM (cli/interrupts.py): workers stop now
                self.stop()
                raise
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def stop(self) -> None:
        """Kill the workers at once (their unfinished trials are lost; finished ones are
        stored) and release the pool's queues."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            kill_workers(pool)
            pool.shutdown(wait=True, cancel_futures=True)
            del pool
            gc.collect()  # the queues' semaphores unlinked now, not reported as leaked later


_POOLS: dict[tuple[int, int], LocalPool] = {}


def local_pool(workers: int, threads: int) -> LocalPool:
    """The process's pool of this size (kept between runs: workers start once)."""
    key = (workers, threads)
    if key not in _POOLS:
        for other in list(_POOLS):  # one pool at a time: the cores are shared
            _POOLS.pop(other).close()
        _POOLS[key] = LocalPool(workers, threads)
    return _POOLS[key]


def stop_pools() -> None:
    """Kill every pool's workers at once (an interrupted command, before it exits)."""
    for pool in _POOLS.values():
        pool.stop()
    _POOLS.clear()


@atexit.register
def _close_pools() -> None:
    for pool in _POOLS.values():
        pool.close()
    _POOLS.clear()
