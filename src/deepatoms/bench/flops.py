"""FLOPs of an atom's run and its FLOP bound, measured on the atom's own shapes.

`OpRecorder` is a dispatch mode: every call of an op that torch's flop counter knows (matmuls,
batched matmuls, convolutions, attention) is recorded with its exact argument layout (shape,
stride, dtype) and FLOPs; identical calls are counted, not stored twice. `bound` then replays one
call of each layout on random tensors of that layout, back to back, and takes the best time per
call: the atom's FLOP bound is Σ count × best time — how long the run would take if its matmul
work ran at the speed this machine reaches on those very shapes and everything else (elementwise
ops, Python, the optimiser) cost nothing. Layouts are timed in order of FLOPs until 99 % of them
are covered; the rest are charged at the FLOP rate of the timed ones.

The replay runs at an explicit number of torch threads, by default the one every trial runs at
(`TRIAL_THREADS`: the executors give each trial 1 thread, in this process and in workers), so
that a wall time and its bound are measured alike; the result states it (`bound_threads`).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import flop_registry

COVER = 0.99          # share of the FLOPs whose layouts are replayed and timed
MIN_BLOCK_S = 2e-3    # each timing block lasts at least this long
BLOCKS = 3            # best of this many blocks
TRIAL_THREADS = 1     # torch threads of every trial (execution: ExecOptions.threads or 1)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block at `n` torch threads, then restore the count it found."""
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class _Spec:
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype
    device: str


def _spec(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return _Spec(tuple(x.shape), tuple(x.stride()), x.dtype, str(x.device))
    if isinstance(x, list):
        return tuple(_spec(v) for v in x)
    return x


@dataclass
class OpRecorder(TorchDispatchMode):
    """Counts FLOP-carrying op calls by layout: calls[(op, args, kwargs)] = [count, flops]."""
    calls: dict[tuple, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count_fn = flop_registry.get(func._overloadpacket)
        if count_fn is not None:
            key = (func, tuple(_spec(a) for a in args),
                   tuple(sorted((k, _spec(v)) for k, v in kwargs.items())))
            entry = self.calls.get(key)
            if entry is None:
                self.calls[key] = [1, float(count_fn(*args, **kwargs, out_val=out))]
            else:
                entry[0] += 1
        return out

    @property
    def flops(self) -> float:
        return sum(count * flops for count, flops in self.calls.values())


def _materialise(spec: Any, gen: torch.Generator) -> Any:
    if isinstance(spec, _Spec):
        size = 1 + sum((n - 1) * s for n, s in zip(spec.shape, spec.stride) if n > 0)
        base = torch.rand(size if spec.shape else 1, generator=gen).to(spec.dtype)
        return base.to(spec.device).as_strided(spec.shape, spec.stride)
    if isinstance(spec, tuple) and spec and all(isinstance(s, _Spec) for s in spec):
        return [_materialise(s, gen) for s in spec]
    return spec


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def time_call(call: Callable[[], Any], device: str = "cpu") -> float:
    """Best seconds per call over BLOCKS back-to-back blocks of at least MIN_BLOCK_S each."""
    call()
    _sync(device)
    start, reps = time.perf_counter(), 0
    while reps < 2 or time.perf_counter() - start < MIN_BLOCK_S:
        call()
        reps += 1
    _sync(device)
    best = (time.perf_counter() - start) / reps
    for _ in range(BLOCKS - 1):
        start = time.perf_counter()
        for _ in range(reps):
            call()
        _sync(device)
        best = min(best, (time.perf_counter() - start) / reps)
    return best


def _device_of(args: tuple) -> str:
    return next((a.device for a in args if isinstance(a, _Spec)), "cpu")


def bound(recorder: OpRecorder, gen: torch.Generator,
          threads: int = TRIAL_THREADS) -> dict[str, Any]:
    """Replay the recorded layouts at `threads` torch threads (torch's count is restored after);
    returns FLOPs, the bound in seconds, layouts timed/total, the effective FLOP rate of the
    timed layouts and `bound_threads`."""
    items = sorted(recorder.calls.items(), key=lambda kv: -kv[1][0] * kv[1][1])
    total = recorder.flops
    timed_s = timed_flops = 0.0
    timed = 0
    with torch.no_grad(), torch_threads(threads):
        for (func, args, kwargs), (count, flops) in items:
            if total and timed_flops >= COVER * total:
                break
            real_args = [_materialise(a, gen) for a in args]
            real_kwargs = {k: _materialise(v, gen) for k, v in kwargs}
            per_call = time_call(lambda: func(*real_args, **real_kwargs), _device_of(args))
            timed_s += count * per_call
            timed_flops += count * flops
            timed += 1
    rate = timed_flops / timed_s if timed_s else float("nan")
    rest = (total - timed_flops) / rate if timed_s else 0.0
    return dict(flops=total, bound_s=timed_s + rest, layouts=len(items), layouts_timed=timed,
                flops_per_s_on_shapes=rate, op_calls=int(sum(c for c, _ in recorder.calls.values())),
                bound_threads=int(threads))


def count_and_bound(work: Callable[[], Any], gen: torch.Generator,
                    threads: int = TRIAL_THREADS) -> dict[str, Any]:
    """Run `work` under the recorder (its wall time is not the atom's: the recorder adds overhead
    per op), then replay its layouts at `threads` torch threads."""
    recorder = OpRecorder()
    with recorder, torch_threads(threads):
        work()
    return bound(recorder, gen, threads)
