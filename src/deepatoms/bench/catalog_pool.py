"""The counting pass of `bench --catalog`: each atom's stored run computed again under the FLOP
recorder and its layouts replayed, in spawned worker processes (1 torch thread each, dying with
this process), one atom per task, the longest (by the seconds the store says it computed)
first. Results come back in completion order to `finished`, which keeps them."""
from __future__ import annotations

import concurrent.futures as cf
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .flops import TRIAL_THREADS

if TYPE_CHECKING:
    from ..lab import Progress
    from .catalog import Task


def atom_bound(task: "Task") -> dict[str, Any]:
    """The FLOPs and bound of `task`'s run (same preset, parameters and seeds; no store), replayed
    at the threads its trials ran at; an exception comes back as `error`."""
    from ..api import run
    from ..lab import Lab, NoProgress
    from .flops import count_and_bound
    start = time.perf_counter()
    gen = Lab((0,), "cpu").torch_generator(0, "bench", "replay")

    def work() -> None:
        run(task.atom, preset=task.preset, seeds=task.seeds, device=task.device, store=None,
            workers=1, threads=task.threads, progress=NoProgress(), **task.params)

    try:
        out = count_and_bound(work, gen, task.threads)
    except Exception as exc:  # one atom's failure is its row, not the pass's end
        return dict(error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
                    count_s=time.perf_counter() - start)
    return dict(out, count_s=time.perf_counter() - start)


def _weight(task: "Task") -> int:
    """A task's share of the progress bar: the seconds its run computed (at least 1)."""
    return max(int(round(task.computed_s or 0.0)), 1)


def compute(tasks: Sequence["Task"], workers: int,
            finished: Callable[["Task", dict[str, Any]], None],
            progress: "Progress | None" = None) -> None:
    """Count `tasks` on `workers` processes, longest first; `finished(task, row)` as each ends.
    The bar's total is the tasks' stored compute seconds, so its estimate weighs atoms by cost."""
    if not tasks:
        return
    from ..execution.executors import spawning, worker_pool
    order = sorted(tasks, key=lambda t: -(t.computed_s or 0.0))
    if progress is not None:
        progress.begin(f"FLOP bound of {len(order)} atoms on {workers} workers (computed s)",
                       sum(_weight(t) for t in order))
    try:  # Ctrl-C, SIGTERM, a dead worker: worker_pool stops the others at once
        with worker_pool(workers, TRIAL_THREADS) as pool:
            with spawning():
                futures = {pool.submit(atom_bound, t): t for t in order}
            for future in cf.as_completed(futures):
                task = futures[future]
                finished(task, _row(task, future.result()))
                if progress is not None:
                    progress.advance(_weight(task))
    finally:
        if progress is not None:
            progress.end()


def _row(task: "Task", out: dict[str, Any]) -> dict[str, Any]:
    """One atom's result: what ran, what the store says it cost, its FLOPs, bound and ratio."""
    row = dict(family=task.family, preset=task.preset, scale=task.scale, run_id=task.run_id,
               seeds=list(task.seeds), canonical=task.canonical, code_version=task.code_version,
               run_code_version=task.run_code_version, computed_s=task.computed_s,
               computed_on=task.computed_on, computed_threads=task.threads, **out)
    bound_s = row.get("bound_s")
    row["ratio"] = (task.computed_s / bound_s
                    if bound_s and task.computed_s is not None else None)
    return row
