"""The ledger of a cross-atom prefetch (dispatch.py): the tables its workers computed, kept until
each atom's own run takes them (runner.py). They count as computed by this run, not as cached,
though the driver stored them already."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import pandas as pd

if TYPE_CHECKING:
    from .trials import Trial

# (atom, canonical parameters, code version, device, dtype) -> {seed: (table, seconds)}
Key = tuple[str, str, str, str, str]
LEDGER: dict[Key, dict[int, tuple[pd.DataFrame, float]]] = {}
PLACES: dict[Key, str] = {}  # where each key's trials computed, e.g. "2 worker processes"


def clear() -> None:
    """Forget what an earlier prefetch left untaken."""
    LEDGER.clear()
    PLACES.clear()


def keep(trial: "Trial", tables: dict[int, tuple[pd.DataFrame, float]], where: str = "") -> None:
    """Keep a computed trial's (table, seconds) per seed until its atom's run takes them;
    `where`: the processes that computed it (what the run record names)."""
    LEDGER.setdefault(key_of(trial), {}).update(tables)
    if where:
        PLACES[key_of(trial)] = where


def place(key: Key) -> str:
    """Where the prefetched trials under `key` computed ("" when not recorded)."""
    return PLACES.get(key, "")


def key_of(trial: "Trial") -> Key:
    return (trial.atom, trial.canonical, trial.code_version, trial.device, trial.dtype)


def take(key: Key, seeds: Sequence[int]) -> dict[int, tuple[pd.DataFrame, float]]:
    """The prefetched (table, seconds) of those `seeds` under `key`, removed from the ledger."""
    kept = LEDGER.get(key)
    if not kept:
        return {}
    out = {s: kept.pop(s) for s in seeds if s in kept}
    if not kept:
        LEDGER.pop(key, None)
    return out
