"""The sums of `bench --catalog`: per family and for the catalog, the bound on W workers (the
dry run's longest-first schedule, execution.estimates.schedule_s) and `make run`'s wall
against it."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Sequence

from .flops import TRIAL_THREADS

if TYPE_CHECKING:
    from ..store.database import Store
    from .catalog import Task

FORMAT = 1  # of the --out file
GOAL = 1.5  # `make run`'s wall within 1.5× the catalog's bound on its workers
GIVEN = "--wall-s"
SPAN = "the store's span: first trial started → last run stored"


def _time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def store_span_s(store: "Store", runs: Sequence[dict[str, Any]]) -> float | None:
    """Seconds from the first of these runs' trials starting (stored time − its seconds) to the
    last of the runs being stored; None when the store has no times to tell."""
    starts = [t - dt.timedelta(seconds=float(r["wall_s"] or 0.0))
              for run in runs for r in store.trial_records(run)
              if (t := _time(r["created"])) is not None]
    ends = [t for run in runs if (t := _time(run.get("created"))) is not None]
    if not starts or not ends:
        return None
    span = (max(ends) - min(starts)).total_seconds()
    return span if span > 0 else None


def wall_of(store: "Store", runs: Sequence[dict[str, Any]],
            wall_s: float | None) -> dict[str, Any]:
    """`make run`'s wall: the one given, else the store's span; `from` says which."""
    if wall_s is not None:
        return {"wall_s": float(wall_s), "from": GIVEN}
    span = store_span_s(store, runs)
    return {"wall_s": span, "from": SPAN if span is not None else "not known: pass --wall-s"}


def _sums(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    bounded = [r for r in rows if r.get("bound_s") is not None]
    bound_s = sum(r["bound_s"] for r in bounded)
    computed = sum(r["computed_s"] or 0.0 for r in bounded)
    return dict(atoms=len(rows), bounded=len(bounded), computed_s=computed,
                flops=sum(r["flops"] for r in bounded), bound_s=bound_s,
                ratio=computed / bound_s if bound_s > 0 else None)


def _catalog(rows: Sequence[dict[str, Any]], workers: int, wall: dict[str, Any]) -> dict[str, Any]:
    from ..execution.estimates import schedule_s
    out = _sums(rows)
    bounded = [r for r in rows if r.get("bound_s") is not None]
    on_workers = schedule_s([r["bound_s"] for r in bounded], workers)
    out.update(workers=workers, bound_on_workers_s=on_workers,
               computed_on_workers_s=schedule_s([r["computed_s"] or 0.0 for r in bounded],
                                                workers),
               wall_s=wall["wall_s"], wall_from=wall["from"], goal=GOAL)
    ratio = wall["wall_s"] / on_workers if wall["wall_s"] and on_workers > 0 else None
    out.update(wall_ratio=ratio, met=None if ratio is None else ratio <= GOAL)
    return out


def summarise(tasks: Sequence["Task"], rows: dict[str, dict[str, Any]], workers: int,
              wall: dict[str, Any], store_dir: Any, reused: Sequence[str]) -> dict[str, Any]:
    """The whole result (also what the --out file holds): atoms, families, catalog."""
    atoms = {t.atom: rows[t.atom] for t in tasks if t.atom in rows}
    families: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        families.setdefault(task.family, [])
        if task.atom in rows:
            families[task.family].append(rows[task.atom])
    finished = list(atoms.values())
    threads = sorted({r["bound_threads"] for r in finished if "bound_threads" in r})
    return dict(format=FORMAT, mode="catalog", store=str(store_dir),
                threads=threads or [TRIAL_THREADS],
                workers=workers, planned=len(tasks), reused=list(reused),
                missing=[t.atom for t in tasks if t.atom not in rows],
                errors={a: r["error"] for a, r in atoms.items() if "error" in r},
                atoms=atoms, families={f: _sums(rs) for f, rs in families.items()},
                catalog=_catalog(finished, workers, wall))
