"""What a run will need, estimated from its parameters before anything is trained.

    estimate(atom, params, n_seeds) -> Estimate(memory_bytes, seconds, basis)
    check(atom, params, n_seeds, device)   ResourceError above the machine's memory;
                                           `SlowRunWarning` above an hour
    out_of_memory_as_error(name)           an out-of-memory error inside a run becomes one
                                           ResourceError line (a clean per-atom failure)

The time is planning.estimate_s (the atom's measured runtime scaled by seeds and scale
parameters). The memory is a rough count of the largest tensors: for the atoms whose parameters
allow large tensors a model of their own (MEMORY_MODELS, e.g. end-to-end-portfolio's stacked
(2·seeds, d, k) softmax weights), else the weights of an MLP over the atom's input dimension and
hidden widths. Each float32 weight counts 16 bytes (value, gradient, two Adam moments); working
copies of a tensor count as many times again as the model says. Estimates only refuse what is
surely too big: a run is refused when its estimate exceeds the memory the machine has (GPU
memory on a CUDA device), never because of the estimate of time alone.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import os
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..errors import DeepatomsError

if TYPE_CHECKING:
    from ..atom import Atom
    from ..params import Params

HOUR_S = 3600.0
WEIGHT_BYTES = 16   # float32 value, gradient, two Adam moments
FLOAT_BYTES = 4
BASE_BYTES = 200 * 2**20  # per run, whatever the parameters (interpreter, torch, buffers)


class ResourceError(DeepatomsError):
    """The run would need more memory than the machine has, or ran out of it."""


class SlowRunWarning(UserWarning):
    """The run is estimated to take more than an hour."""


@dataclasses.dataclass(frozen=True)
class Estimate:
    memory_bytes: float
    seconds: float
    basis: str  # what the memory estimate counts


def _ints(value: Any) -> tuple[int, ...]:
    values = value if isinstance(value, tuple) else (value,)
    return tuple(v for v in values if isinstance(v, int) and not isinstance(v, bool))


def _get(p: "Params", *names: str, default: int = 0) -> int:
    """The largest integer among the named parameters that exist (lists: their largest)."""
    found = [v for n in names for v in _ints(getattr(p, n, ()))]
    return max(found) if found else default


def mlp_bytes(widths: tuple[int, ...], models: int) -> float:
    """Weights (with gradient and Adam moments) of `models` MLPs of these layer widths."""
    return models * WEIGHT_BYTES * sum((a + 1) * b for a, b in zip(widths, widths[1:]))


def _widths(p: "Params") -> tuple[int, ...]:
    """Input dimension, hidden widths (every hidden/encoder/decoder/width parameter), output."""
    d = _get(p, "d", "dim", "dims", default=2)
    hidden: list[int] = []
    for name in ("hidden", "encoder", "decoder", "width", "shallow_hidden",
                 "deep_hidden"):
        hidden.extend(_ints(getattr(p, name, ())))
    return (d, *hidden, 10)


def _generic(p: "Params", seeds: int) -> tuple[float, str]:
    widths = _widths(p)
    return mlp_bytes(widths, seeds), f"MLP weights {'×'.join(map(str, widths))} per seed"


def _portfolio(p: "Params", seeds: int) -> tuple[float, str]:
    # w (2·seeds, d, k) with Adam state, plus the exact evaluations' float64 softmax copies
    size = 2 * seeds * p.d * max(p.ks)
    return size * (WEIGHT_BYTES + 2 * 8), f"(2·seeds, d, k) = (2·{seeds}, {p.d}, {max(p.ks)})"


def _data(rows: int, cols: int, seeds: int, copies: int = 4) -> float:
    return float(seeds) * rows * cols * FLOAT_BYTES * copies


def _more_data(p: "Params", seeds: int) -> tuple[float, str]:
    n = max(p.sizes)
    widths = (p.d, *_ints(p.deep_hidden), 2)
    return (_data(n, p.d, seeds, 8) + mlp_bytes(widths, seeds * len(p.sizes)),
            f"{n} samples × {p.d} inputs, {len(p.sizes)} sizes per seed")


def _memorization(p: "Params", seeds: int) -> tuple[float, str]:
    n = max(p.sizes)
    widths = (p.d, *_ints(p.hidden), 2)
    return (_data(n, p.d, seeds) + mlp_bytes(widths, seeds * len(p.sizes)),
            f"{len(p.sizes)} MLPs {'×'.join(map(str, widths))} per seed, up to {n} samples")


def _pca(p: "Params", seeds: int) -> tuple[float, str]:
    dims = p.d + max(p.dummy_dims)
    widths = (dims, *_ints(p.hidden), 2)
    models = seeds * len(p.dummy_dims) * len(p.pca_dims) * len(p.mixings)
    return (mlp_bytes(widths, models) + _data(p.n, dims, seeds) + seeds * dims * dims * 8 * 3,
            f"{models} MLPs of up to {dims} inputs")


def _implicit(p: "Params", seeds: int) -> tuple[float, str]:
    d = max(p.dims)
    return (seeds * len(p.dims) * d * (WEIGHT_BYTES + p.n * 8 * 4),
            f"{seeds}×{len(p.dims)} linear models of up to {d} inputs, {p.n} samples")


def _flat(p: "Params", seeds: int) -> tuple[float, str]:
    widths = (p.dim, p.hidden, p.hidden, 1)
    rows = max(p.test_samples, p.batch_size)
    return (mlp_bytes(widths, seeds * len(p.methods)) + _data(rows, p.dim, seeds, 6),
            f"{len(p.methods)} MLPs {'×'.join(map(str, widths))} per seed")


MEMORY_MODELS: dict[str, Callable[[Any, int], tuple[float, str]]] = {
    "end-to-end-portfolio": _portfolio, "more-data": _more_data,
    "memorization-capacity": _memorization, "pca-preprocessing": _pca,
    "implicit-regularization": _implicit, "flat-activations": _flat,
}


def estimate(atom: "Atom", params: "Params", n_seeds: int) -> Estimate:
    """Memory (bytes) and time (seconds) of computing `n_seeds` seeds together."""
    from .estimates import estimate_s
    model = MEMORY_MODELS.get(atom.name, _generic)
    try:
        memory, basis = model(params, max(n_seeds, 1))
    except (AttributeError, TypeError, ValueError):  # an atom whose parameters changed shape
        memory, basis = _generic(params, max(n_seeds, 1))
    return Estimate(BASE_BYTES + memory, estimate_s(atom, params, n_seeds), basis)


def available_bytes(device: str = "cpu") -> float:
    """Memory the run may use: the GPU's total memory on CUDA, else the machine's RAM
    (physical memory, or a cgroup limit when lower)."""
    if str(device).startswith("cuda"):
        try:
            import torch
            index = torch.device(device).index
            return float(torch.cuda.get_device_properties(index or 0).total_memory)
        except Exception:
            pass
    total = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
            if text.isdigit():
                total = min(total, float(text))
        except OSError:
            pass
    return total


def gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check(atom: "Atom", params: "Params", n_seeds: int, device: str = "cpu", *,
          seeds_per_batch: int | None = None, warn: bool = False) -> Estimate:
    """ResourceError when the run surely does not fit in memory; with `warn`, a
    SlowRunWarning when it is estimated to take more than an hour."""
    together = min(n_seeds, seeds_per_batch) if seeds_per_batch else n_seeds
    est = estimate(atom, params, together)
    have = available_bytes(device)
    if est.memory_bytes > have:
        raise ResourceError(
            f"{atom.name} would need about {gib(est.memory_bytes)} of memory ({est.basis}), "
            f"more than the {gib(have)} this machine has; use smaller parameters"
            f"{' or --seeds-per-batch' if together > 1 else ''}")
    seconds = estimate(atom, params, n_seeds).seconds
    if warn and math.isfinite(seconds) and seconds > HOUR_S:
        warnings.warn(f"{atom.name} is estimated to take {seconds / HOUR_S:,.1f} h on a 2-core "
                      "CPU (its default takes "
                      f"{atom.runtime_s:,.0f} s); stored batches are kept if you stop it",
                      SlowRunWarning, stacklevel=3)
    return est


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and ("out of memory" in text.lower()
                                           or "can't allocate memory" in text.lower()))


@contextlib.contextmanager
def out_of_memory_as_error(name: str) -> Iterator[None]:
    """An out-of-memory error in the block becomes a one-line ResourceError (the memory is
    released first: the failed run's tensors go with the exception)."""
    try:
        yield
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        message = " ".join(str(exc).split())[:200]
        del exc
        gc.collect()
        try:
            import torch
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:
            pass
        raise ResourceError(f"{name} ran out of memory ({message}); use smaller parameters, "
                            "fewer seeds per batch (--seeds-per-batch) or another device") from None
