"""`deepatoms bench`: how fast is the populations engine, and how long does each family take?

Measured in one run on one machine:
(a) a population of small tanh MLPs (12 → 100 → 100 → 2, minibatch 64, Adam) trained with
    MLPPop + engine.Adam vs the same models trained one by one in a plain PyTorch loop
    (nn.Sequential + torch.optim.Adam) on the same minibatches; the final weights must agree
    (checked, and the max |Δw| reported). The one-by-one loop is timed on a subset of the
    models and extrapolated linearly (said so in the result);
(b) wall time of each family (default preset, each atom's default seeds; per-atom times too);
(c) achieved FLOP/s of the population training step against the measured peak of a large
    float32 matmul;
(d) (a) and (c) again on the GPU when CUDA is available.
Wall times depend on whatever else runs on the machine: the result records threads and device.
Library code: returns data, never prints.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import registry
from .data.gaussian import gaussian_pair
from .engine import Adam, BatchStream, MLPPop, gather
from .lab import Lab, NoProgress, Progress, resolve_device

# tanh, not ReLU: with ReLU a float32 round-off difference (batched vs single matmul) can flip a
# pre-activation across the kink, after which two correct trainings part ways (measured: one of 64
# ReLU models drifted to |Δw| 0.02 by step 200 while the median stayed 2e-7; in float64 all agree
# to 1e-15). With tanh the float32 trajectories stay together.
ACTIVATION = "tanh"
# Final weights must agree to float32 round-off amplified by Adam's normalisation of near-zero
# gradients (measured max |Δw| over the 16 checked models after 200 steps: 1.3e-5 on a 2-core
# CPU, 7.9e-7 on a 16-core CPU, 7.6e-6 on an H200).
AGREE_ATOL = 1e-4


@dataclass(frozen=True)
class PopConfig:
    """One population benchmark: `models` MLPs of layer sizes `sizes`, `steps` Adam steps."""
    models: int = 128
    sizes: tuple[int, ...] = (12, 100, 100, 2)
    batch: int = 64
    steps: int = 200
    lr: float = 1e-3
    n_data: int = 2048
    one_by_one_models: int = 16  # timed one by one, then extrapolated to all `models`
    matmul_n: int = 2048
    matmul_reps: int = 5


QUICK = PopConfig(models=8, sizes=(12, 16, 16, 2), batch=16, steps=5, n_data=128,
                  one_by_one_models=2, matmul_n=256, matmul_reps=2)
# The scale of most atoms (UA, depth-separation, activation-functions ...): tiny nets where a
# one-by-one loop is bound by per-op overhead, which is what populations remove.
ATOM_SCALE = PopConfig(sizes=(2, 32, 32, 2), steps=300)
QUICK_ATOM_SCALE = replace(QUICK, sizes=(2, 8, 8, 2))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _data(cfg: PopConfig, lab: Lab) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian-pair data: x (N, d_in), y (N,) int64, on the lab's device."""
    x, y = gaussian_pair(lab.numpy_rng(0, "bench", "data"), cfg.n_data, cfg.sizes[0])
    return lab.tensor(x), lab.tensor(y)


def _indices(cfg: PopConfig, lab: Lab) -> torch.Tensor:
    """Minibatch indices (steps, M, B), one stream per model, drawn before any timing."""
    gens = [lab.torch_generator(0, "bench", "batches", i) for i in range(cfg.models)]
    stream = BatchStream(gens, cfg.n_data, cfg.batch, "random", chunk=cfg.steps, device=lab.device)
    return torch.stack([stream.next() for _ in range(cfg.steps)])


def _population(cfg: PopConfig, lab: Lab) -> MLPPop:
    gens = [lab.torch_generator(0, "bench", "init", i) for i in range(cfg.models)]
    return MLPPop([cfg.sizes] * cfg.models, gens, activation=ACTIVATION, init="torch_default",
                  device=lab.device)


def _train_population(pop: MLPPop, cfg: PopConfig, x: torch.Tensor, y: torch.Tensor,
                      idx: torch.Tensor, progress: Progress) -> float:
    """Train all models together on idx (steps, M, B); returns the wall time in seconds."""
    opt = Adam(pop.params, lr=cfg.lr)
    m, b = cfg.models, cfg.batch
    _sync(x.device)
    start = time.perf_counter()
    for step in range(idx.shape[0]):
        logits = pop(gather(x, idx[step], shared=True))  # (M, B, classes)
        labels = gather(y, idx[step], shared=True)  # (M, B)
        loss = F.cross_entropy(logits.reshape(m * b, -1), labels.reshape(-1), reduction="none")
        opt.zero_grad()
        loss.view(m, b).mean(dim=1).sum().backward()  # Σ of per-model mean losses
        opt.step()
        progress.advance(1)
    _sync(x.device)
    return time.perf_counter() - start


def _alone(pop: MLPPop, i: int) -> nn.Sequential:
    """Model i of `pop` as a plain nn.Sequential with the same (current) weights."""
    layers: list[nn.Module] = []
    weights = pop.model_weights(i)
    for l, (w, b) in enumerate(weights):
        # skip_init: no draw from torch's global RNG, the weights are copied in below
        lin = nn.utils.skip_init(nn.Linear, w.shape[0], w.shape[1], device=w.device)
        with torch.no_grad():
            lin.weight.copy_(w.T)  # (out, in)
            lin.bias.copy_(b)
        layers.append(lin)
        if l < len(weights) - 1:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def _train_alone(model: nn.Sequential, cfg: PopConfig, x: torch.Tensor, y: torch.Tensor,
                 idx: torch.Tensor, progress: Progress) -> None:
    """The textbook loop for one model; idx (steps, B)."""
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for step in range(idx.shape[0]):
        loss = F.cross_entropy(model(x[idx[step]]), y[idx[step]])
        opt.zero_grad()
        loss.backward()
        opt.step()
        progress.advance(1)


def _max_diff(pop: MLPPop, i: int, model: nn.Sequential) -> float:
    linears = [m for m in model if isinstance(m, nn.Linear)]
    diffs = [max(float((w - lin.weight.detach().T).abs().max()),
                 float((b - lin.bias.detach()).abs().max()))
             for (w, b), lin in zip(pop.model_weights(i), linears)]
    return max(diffs)


def _warm_up(cfg: PopConfig, lab: Lab, x: torch.Tensor, y: torch.Tensor) -> None:
    """A few untimed steps on throwaway models (allocators, kernels, CUDA context)."""
    small = replace(cfg, steps=min(cfg.steps, 3))
    idx = _indices(small, lab)
    pop = _population(small, lab)
    _train_population(pop, small, x, y, idx, NoProgress())
    _train_alone(_alone(pop, 0), small, x, y, idx[:, 0], NoProgress())


def bench_population(cfg: PopConfig, device: torch.device, progress: Progress) -> dict[str, Any]:
    """(a): population vs one-by-one wall time, speed-up, and agreement of the final weights."""
    lab = Lab((0,), device)
    x, y = _data(cfg, lab)
    _warm_up(cfg, lab, x, y)
    idx = _indices(cfg, lab)
    pop = _population(cfg, lab)
    k = min(cfg.one_by_one_models, cfg.models)
    alone = [_alone(pop, i) for i in range(k)]  # same initial weights as the population
    progress.begin(f"population of {cfg.models} ({device.type})", cfg.steps)
    pop_s = _train_population(pop, cfg, x, y, idx, progress)
    progress.end()
    progress.begin(f"{k} models one by one ({device.type})", k * cfg.steps)
    _sync(device)
    start = time.perf_counter()
    for i, model in enumerate(alone):
        _train_alone(model, cfg, x, y, idx[:, i], progress)
    _sync(device)
    measured = time.perf_counter() - start
    progress.end()
    max_diff = max(_max_diff(pop, i, model) for i, model in enumerate(alone))
    if not max_diff <= AGREE_ATOL:
        raise RuntimeError(f"population and one-by-one weights differ by {max_diff:.3g} "
                           f"(> {AGREE_ATOL}): the engine does not give each model its own updates")
    one_by_one = measured * cfg.models / k
    return dict(device=device.type, models=cfg.models, sizes=list(cfg.sizes), batch=cfg.batch,
                steps=cfg.steps, population_s=pop_s, one_by_one_s=one_by_one,
                one_by_one_models_timed=k, one_by_one_measured_s=measured,
                extrapolated=k < cfg.models, speedup=one_by_one / pop_s, max_abs_diff=max_diff,
                threads=torch.get_num_threads())


def step_flops(cfg: PopConfig) -> float:
    """Matmul FLOPs of one population training step: forward 2·M·B·Σ in·out, backward 2× that
    (nominal count; the first layer's input gradient is in fact skipped, optimiser not counted)."""
    forward = 2.0 * cfg.models * cfg.batch * sum(a * b for a, b in zip(cfg.sizes, cfg.sizes[1:]))
    return 3.0 * forward


def peak_flops(n: int, reps: int, device: torch.device) -> float:
    """Best FLOP/s of an (n × n) @ (n × n) float32 matmul over `reps` timed repetitions."""
    gen = Lab((0,), device).torch_generator(0, "bench", "matmul", device=device)
    a = torch.rand(n, n, generator=gen, device=device)
    b = torch.rand(n, n, generator=gen, device=device)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(reps):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best


def bench_flops(cfg: PopConfig, population: dict[str, Any], device: torch.device,
                peak: dict[str, Any]) -> dict[str, Any]:
    """(c): achieved matmul FLOP/s of the population training vs the device's measured peak."""
    achieved = step_flops(cfg) * cfg.steps / population["population_s"]
    return dict(device=device.type, step_flops=step_flops(cfg), achieved_flops_per_s=achieved,
                fraction_of_peak=achieved / peak["peak_flops_per_s"], **peak)


def measure_peak(cfg: PopConfig, device: torch.device) -> dict[str, Any]:
    """The device's float32 matmul peak, measured once and shared by every population case."""
    return dict(peak_flops_per_s=peak_flops(cfg.matmul_n, cfg.matmul_reps, device),
                matmul_n=cfg.matmul_n, matmul_reps=cfg.matmul_reps)


def _label(progress: Progress, text: str) -> None:
    # the CLI's progress bar names its bars after an `atom` attribute when it has one
    if hasattr(progress, "atom"):
        progress.atom = text  # type: ignore[attr-defined]


def bench_families(families: Sequence[str], quick: bool, device: str, progress: Progress,
                   only: Sequence[str] | None = None) -> dict[str, Any]:
    """(b): wall time of every atom of each family (default preset and seeds; quick: the quick
    preset with 2 seeds of each family's fastest atom). Families with no atoms are reported as
    skipped."""
    from .api import run
    out: dict[str, Any] = {}
    for family in families:
        registered = registry.family(family)
        atoms = [a for a in registered if only is None or a.name in only]
        if quick and only is None:  # a smoke run: the family's fastest atom stands for it
            atoms = sorted(atoms, key=lambda a: a.runtime_s)[:1]
        if not atoms:
            out[family] = dict(skipped="no atoms selected" if registered else "no atoms registered")
            continue
        per_atom: dict[str, Any] = {}
        for atom in atoms:
            _label(progress, atom.name)
            start = time.perf_counter()
            try:
                outcome = run(atom.name, preset="quick" if quick else "default",
                              seeds=2 if quick else None, device=device, progress=progress)
                per_atom[atom.name] = dict(wall_s=time.perf_counter() - start,
                                           seeds=len(outcome.seeds), status=outcome.verdict.status)
            except Exception as exc:  # one broken atom must not lose the others' timings
                per_atom[atom.name] = dict(wall_s=time.perf_counter() - start,
                                           error=f"{type(exc).__name__}: {exc}")
        out[family] = dict(total_s=sum(a["wall_s"] for a in per_atom.values()), atoms=per_atom)
    return out


def machine(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = dict(platform=platform.platform(), processor=platform.processor(),
                                cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
                                torch=torch.__version__, device=device.type,
                                cuda=torch.cuda.is_available())
    if info["cuda"]:
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _engine_part(cfg: PopConfig, device: torch.device, progress: Progress,
                 peak: dict[str, Any]) -> dict[str, Any]:
    _label(progress, f"bench {device.type}")
    population = bench_population(cfg, device, progress)
    return dict(population=population, flops=bench_flops(cfg, population, device, peak))


def _both_devices(cfg: PopConfig, progress: Progress,
                  peaks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """(a) and (c) on the CPU, and on the GPU when CUDA is available (else None)."""
    return {dev: (_engine_part(cfg, torch.device(dev), progress, peak) if peak else None)
            for dev, peak in peaks.items()}


def run_bench(quick: bool = False, device: str = "cpu", progress: Progress | None = None,
              families: Sequence[str] = ("atoms", "failures"), *,
              only: Sequence[str] | None = None, config: PopConfig | None = None) -> dict[str, Any]:
    """Run every measurement; returns a JSON-serialisable dict (see the module docstring).

    device: where the families run ("cpu", "cuda" or "auto"); the engine part (a, c) always runs
    on the CPU and, when CUDA is available, on the GPU too (d). `only`: restrict (b) to these
    atoms. `config`: the population benchmark (default PopConfig(), quick: QUICK)."""
    progress = progress or NoProgress()
    cfg = config or (QUICK if quick else PopConfig())
    dev = resolve_device(device)
    start = time.perf_counter()
    result: dict[str, Any] = dict(quick=quick, machine=machine(dev), config=asdict(cfg))
    peaks = {"cpu": measure_peak(cfg, torch.device("cpu")),
             "cuda": measure_peak(cfg, torch.device("cuda")) if torch.cuda.is_available() else None}
    result.update(_both_devices(cfg, progress, peaks))
    tiny = QUICK_ATOM_SCALE if quick else ATOM_SCALE
    result["atom_scale"] = dict(config=asdict(tiny), **_both_devices(tiny, progress, peaks))
    result["families"] = bench_families(families, quick, dev.type, progress, only)
    result["total_s"] = time.perf_counter() - start
    result["notes"] = [
        f"one-by-one time measured on {result['cpu']['population']['one_by_one_models_timed']} of "
        f"{cfg.models} models and extrapolated linearly" if cfg.one_by_one_models < cfg.models
        else "one-by-one time measured on every model",
        "FLOPs count matmuls only: forward 2·M·B·Σ in·out, backward 2× that",
        "wall times depend on other load on this machine",
    ]
    return result


def _seconds(x: float) -> str:
    return f"{x:.3g} s" if x < 100 else f"{x:.0f} s"


def _flops(x: float) -> str:
    return f"{x / 1e9:.3g} GFLOP/s" if x < 1e12 else f"{x / 1e12:.3g} TFLOP/s"


def _engine_rows(part: dict[str, Any], tag: str = "") -> list[tuple[str, str]]:
    p, f = part["population"], part["flops"]
    dev = p["device"] + tag
    alone = _seconds(p["one_by_one_s"])
    if p["extrapolated"]:
        alone += (f" (extrapolated from {p['one_by_one_models_timed']} models: "
                  f"{_seconds(p['one_by_one_measured_s'])})")
    shape = "→".join(map(str, p["sizes"]))
    return [
        (f"[{dev}] population",
         f"{p['models']} MLPs {shape}, batch {p['batch']}, {p['steps']} Adam steps"),
        (f"[{dev}] population wall", _seconds(p["population_s"])),
        (f"[{dev}] one-by-one wall", alone),
        (f"[{dev}] speed-up", f"{p['speedup']:.3g}×"),
        (f"[{dev}] max |Δw| vs one-by-one", f"{p['max_abs_diff']:.2g}"),
        (f"[{dev}] achieved (matmul FLOPs)", f"{_flops(f['achieved_flops_per_s'])} "
                                             f"= {100 * f['fraction_of_peak']:.3g}% of peak"),
        (f"[{dev}] peak ({f['matmul_n']}² float32 matmul)", _flops(f["peak_flops_per_s"])),
    ]


def _family_rows(families: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for name, fam in families.items():
        if "skipped" in fam:
            rows.append((f"family {name}", f"skipped ({fam['skipped']})"))
            continue
        rows.append((f"family {name}", f"{_seconds(fam['total_s'])} ({len(fam['atoms'])} atoms)"))
        for atom, a in fam["atoms"].items():
            what = a.get("status") or a.get("error", "")
            rows.append((f"  {atom}", f"{_seconds(a['wall_s'])} — {what}"))
    return rows


def format_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs for the CLI to print, in reading order."""
    m = result["machine"]
    gpu = f", {m['gpu']}" if m.get("gpu") else ""
    rows = [("machine", f"{m['processor'] or m['platform']}, {m['cpu_count']} CPUs, "
                        f"{m['torch_threads']} torch threads{gpu}"),
            ("torch", m["torch"])]
    rows += _engine_rows(result["cpu"])
    rows += _engine_rows(result["cuda"]) if result.get("cuda") else [("cuda", "not available")]
    scale = result.get("atom_scale") or {}
    for dev in ("cpu", "cuda"):
        if scale.get(dev):
            rows += _engine_rows(scale[dev], ", atom scale")
    rows += _family_rows(result["families"])
    rows.append(("total", _seconds(result["total_s"])))
    rows += [("note", n) for n in result["notes"]]
    return rows
