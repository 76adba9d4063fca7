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


def clear() -> None:
    """Forget what an earlier prefetch left untaken."""
    LEDGER.clear()


def keep(trial: "Trial", tables: dict[int, tuple[pd.DataFrame, float]]) -> None:
    """Keep a computed trial's (table, seconds) per seed until its atom's run takes them."""
    LEDGER.setdefault(key_of(trial), {}).update(tables)


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
