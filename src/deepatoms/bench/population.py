"""(a) and (c): a population of small tanh MLPs trained with MLPPop + engine.FusedAdam (torch's
fused Adam kernel over the stacked tensors, as several atoms use it) vs the same
models trained one by one in a plain PyTorch loop (nn.Sequential + torch.optim.Adam) on the same
minibatches; the final weights must agree (checked, and the max |Δw| reported). The one-by-one
loop is timed on a subset of the models and extrapolated linearly (said so in the result).
Achieved FLOP/s of the population step against the measured peak of a large float32 matmul.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.gaussian import gaussian_pair
from ..engine import MLPPop, Sampler, gather
from ..engine.fused_adam import FusedAdam
from ..lab import Lab, NoProgress, Progress

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
    stream = Sampler(gens, cfg.n_data, cfg.batch, "replacement", chunk=cfg.steps, device=lab.device)
    return torch.stack([stream.next() for _ in range(cfg.steps)])


def _population(cfg: PopConfig, lab: Lab) -> MLPPop:
    gens = [lab.torch_generator(0, "bench", "init", i) for i in range(cfg.models)]
    return MLPPop([cfg.sizes] * cfg.models, gens, activation=ACTIVATION, init="torch_default",
                  device=lab.device)


def _train_population(pop: MLPPop, cfg: PopConfig, x: torch.Tensor, y: torch.Tensor,
                      idx: torch.Tensor, progress: Progress) -> float:
    """Train all models together on idx (steps, M, B); returns the wall time in seconds."""
    opt = FusedAdam(pop.params, lr=cfg.lr)  # 1.17× engine.Adam's step here (1 thread)
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


def label(progress: Progress, text: str) -> None:
    """Name the CLI's progress bar (it names its bars after an `atom` attribute when it has one)."""
    if hasattr(progress, "atom"):
        progress.atom = text  # type: ignore[attr-defined]


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
    label(progress, f"bench {device.type}")
    population = bench_population(cfg, device, progress)
    return dict(population=population, flops=bench_flops(cfg, population, device, peak))


def both_devices(cfg: PopConfig, progress: Progress,
                  peaks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """(a) and (c) on the CPU, and on the GPU when CUDA is available (else None)."""
    return {dev: (_engine_part(cfg, torch.device(dev), progress, peak) if peak else None)
            for dev, peak in peaks.items()}




def population_work(cfg: PopConfig, device: torch.device) -> Callable[[], float]:
    """A callable that trains a fresh population of `cfg` (data and batches drawn once, here)."""
    lab = Lab((0,), device)
    x, y = _data(cfg, lab)
    idx = _indices(cfg, lab)
    return lambda: _train_population(_population(cfg, lab), cfg, x, y, idx, NoProgress())
