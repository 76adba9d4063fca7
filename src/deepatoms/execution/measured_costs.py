"""Measured per-atom costs: seconds per seed of each atom's default run, read from a store.

An atom's `runtime_s` (its ATOM metadata) is a hand estimate; changing it would change every
trial's code version, so measured costs live apart, in `measured_costs.json` beside this file,
and estimates.py prefers them when present. Each entry is an atom's latest full-scale run at the
default preset in the store it was measured from: the trials' computed seconds per seed, as a
`make run` experiences them (2 worker processes on 2 cores, 1 torch thread each).

Regenerate from a store holding a full `make run` (`deepatoms run --all`):

    python -m deepatoms.execution.measured_costs --store deepatoms-runs
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from ..store.database import Store

PATH = Path(__file__).with_name("measured_costs.json")


@functools.lru_cache(maxsize=4)
def _read(path: Path) -> dict[str, dict[str, Any]]:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    atoms = payload.get("atoms") if isinstance(payload, dict) else None
    return atoms if isinstance(atoms, dict) else {}


def per_seed_s(name: str, path: Path = PATH) -> float | None:
    """Measured seconds per seed of `name`'s default run, or None when not measured."""
    entry = _read(path).get(name)
    value = entry.get("per_seed_s") if isinstance(entry, dict) else None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def measure(store: "Store") -> dict[str, dict[str, Any]]:
    """Per atom: per_seed_s, seeds, code_version and run id of its latest full-scale run at the
    default preset whose trials recorded their seconds."""
    out = {}
    for run in store.standing_runs("full"):
        if run["preset"] != "default":
            continue
        seconds = [t["wall_s"] for t in store.trial_records(run) if t["wall_s"]]
        if len(seconds) != len(run["seeds"]) or not seconds:
            continue
        out[run["atom"]] = {"per_seed_s": round(sum(seconds) / len(seconds), 3),
                            "seeds": len(seconds), "code_version": run["code_version"],
                            "run_id": run["id"]}
    return out


def write(store: "Store", path: Path = PATH) -> Path:
    """Measure `store` and write the table to `path`."""
    payload = {"measured": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "from": "per-seed computed seconds of each atom's default-preset run",
               "atoms": dict(sorted(measure(store).items()))}
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    _read.cache_clear()
    return path


def main(argv: Sequence[str] | None = None) -> int:
    from ..store.database import Store
    parser = argparse.ArgumentParser(prog="python -m deepatoms.execution.measured_costs",
                                     description="Write measured_costs.json from a store.")
    parser.add_argument("--store", required=True, help="a results directory of `make run`")
    parser.add_argument("--out", default=str(PATH), help="where to write (default: the "
                        "package's measured_costs.json)")
    args = parser.parse_args(argv)
    with Store(args.store, readonly=True) as store:
        write(store, Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
