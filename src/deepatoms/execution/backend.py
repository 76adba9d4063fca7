"""Where trials compute: the executor a run's options name — this process, a pool of local worker
processes, or Ray tasks (ray_backend.py) — for one atom's trials or for a cross-atom prefetch."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence

from .executors import (ExecOptions, ExecutorError, InProcess, local_pool, registered,
                        set_threads)
from .ray_backend import ray_executor
from .trials import Trial, TrialResult

if TYPE_CHECKING:
    from ..atom import Atom
    from ..lab import Progress


def trial_executor(atom: "Atom", plan: Sequence[Trial], options: ExecOptions, slots: int,
                   progress: "Progress | None" = None) -> Iterator[TrialResult]:
    """The results of `plan` in completion order, from the backend `options` names."""
    if not plan:
        return iter(())
    if options.backend == "ray":
        if not registered(atom):
            raise ExecutorError(f"atom {atom.name} is not the catalog's own object: Ray workers "
                                "find atoms by name; run it with --backend local")
        return _counted(atom, ray_executor(options), plan, progress, "Ray tasks")
    if slots <= 1 or len(plan) == 1:
        set_threads(options.threads or 1)  # 2 threads on 2 shared cores: 10× slower (README)
        return InProcess(atom, progress).map(plan)
    pool = local_pool(slots, options.threads or 1)
    return _counted(atom, pool, plan, progress, f"{slots} workers")


def _counted(atom: "Atom", executor, plan: Sequence[Trial], progress: "Progress | None",
             where: str) -> Iterator[TrialResult]:
    """The executor's results, with a bar over trials (the atom's own bar stays in the worker)."""
    if progress is not None:
        progress.begin(f"{atom.name}: {len(plan)} trials on {where}", len(plan))
    try:
        for result in executor.map(plan):
            if progress is not None:
                progress.advance(1)
            yield result
    finally:
        if progress is not None:
            progress.end()


def pool_executor(options: ExecOptions, slots: int):
    """The executor of a cross-atom prefetch: Ray tasks, or `slots` local worker processes."""
    if options.backend == "ray":
        return ray_executor(options)
    return local_pool(slots, options.threads or 1)
