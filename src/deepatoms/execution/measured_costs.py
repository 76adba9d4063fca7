"""Measured per-atom costs: seconds per seed of each atom's default run, read from a store.

An atom's `runtime_s` (its ATOM metadata) is a hand estimate; changing it would change every
trial's code version, so measured costs live apart, in `measured_costs.json` beside this file,
and estimates.py prefers them when present. Each entry is the mean computed seconds per seed of
the trials of the atom's latest full-scale run at the default preset, as a `make run`
experiences them (2 worker processes on 2 cores, 1 torch thread each). `make_run_wall_s`
records the wall time of the `make run` measured, which the dry run's estimate of `run --all`
is checked against (tests/execution/test_estimates.py, within ±30 %).

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


def per_seed_s(name: str, path: Path | None = None) -> float | None:
    """Measured seconds per seed of `name`'s default run, or None when not measured."""
    entry = _read(path or PATH).get(name)
    value = entry.get("per_seed_s") if isinstance(entry, dict) else None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def measure(store: "Store") -> dict[str, dict[str, Any]]:
    """Per atom: per_seed_s (the mean computed seconds per seed of the trials of its latest
    full-scale run at the default preset) and how many seeds that is over. Atoms without such a
    run, or whose run's trials did not record their seconds, are left out."""
    out = {}
    for run in store.standing_runs("full"):
        if run["preset"] != "default":
            continue
        seconds = [t["wall_s"] for t in store.trial_records(run) if t["wall_s"]]
        if seconds:
            out[run["atom"]] = {"per_seed_s": round(sum(seconds) / len(seconds), 3),
                                "seeds": len(seconds), "run_id": run["id"]}
    return out


def make_run_wall_s(path: Path | None = None) -> float | None:
    """The wall time of the `make run` the table was measured from (None: not recorded)."""
    try:
        value = json.loads((path or PATH).read_text(encoding="utf-8")).get("make_run_wall_s")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def write(store: "Store", path: Path = PATH, wall_s: float | None = None) -> Path:
    """Measure `store` and write the table to `path` (`wall_s`: the measured run's wall time)."""
    payload = {"measured": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "from": "mean computed seconds per seed of each atom's default-parameter trials",
               "make_run_wall_s": wall_s, "atoms": dict(sorted(measure(store).items()))}
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    _read.cache_clear()
    return path


def main(argv: Sequence[str] | None = None) -> int:
    from ..store.database import Store
    parser = argparse.ArgumentParser(prog="python -m deepatoms.execution.measured_costs",
                                     description="Write measured_costs.json from a store.")
    parser.add_argument("--store", required=True, help="a results directory of `make run`")
    parser.add_argument("--wall-s", type=float, default=None, help="the wall time of that "
                        "`make run` in seconds (what the dry-run estimate is checked against)")
    parser.add_argument("--out", default=str(PATH), help="where to write (default: the "
                        "package's measured_costs.json)")
    args = parser.parse_args(argv)
    with Store(args.store, readonly=True) as store:
        write(store, Path(args.out), args.wall_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
