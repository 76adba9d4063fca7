"""What an atom's `run` receives: the seeds to compute, the device, generators and progress.

Randomness only comes from here: `torch_generator(seed, *tags)` and `numpy_rng(seed, *tags)`
derive independent, reproducible streams from the trial seed and a tag naming their use.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
import torch


class Progress(Protocol):
    """Where progress goes (the CLI draws a bar; the library itself never prints)."""

    def begin(self, description: str, total: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def end(self) -> None: ...


class NoProgress:
    def begin(self, description: str, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def end(self) -> None:
        pass


RecordListener = Callable[[int, int, Any, Any], None]
NamesListener = Callable[[list[str], list[int]], None]
_listeners: list[RecordListener] = []  # this process's listener of training steps (0 or 1)
_namers: list[NamesListener] = []      # and who hears the names of the next loop's models


def set_record_listener(listener: RecordListener | None,
                        names: NamesListener | None = None) -> None:
    """Who sees the steps of the engine's training loop (`engine.train`): after each step,
    `listener(step, steps, loss, recorded)` with the step's loss as the loop computed it (per
    model, or per example; None when the loss sets the gradients itself) and, after a record
    step, what `record` returned (else None). None: nobody (the default, and the CLI's). A
    listener only reads: it must not change what it is given, so the tables stay bitwise the
    same with or without one. `deepatoms serve` streams them as live training curves.
    `names(settings, seeds)`: told the models of the next training loop when an atom names
    them (`Lab.name_models`), so the curves can be grouped by setting."""
    _listeners[:] = [listener] if listener is not None else []
    _namers[:] = [names] if listener is not None and names is not None else []


def listening() -> bool:
    """Whether a listener is set (the loop hands nothing over otherwise)."""
    return bool(_listeners)


def record_seen(step: int, steps: int, loss: Any, recorded: Any) -> None:
    """Hand one training step to the listener, if any (called by `engine.train`)."""
    for listener in _listeners:
        listener(step, steps, loss, recorded)


def derive_seed(seed: int, *tags: object) -> int:
    """A 63-bit seed derived from the trial seed and tags (stable across runs and platforms)."""
    digest = hashlib.sha256(repr((int(seed), *map(str, tags))).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def resolve_device(device: str) -> torch.device:
    from .errors import DeviceError
    if not isinstance(device, str):
        raise DeviceError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r:.60}")
    device = device.strip()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {device} was asked but CUDA is not available "
                              f"(torch {torch.__version__}); use --device cpu or auto")
        return _cuda_device(device)
    raise DeviceError(f"unknown device '{device}'; allowed: auto, cpu, cuda")


def _cuda_device(device: str) -> torch.device:
    """`cuda` or `cuda:N` with N an existing GPU."""
    from .errors import DeviceError
    index = device.partition(":")[2]
    count = torch.cuda.device_count()
    if index and not (index.isdigit() and int(index) < count):
        raise DeviceError(f"unknown device '{device}'; this machine has cuda:0 .. cuda:{count - 1}")
    return torch.device(device)


class Lab:
    """The trial context handed to `atom.run(params, lab)`."""

    def __init__(self, seeds: tuple[int, ...] | list[int], device: torch.device | str = "cpu",
                 progress: Progress | None = None, dtype: torch.dtype = torch.float32,
                 stream: str = ""):
        self.seeds: tuple[int, ...] = tuple(int(s) for s in seeds)
        # Every generator is derived from (stream, seed, tags): atoms get independent data unless
        # they name a shared protocol, so one hard seed does not fail several atoms at once.
        self.stream = stream
        self.device = torch.device(device)
        self.dtype = dtype
        self._progress = progress or NoProgress()

    def torch_generator(self, seed: int, *tags: object, device: str | torch.device = "cpu"
                        ) -> torch.Generator:
        gen = torch.Generator(device=device)
        gen.manual_seed(self.derive(seed, *tags))
        return gen

    def numpy_rng(self, seed: int, *tags: object) -> np.random.Generator:
        return np.random.default_rng(self.derive(seed, *tags))

    def derive(self, seed: int, *tags: object) -> int:
        """The 63-bit seed of the stream named by (this lab's stream, seed, tags)."""
        return derive_seed(seed, *((f"stream:{self.stream}",) if self.stream else ()), *tags)

    def steps(self, n: int, description: str = "training", every: int | None = None) -> Iterator[int]:
        """`range(n)` that reports progress (in batches of `every` steps to keep it cheap)."""
        every = every or max(1, n // 200)
        self._progress.begin(description, n)
        try:
            for i in range(n):
                yield i
                if (i + 1) % every == 0 or i + 1 == n:
                    self._progress.advance(every if (i + 1) % every == 0 else (i + 1) % every)
        finally:
            self._progress.end()

    def name_models(self, settings: Sequence[object], seeds: Sequence[int]) -> None:
        """Name the models of the next training loop (`engine.train`), in population order:
        each model's setting (a short label, e.g. "sin, h=4") and seed. Only a live listener
        (`deepatoms serve`) hears them, to draw a colour per setting, its seeds thin and their
        mean thick; without one this does nothing (the lengths are still checked). It changes
        no number: the tables are the same with or without it."""
        if len(settings) != len(seeds):
            raise ValueError(f"name_models: {len(settings)} settings for {len(seeds)} seeds")
        if _namers:
            labels, numbers = [str(s)[:60] for s in settings], [int(s) for s in seeds]
            for names in _namers:
                names(labels, numbers)

    def tensor(self, array: np.ndarray | torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Move data to the lab's device (float data to the lab's dtype)."""
        t = torch.as_tensor(array)
        if dtype is None and t.is_floating_point():
            dtype = self.dtype
        return t.to(device=self.device, dtype=dtype or t.dtype)
