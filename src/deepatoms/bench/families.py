"""(b) Wall time of each family's atoms, with CPU seconds, load average, FLOPs and FLOP bound.

Each atom runs at its default preset and default seeds with no store (nothing cached), in this
process. With `flops`, a second, untimed run of the same atom under `flops.OpRecorder` counts its
FLOPs and records the layouts of its matmuls, which are then replayed to give the atom's FLOP
bound on its own shapes; `ratio` = wall / bound (1.0 would be a run that does nothing but matmuls
at the best speed this machine reaches on them).

Wall and bound are measured at the same torch threads (`threads`, by default the trials' own:
1), and every row says so (`wall_threads`, `bound_threads`). A family's bound is the sum over
its atoms that have one; `bounded` says how many of its atoms that is, and an atom whose
counting pass failed keeps its wall time and says why (`bound_error`).
"""
from __future__ import annotations

import os
import resource
import time
from typing import Any, Sequence

from .. import registry
from ..lab import NoProgress, Progress
from .flops import TRIAL_THREADS, count_and_bound, torch_threads
from .population import label


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _run_kwargs(quick: bool, device: str, workers: int | None,
                threads: int = TRIAL_THREADS) -> dict[str, Any]:
    kw: dict[str, Any] = dict(preset="quick" if quick else "default", seeds=2 if quick else None,
                              device=device, threads=threads)
    # in this process unless workers are asked for: CPU seconds and the FLOP recorder only see
    # this process (the runner's default would spread long runs over worker processes)
    kw["workers"] = workers if workers is not None else 1
    return kw


def time_atom(name: str, quick: bool, device: str, progress: Progress,
              workers: int | None = None, threads: int = TRIAL_THREADS) -> dict[str, Any]:
    """One timed run at `threads` torch threads per trial (this process's count is restored
    after): wall and CPU seconds, load average before it, seeds, verdict and `wall_threads`."""
    from ..api import run
    load, cpu0, start = load_average(), cpu_seconds(), time.perf_counter()
    try:
        with torch_threads(threads):
            outcome = run(name, progress=progress, **_run_kwargs(quick, device, workers, threads))
    except Exception as exc:  # one broken atom must not lose the others' timings
        return dict(wall_s=time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}",
                    wall_threads=threads)
    return dict(wall_s=time.perf_counter() - start, cpu_s=cpu_seconds() - cpu0, load_before=load,
                seeds=len(outcome.seeds), status=outcome.verdict.status, wall_threads=threads)


def flop_bound(name: str, quick: bool, device: str,
               threads: int = TRIAL_THREADS) -> dict[str, Any]:
    """FLOPs and FLOP bound of the same run as `time_atom`, measured in a separate pass and
    replayed at the same `threads`."""
    from ..api import run
    from ..lab import Lab
    gen = Lab((0,), "cpu").torch_generator(0, "bench", "replay")
    kw = _run_kwargs(quick, device, None, threads)
    return count_and_bound(lambda: run(name, progress=NoProgress(), **kw), gen, threads)


def _atoms(family: str, quick: bool, only: Sequence[str] | None) -> list:
    atoms = [a for a in registry.family(family) if only is None or a.name in only]
    if quick and only is None:  # a smoke run: the family's fastest atom stands for it
        atoms = sorted(atoms, key=lambda a: a.runtime_s)[:1]
    return atoms


def _one_atom(name: str, quick: bool, device: str, progress: Progress, flops: bool,
              workers: int | None) -> dict[str, Any]:
    label(progress, name)
    row = time_atom(name, quick, device, progress, workers)
    if flops and "error" not in row:
        label(progress, f"{name} (counting FLOPs)")
        try:
            row.update(flop_bound(name, quick, device, row["wall_threads"]))
        except Exception as exc:  # the recorder or a replay failed: keep the wall time
            row["bound_error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            return row
        row["ratio"] = row["wall_s"] / row["bound_s"] if row["bound_s"] > 0 else None
    return row


def family_bound(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The family's FLOPs and bound: sums over its atoms with a bound (`bounded`: how many of
    them), its ratio over those same atoms' wall time, and the threads of both."""
    with_bound = [r for r in rows.values() if "bound_s" in r]
    if not with_bound:
        return {}
    bound_s = sum(r["bound_s"] for r in with_bound)
    wall_s = sum(r["wall_s"] for r in with_bound)
    return dict(flops=sum(r["flops"] for r in with_bound), bound_s=bound_s,
                bounded=len(with_bound),
                ratio=wall_s / bound_s if bound_s > 0 else None,
                wall_threads=sorted({r["wall_threads"] for r in with_bound}),
                bound_threads=sorted({r["bound_threads"] for r in with_bound}))


def bench_families(families: Sequence[str], quick: bool, device: str, progress: Progress,
                   only: Sequence[str] | None = None, flops: bool = True,
                   workers: int | None = None) -> dict[str, Any]:
    """Per family: each atom's row (see `time_atom`, plus FLOPs/bound/ratio with `flops`), the
    family's total wall and CPU seconds, bound, and the load average at its start."""
    out: dict[str, Any] = {}
    for family in families:
        atoms = _atoms(family, quick, only)
        if not atoms:
            registered = registry.family(family)
            out[family] = dict(skipped="no atoms selected" if registered else "no atoms registered")
            continue
        load = load_average()
        rows = {a.name: _one_atom(a.name, quick, device, progress, flops, workers) for a in atoms}
        fam: dict[str, Any] = dict(total_s=sum(r["wall_s"] for r in rows.values()),
                                   cpu_s=sum(r.get("cpu_s", 0.0) for r in rows.values()),
                                   load_before=load, atoms=rows)
        if flops:
            fam.update(family_bound(rows))
        out[family] = fam
    return out


def family_wall(family: str, quick: bool, device: str, workers: int,
                backend: str = "local") -> dict[str, Any]:
    """Wall time of a whole family run as `run --family` does it with `workers` processes (or
    Ray tasks): the atoms' trials first, across atoms (api.prefetch), then each atom judged."""
    from ..api import Request, prefetch, run_request
    from ..execution.seeds import parse_seeds
    kw = _run_kwargs(quick, device, workers)
    atoms = _atoms(family, quick, None)
    start, load, cpu0 = time.perf_counter(), load_average(), cpu_seconds()
    requests = [Request(a, kw["preset"], a.params(kw["preset"]),
                        parse_seeds(kw["seeds"], a.default_seeds)) for a in atoms]
    failed, _ = prefetch(requests, device=device, backend=backend, workers=workers)
    for request in requests:
        run_request(request, progress=NoProgress(), backend=backend, device=device,
                    workers=workers)
    return dict(family=family, workers=workers, backend=backend,
                wall_s=time.perf_counter() - start, cpu_s=cpu_seconds() - cpu0,
                load_before=load, failed=failed)
