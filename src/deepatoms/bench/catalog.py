"""`deepatoms bench --catalog`: the FLOP bound of the whole catalog against `make run`'s wall.

Timing every atom again in one process would cost about an hour on the 2-core machine; the
runs of a `make run` already say what each atom computed. So this mode reads, from a store, the
run that stands for each atom (its latest full-scale run, store/standing.py; an atom with only
reduced runs is represented by its latest one, and the row says so), then counts that very run's
FLOPs (same atom, preset, parameters and seeds; no store, nothing cached) under
`flops.OpRecorder` and replays its layouts at the torch threads its trials ran at (1), in
`workers` spawned processes, one atom per task, longest first (catalog_pool.py).

Per atom: the seconds the store says its trials computed, its FLOPs, bound and their ratio; per
family the sums; for the catalog Σ bound and the bound on `workers` processes (the longest-first
schedule of the atoms' bounds: execution.estimates.schedule_s, the dry run's own), against
`make run`'s wall (`wall_s`, else the span of the store's runs) — the goal is ≤ 1.5×
(catalog_summary.py). Every finished atom is written to `out` at once, so an interrupted pass
resumes: an atom already there with the same code version, parameters and seeds is not counted
again.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .. import registry
from ..errors import DeepatomsError
from ..store.json_safe import jsonable
from .catalog_summary import FORMAT
from .flops import TRIAL_THREADS

if TYPE_CHECKING:
    from ..lab import Progress
    from ..store.database import Store

OUT_NAME = "bench-catalog.json"  # the default --out, inside the store's directory


@dataclasses.dataclass(frozen=True)
class Task:
    """One atom's stored run, to be counted again: what it ran and what it cost."""
    atom: str
    family: str
    preset: str
    params: dict[str, Any]
    canonical: str
    seeds: tuple[int, ...]
    device: str
    code_version: str      # the atom's code now (what the counting pass runs)
    run_id: int
    run_code_version: str  # the code the stored run computed with
    scale: str
    computed_s: float | None
    computed_on: str
    threads: int           # torch threads its trials computed at

    def key(self) -> dict[str, Any]:
        """What a finished row must match to be reused."""
        return dict(code_version=self.code_version, canonical=self.canonical,
                    seeds=list(self.seeds))


def _trial_threads(store: "Store", run: dict[str, Any]) -> int:
    counts = {t["threads"] for t in store.trial_records(run) if t.get("threads")}
    return max(counts) if counts else TRIAL_THREADS


def task_of(store: "Store", run: dict[str, Any]) -> Task:
    from ..store.cost import run_cost
    from ..store.standing import run_scale
    atom = registry.get(run["atom"])
    seconds, where = run_cost(run)
    return Task(atom=atom.name, family=atom.family, preset=run["preset"],
                params=dict(run["params"]), canonical=run["canonical"],
                seeds=tuple(int(s) for s in run["seeds"]), device=run.get("device") or "cpu",
                code_version=atom.code_version, run_id=int(run["id"]),
                run_code_version=run["code_version"], scale=run_scale(run), computed_s=seconds,
                computed_on=where, threads=_trial_threads(store, run))


def read_tasks(store: "Store") -> tuple[list[Task], list[dict[str, Any]]]:
    """The standing run of every catalog atom in `store`, as tasks, and those runs."""
    known = registry.all_atoms()
    runs = [r for r in store.standing_runs("verdict") if r["atom"] in known]
    if not runs:
        raise DeepatomsError(f"no runs of catalog atoms in '{store.root}'; run `make run` "
                             "(deepatoms run --all) into it first")
    return [task_of(store, r) for r in runs], runs


def check_arguments(workers: int, wall_s: float | None) -> None:
    from ..execution.executors import ExecOptions
    ExecOptions(workers=workers)  # its one-line error for 0, -1, 1.5, ...
    if wall_s is not None and (isinstance(wall_s, bool) or not isinstance(wall_s, (int, float))
                               or not math.isfinite(wall_s) or wall_s <= 0):
        raise DeepatomsError(f"--wall-s must be a positive number of seconds, got {wall_s!r}")


def load_done(path: Path) -> dict[str, dict[str, Any]]:
    """The finished atoms of an earlier pass written to `path` ({} when there is none)."""
    if not path.exists():
        return {}
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DeepatomsError(f"cannot read '{path}' as an earlier bench --catalog result "
                             f"({' '.join(str(exc).split())[:120]}); move it away or pass "
                             "another --out") from None
    atoms = payload.get("atoms") if isinstance(payload, dict) else None
    if not isinstance(atoms, dict) or payload.get("format") != FORMAT:
        raise DeepatomsError(f"'{path}' is not a bench --catalog result; move it away or pass "
                             "another --out")
    return atoms


def reusable(row: dict[str, Any] | None, task: Task) -> bool:
    return (isinstance(row, dict) and "bound_s" in row
            and all(row.get(k) == v for k, v in task.key().items()))


def save(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` whole or not at all (a temporary file renamed over `path`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(jsonable(payload), indent=1, allow_nan=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


def run_catalog(store_dir: str | os.PathLike, workers: int = 2, wall_s: float | None = None,
                out: str | os.PathLike | None = None, progress: "Progress | None" = None,
                note: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The catalog's FLOP bound against `make run`'s wall (see the module text); returns the
    result written to `out` (default: bench-catalog.json in the store's directory)."""
    from ..store.database import Store
    from .catalog_pool import compute
    from .catalog_summary import summarise, wall_of
    check_arguments(workers, wall_s)
    with Store(store_dir, readonly=True) as store:
        tasks, runs = read_tasks(store)
        wall = wall_of(store, runs, wall_s)
    path = Path(out) if out is not None else Path(store_dir) / OUT_NAME
    done = load_done(path)
    rows = {t.atom: done[t.atom] for t in tasks if reusable(done.get(t.atom), t)}
    todo = [t for t in tasks if t.atom not in rows]

    def finished(task: Task, row: dict[str, Any]) -> None:
        rows[task.atom] = row
        save(path, summarise(tasks, rows, workers, wall, store_dir, reused))
        if note is not None:
            from .catalog_format import done_line
            note(done_line(task, row))

    reused = sorted(rows)
    compute(todo, workers, finished, progress)
    result = summarise(tasks, rows, workers, wall, store_dir, reused)
    save(path, result)
    return dict(result, out=str(path))
