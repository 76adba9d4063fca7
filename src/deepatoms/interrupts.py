"""Ctrl-C and SIGTERM during `deepatoms run`: stop within a moment and say what was kept.

Inside `catch_signals()` SIGINT raises KeyboardInterrupt and SIGTERM raises
`Terminated`, a KeyboardInterrupt, so both unwind the same way: the store's write in progress
rolls back (each batch of seeds is stored in one transaction, `Store._write`), finished batches
stay, and a rerun loads them from the cache and computes only the rest.

`BatchTally` counts the batches stored during this command (by wrapping the store's
`save_trials`) against those planned, for the line "interrupted: N of M batches stored — rerun
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
              seeds_per_batch: int | None) -> BatchTally:
    """The batches `deepatoms run` will compute for `plans` (cached seeds excluded), counting
    those `store` saves from now on."""
    from .planning import plan_row
    tally = BatchTally()
    for p in plans:
        row = plan_row(p.atom, p.preset, p.params, p.seeds, store, force, device)
        tally.plan(row["to_compute"], seeds_per_batch)
    tally.watch(store)
    return tally


@dataclasses.dataclass
class BatchTally:
    """Batches of seeds stored by this command, against those planned."""
    planned: int = 0
    stored: int = 0

    def plan(self, to_compute: int, seeds_per_batch: int | None) -> None:
        """Add one atom's batches: `to_compute` seeds in batches of `seeds_per_batch` (None:
        all in one batch)."""
        if to_compute > 0:
            self.planned += math.ceil(to_compute / seeds_per_batch) if seeds_per_batch else 1

    def watch(self, store: Any) -> None:
        """Count every successful `store.save_trials` call (one call stores one batch)."""
        save = store.save_trials

        def counted(*args: Any, **kwargs: Any) -> Any:
            out = save(*args, **kwargs)
            self.stored += 1
            return out

        store.save_trials = counted

    def message(self) -> str:
        total = max(self.planned, self.stored)
        return f"interrupted: {self.stored} of {total} batches stored — rerun to resume"
