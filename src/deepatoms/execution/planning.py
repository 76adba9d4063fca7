"""The dry-run plan: what `deepatoms run` would compute — parameters, seeds, which are cached —
without training (estimates.py gives the time)."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Sequence

from .estimates import estimate_s

if TYPE_CHECKING:
    from ..atom import Atom
    from ..params import Params
    from ..store.database import Store


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
            "cached_seeds": list(cached), "to_compute": todo,
            "estimate_s": round(estimate_s(atom, params, todo), 1)}


def _changed(atom: "Atom", params: "Params") -> dict[str, Any]:
    """The parameters that differ from the atom's defaults (what the preset and --set change)."""
    defaults = atom.Params()
    return {f.name: getattr(params, f.name) for f in dataclasses.fields(params)
            if getattr(params, f.name) != getattr(defaults, f.name)}
