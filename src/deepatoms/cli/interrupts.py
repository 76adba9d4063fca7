"""Ctrl-C and SIGTERM during `deepatoms run`: stop within a moment and say what was kept.

Inside `catch_signals()` SIGINT raises KeyboardInterrupt and SIGTERM raises
`Terminated`, a KeyboardInterrupt, so both unwind the same way: the store's write in progress
rolls back (each batch of seeds is stored in one transaction, `Store._write`), finished batches
stay, and a rerun loads them from the cache and computes only the rest.

`BatchTally` counts the batches this command planned and, read back from the store, those now
stored, for the line "interrupted: N of M batches stored — rerun
to resume". Exit codes follow the shell's convention: 128 + the signal (130 SIGINT, 143 SIGTERM).
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
from typing import Any, Iterator

SIGINT_EXIT = 128 + signal.SIGINT    # 130
SIGTERM_EXIT = 128 + signal.SIGTERM  # 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is (like Ctrl-C's KeyboardInterrupt)."""


def exit_code(exc: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM."""
    return SIGTERM_EXIT if isinstance(exc, Terminated) else SIGINT_EXIT


@dataclasses.dataclass
class _State:
    signal: int | None = None   # the last SIGINT/SIGTERM received inside `catch_signals`
    reported: bool = False      # a command already printed its "interrupted: ..." line


state = _State()


def _raise(signum: int, frame: Any) -> None:
    state.signal = signum
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


@contextlib.contextmanager
def catch_signals() -> Iterator[_State]:
    """Within the block SIGINT raises KeyboardInterrupt and SIGTERM `Terminated`, and `state`
    records which came (main thread only; elsewhere signals are left alone)."""
    state.signal, state.reported = None, False
    try:
        previous = {s: signal.signal(s, _raise) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield state
        return
    try:
        yield state
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def tally_for(plans: list[Any], store: Any, force: bool, device: str,
              seeds_per_batch: int | None) -> "BatchTally":
    """The batches `deepatoms run` will compute for `plans` (cached seeds excluded)."""
    tally = BatchTally(store=store, device=device, seeds_per_batch=seeds_per_batch, force=force)
    if force:
        tally.watch()
    for p in plans:
        seeds = tuple(range(p.atom.default_seeds)) if p.seeds == "auto" else tuple(p.seeds)
        cached = () if force else tally.cached(p, seeds)
        todo = tuple(s for s in seeds if s not in cached)
        tally.todo.append((p, todo))
        tally.planned += batches(len(todo), seeds_per_batch)
    return tally


def batches(n_seeds: int, seeds_per_batch: int | None) -> int:
    """How many batches `n_seeds` seeds take (None: all in one)."""
    if n_seeds <= 0:
        return 0
    return math.ceil(n_seeds / seeds_per_batch) if seeds_per_batch else 1


@dataclasses.dataclass
class BatchTally:
    """The batches of seeds this command plans to compute, and (read back from the store when
    asked) how many of them are stored. Batches are stored whole, in order, each in one
    transaction, so the stored seeds of an atom make ⌈stored / batch size⌉ whole batches."""
    store: Any
    device: str = "auto"
    seeds_per_batch: int | None = None
    force: bool = False
    planned: int = 0
    saved: int = 0
    todo: list = dataclasses.field(default_factory=list)

    def cached(self, plan: Any, seeds: tuple[int, ...]) -> tuple[int, ...]:
        from ..execution.planning import cached_seeds
        return cached_seeds(plan.atom, plan.params, seeds, self.store, self.device)

    def stored(self) -> int:
        """Batches of the plan now in the store (with --force, where every trial was stored
        before, those saved by this command)."""
        if self.force:
            return self.saved
        return sum(batches(len(self.cached(plan, todo)), self.seeds_per_batch)
                   for plan, todo in self.todo if todo)

    def watch(self) -> None:
        """Count this command's `save_trials` calls (one call stores one batch)."""
        save = self.store.save_trials

        def counted(*args: Any, **kwargs: Any) -> Any:
            out = save(*args, **kwargs)
            self.saved += 1
            return out

        self.store.save_trials = counted

    def message(self) -> str:
        try:
            stored = self.stored()
        except Exception:  # the store cannot be read now: say what is known
            return f"interrupted: {self.planned} batches planned — rerun to resume"
        return f"interrupted: {stored} of {max(self.planned, stored)} batches stored — rerun to resume"


def stop_workers() -> None:
    """Kill this process's worker processes now (an interrupted command does not wait for
    their trials; those not stored are computed again by the rerun)."""
    import sys
    executors = sys.modules.get("deepatoms.execution.executors")  # not imported: no workers
    if executors is not None:
        executors.stop_pools()


def quiet() -> None:
    """Ignore further SIGINT/SIGTERM while the interrupted command reports and exits."""
    for s in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(s, signal.SIG_IGN)
        except ValueError:
            pass
