"""The dry-run plan: what `deepatoms run` would compute — parameters, seeds, which are cached —
without training (estimates.py gives the time; `plan_total` the whole run's, with the atoms that
a cross-atom prefetch runs side by side on the workers)."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Sequence

from .estimates import estimate_s, schedule_s

if TYPE_CHECKING:
    from ..atom import Atom
    from ..params import Params
    from ..store.database import Store
    from .executors import ExecOptions


def cached_seeds(atom: "Atom", params: "Params", seeds: Sequence[int],
                 store: "Store | None", device: str = "auto") -> tuple[int, ...]:
    """The seeds whose trials the store already holds for this atom, parameters, code, device
    and dtype (float32, the only one runs use)."""
    if store is None or not seeds:
        return ()
    from ..lab import resolve_device
    from .precision import device_key
    found = store.load_trials(atom.name, params.canonical(), atom.code_version, tuple(seeds),
                              device_key(resolve_device(device)), "float32")
    return tuple(s for s in seeds if s in found)


def plan_row(atom: "Atom", preset: str, params: "Params", seeds: Any, store: "Store | None",
             force: bool = False, device: str = "auto") -> dict[str, Any]:
    """One atom of a dry run: its parameters, seeds, which are cached and the time to compute.
    `seeds="auto"` plans the starting seeds (more may follow while the verdict is undecided)."""
    planned = tuple(range(atom.default_seeds)) if seeds == "auto" else tuple(seeds)
    cached = () if force else cached_seeds(atom, params, planned, store, device)
    todo = len(planned) - len(cached)
    return {"atom": atom.name, "preset": preset, "params": params.to_dict(),
            "changed": _changed(atom, params), "seeds": list(planned), "auto": seeds == "auto",
            "cached_seeds": list(cached), **todo_row(atom, params, todo)}


def todo_row(atom: "Atom", params: "Params", todo: int) -> dict[str, Any]:
    """What `plan_total` reads of a planned atom: the seeds to compute and their estimate."""
    return {"to_compute": todo, "estimate_s": round(estimate_s(atom, params, todo), 1)}


def _changed(atom: "Atom", params: "Params") -> dict[str, Any]:
    """The parameters that differ from the atom's defaults (what the preset and --set change)."""
    defaults = atom.Params()
    return {f.name: getattr(params, f.name) for f in dataclasses.fields(params)
            if getattr(params, f.name) != getattr(defaults, f.name)}


def plan_total(rows: Sequence[dict[str, Any]], atoms: Sequence["Atom"],
               options: "ExecOptions | None" = None) -> dict[str, Any]:
    """The whole run's estimate: with two or more atoms to compute and several workers, the
    atoms a prefetch takes (dispatch.py: the catalog's atoms) run side by
    side, longest first (`schedule_s`), and the rest one after another in this process.
    Returns total_s, serial_s (one after another) and workers. The load of other processes
    is not foreseen (a busy machine computes in this process: serial_s)."""
    from . import executors
    from .executors import ExecOptions
    options = options or ExecOptions()
    costs = [(r["estimate_s"] if r["to_compute"] else 0.0) for r in rows]
    serial = sum(costs)
    parallel = [c for c, a in zip(costs, atoms) if c > 0 and executors.registered(a)]
    workers = options.workers or executors.default_workers()
    if options.backend == "local" and options.workers is None and serial < executors.PARALLEL_MIN_S:
        workers = 1
    if len(parallel) < 2 or workers <= 1:
        return {"total_s": round(serial, 1), "serial_s": round(serial, 1), "workers": 1}
    alone = serial - sum(parallel)
    total = schedule_s(parallel, workers) + alone
    return {"total_s": round(total, 1), "serial_s": round(serial, 1), "workers": workers}
