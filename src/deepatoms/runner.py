"""Plans trials (parameters × seeds), reuses cached ones, computes the rest, stores, judges."""
from __future__ import annotations

import dataclasses
import platform
import shlex
import time
from typing import Any, Sequence

import pandas as pd
import torch

from .atom import TABLE_COLUMNS, Atom
from .errors import DeepatomsError
from .lab import Lab, Progress, resolve_device
from .params import Params
from .store import Store
from .verdict import Verdict


def parse_seeds(seeds: int | str | Sequence[int] | None, default: int) -> tuple[int, ...]:
    """`5` → seeds 0..4; `"7,8,9"` or `[7, 8, 9]` → those seeds."""
    if seeds is None:
        seeds = default
    if isinstance(seeds, str):
        text = seeds.strip()
        try:
            seeds = int(text) if "," not in text else [int(s) for s in text.split(",") if s.strip()]
        except ValueError:
            raise DeepatomsError(f"--seeds must be a count (5) or a list (7,8,9), got {text!r}") from None
    if isinstance(seeds, bool):
        raise DeepatomsError("seeds must be a count or a list of integers")
    if isinstance(seeds, int):
        if seeds < 1:
            raise DeepatomsError(f"the number of seeds must be >= 1, got {seeds}")
        return tuple(range(seeds))
    out = tuple(int(s) for s in seeds)
    if not out:
        raise DeepatomsError("the list of seeds must not be empty")
    if any(s < 0 for s in out) or len(set(out)) != len(out):
        raise DeepatomsError(f"seeds must be distinct non-negative integers, got {list(out)}")
    return out


def environment(device: torch.device) -> dict[str, Any]:
    import numpy
    import deepatoms
    env = {"deepatoms": deepatoms.__version__, "python": platform.python_version(),
           "torch": torch.__version__, "numpy": numpy.__version__, "platform": platform.platform(),
           "device": str(device), "threads": torch.get_num_threads()}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def reproduce_command(atom: Atom, preset: str, seeds: tuple[int, ...], overrides: dict) -> str:
    parts = ["deepatoms", "run", atom.name]
    if preset != "default":
        parts += ["--preset", preset]
    parts += ["--seeds", ",".join(map(str, seeds)) if seeds != tuple(range(len(seeds)))
              else str(len(seeds))]
    for key, value in overrides.items():
        text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        parts += ["--set", f"{key}={text}"]
    return " ".join(shlex.quote(p) for p in parts)


def check_table(atom: Atom, table: pd.DataFrame, seeds: tuple[int, ...]) -> None:
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise RuntimeError(f"atom {atom.name}: run() table lacks columns {missing}")
    got = set(int(s) for s in table["seed"].unique())
    if got != set(seeds):
        raise RuntimeError(f"atom {atom.name}: run() returned seeds {sorted(got)}, expected {list(seeds)}")


def _scale(atom: Atom, params: Params, preset: str) -> tuple[str, tuple[str, ...]]:
    reasons = atom.scale_reasons(params, preset)
    return ("reduced" if reasons else "full"), reasons


@dataclasses.dataclass
class Execution:
    table: pd.DataFrame
    verdict: Verdict
    wall_s: float
    computed_s: float
    cached_seeds: tuple[int, ...]
    env: dict[str, Any]
    command: str


def execute(atom: Atom, params: Params, seeds: tuple[int, ...], *, preset: str = "default",
            overrides: dict | None = None, store: Store | None = None, device: str = "auto",
            force: bool = False, progress: Progress | None = None,
            seeds_per_batch: int | None = None) -> Execution:
    """Run `atom` for `seeds`: cached trials are loaded, missing ones computed in batches of seeds
    (one population per batch) and stored, each batch in one transaction."""
    dev = resolve_device(device)
    start = time.perf_counter()
    canonical, version = params.canonical(), atom.code_version
    cached = {} if (store is None or force) else store.load_trials(atom.name, canonical, version, seeds)
    missing = [s for s in seeds if s not in cached]
    size = seeds_per_batch or len(missing) or 1
    computed_s, tables = 0.0, dict(cached)
    for i in range(0, len(missing), size):
        batch = tuple(missing[i:i + size])
        t0 = time.perf_counter()
        table = atom.run(params, Lab(batch, dev, progress, stream=atom.stream))
        elapsed = time.perf_counter() - t0
        check_table(atom, table, batch)
        computed_s += elapsed
        per_seed = {s: table[table["seed"] == s].reset_index(drop=True) for s in batch}
        if store is not None:
            store.save_trials(atom.name, canonical, version, per_seed, elapsed / len(batch), str(dev))
        tables.update(per_seed)
    table = pd.concat([tables[s] for s in seeds], ignore_index=True)
    verdict = atom.judge(table).at_scale(*_scale(atom, params, preset))
    wall = time.perf_counter() - start
    command = reproduce_command(atom, preset, seeds, overrides or {})
    env = environment(dev)
    reused = tuple(s for s in seeds if s in cached)
    if store is not None:
        store.save_run(dict(atom=atom.name, preset=preset, params=canonical, code_version=version,
                            seeds=list(seeds), verdict=verdict.to_dict(), wall_s=wall,
                            computed_s=computed_s, env=env, command=command,
                            cached_seeds=list(reused)))
    return Execution(table, verdict, wall, computed_s, reused, env, command)
