"""run_bench: every measurement of `deepatoms bench` in one run, as one JSON-serialisable dict."""
from __future__ import annotations

import inspect
import time
from dataclasses import asdict
from typing import Any, Sequence

import torch

from .. import registry
from ..lab import NoProgress, Progress, resolve_device
from .families import bench_families, family_wall, load_average
from .load import under_load
from .population import (ATOM_SCALE, QUICK, QUICK_ATOM_SCALE, PopConfig, both_devices, label, machine, measure_peak, population_work)


def _workers_supported() -> bool:
    from ..api import run
    return "workers" in inspect.signature(run).parameters


def bench_workers(family: str, quick: bool, device: str, progress: Progress) -> dict[str, Any]:
    """(e): the family's wall time with 1 and with 2 worker processes, and their ratio."""
    if not _workers_supported():
        return dict(skipped="this runner has no worker processes")
    label(progress, f"family {family}, workers 1 vs 2")
    one = family_wall(family, quick, device, workers=1)
    two = family_wall(family, quick, device, workers=2)
    out = dict(family=family, one=one, two=two, ratio=two["wall_s"] / one["wall_s"])
    if _has_ray() and not quick:  # a private cluster costs ≈ 10–40 s: not in a smoke run
        label(progress, f"family {family}, Ray with 2 local workers")
        ray = family_wall(family, quick, device, workers=2, backend="ray")
        from ..execution.ray_backend import shutdown
        shutdown()  # the private cluster this bench started
        out.update(ray=ray, ray_ratio=ray["wall_s"] / one["wall_s"])
    return out


def _has_ray() -> bool:
    import importlib.util
    return importlib.util.find_spec("ray") is not None


def bench_load(quick: bool, progress: Progress) -> dict[str, Any]:
    """(d): the atom-scale population beside 4 busy processes, at 1 and 2 torch threads."""
    label(progress, "under load")
    cfg = QUICK_ATOM_SCALE if quick else ATOM_SCALE
    work = population_work(cfg, torch.device("cpu"))
    return dict(work=f"{cfg.models} MLPs {'→'.join(map(str, cfg.sizes))}, {cfg.steps} steps",
                **under_load(work, busy=1 if quick else 4, threads=(1, 2)))


def bench_tensor_calculus(quick: bool, device: str, progress: Progress) -> dict[str, Any]:
    """tensor-calculus-hessians' own measurement at its preset's largest n, one seed: row-by-row
    reverse-mode seconds / symbolic einsum seconds, per function."""
    from ..atoms.architecture import tensor_calculus_hessians as tc
    label(progress, "tensor calculus: symbolic vs row-by-row Hessians")
    preset = "quick" if quick else "default"
    top = max(tc.ATOM.params(preset).sizes)
    return dict(preset=preset, n=top, speedup=tc.speedup_at_largest_n(device, 0, preset))


def run_bench(quick: bool = False, device: str = "cpu", progress: Progress | None = None,
              families: Sequence[str] = registry.FAMILIES, *,
              only: Sequence[str] | None = None, config: PopConfig | None = None,
              flops: bool = True, load: bool = True, workers: bool = True) -> dict[str, Any]:
    """Run the measurements; returns a JSON-serialisable dict (see the package docstring).

    device: where the families run ("cpu", "cuda" or "auto"); the population part always runs on
    the CPU and, when CUDA is available, on the GPU too. `only`: restrict the families to these
    atoms. `config`: the population benchmark (default PopConfig(), quick: QUICK). `flops`,
    `load`, `workers`: include (b)'s FLOP bound, (d) and (e)."""
    for name in families:
        registry.family(name)  # unknown family: a clear error before anything runs
    for name in only or ():
        registry.get(name)
    progress = progress or NoProgress()
    cfg = config or (QUICK if quick else PopConfig())
    dev = resolve_device(device)
    start = time.perf_counter()
    result: dict[str, Any] = dict(quick=quick, machine=machine(dev), config=asdict(cfg),
                                  load_at_start=load_average())
    peaks = {"cpu": measure_peak(cfg, torch.device("cpu")),
             "cuda": measure_peak(cfg, torch.device("cuda")) if torch.cuda.is_available() else None}
    result.update(both_devices(cfg, progress, peaks))
    tiny = QUICK_ATOM_SCALE if quick else ATOM_SCALE
    result["atom_scale"] = dict(config=asdict(tiny), **both_devices(tiny, progress, peaks))
    result["families"] = bench_families(families, quick, dev.type, progress, only, flops=flops)
    if "architecture" in families and only is None:
        result["tensor_calculus"] = bench_tensor_calculus(quick, dev.type, progress)
    if load:
        result["under_load"] = bench_load(quick, progress)
    result["load_before_workers"] = load_average()  # (e) itself loads every core
    if workers and families:
        result["workers"] = bench_workers(families[0], quick, dev.type, progress)
    result["total_s"] = time.perf_counter() - start
    result["load_at_end"] = load_average()
    result["notes"] = _notes(cfg, result)
    return result


def _notes(cfg: PopConfig, result: dict[str, Any]) -> list[str]:
    timed = result["cpu"]["population"]["one_by_one_models_timed"]
    notes = [f"one-by-one time measured on {timed} of {cfg.models} models and extrapolated "
             "linearly" if timed < cfg.models else "one-by-one time measured on every model",
             "population FLOPs count matmuls only: forward 2·M·B·Σ in·out, backward 2× that",
             "FLOP bound: every recorded matmul/conv layout replayed at its best measured speed"]
    cores = result["machine"]["cpu_count"] or 1
    # the load before (e), not after it: (e)'s own worker processes keep every core busy
    end = result.get("load_before_workers", result["load_at_end"])
    busy = max(result["load_at_start"], end)
    if busy == busy and busy > 0.5 * cores:
        notes.append(f"the machine was busy (load average {busy:.1f} on {cores} cores): "
                     "wall times are inflated")
    return notes
