"""Trials: what the runner computes, one setting group of an atom × one batch of seeds.

An atom may declare `split_by`: tuple parameters whose values can run as separate populations
(each value one setting group; several fields: every combination). A group runs the atom with
those fields narrowed to one value, so its trials are cached under the group's own parameters;
the run's table for a seed is its groups' tables concatenated in the parameters' order, which
must equal the unsplit run's table (tests/execution/test_executors.py checks the atoms that split).
Without `split_by` an atom is one group: the parameters as given.

`run_trial` is what every executor calls, in this process, a worker process or a Ray task; it
returns the per-seed tables and never touches the store (only the driver writes it).
"""
from __future__ import annotations

import copy
import dataclasses
import itertools
import time
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..atom import TABLE_COLUMNS

if TYPE_CHECKING:
    from ..atom import Atom
    from ..lab import Progress
    from ..params import Params


@dataclasses.dataclass(frozen=True)
class Trial:
    """One unit of work: `atom` (its name) at the group's `params` for a batch of `seeds`, on
    `device` (a key such as "cpu" or "cuda:0") in `dtype`, with the driver's `code_version`."""
    atom: str
    params: "Params"
    seeds: tuple[int, ...]
    device: str
    dtype: str
    code_version: str
    group: int = 0

    @property
    def canonical(self) -> str:
        return self.params.canonical()

    def label(self) -> str:
        return f"{self.atom} group {self.group}, seeds {','.join(map(str, self.seeds))}"


@dataclasses.dataclass
class TrialResult:
    """The per-seed tables of one trial, how long it computed, and where."""
    trial: Trial
    tables: dict[int, pd.DataFrame]
    elapsed_s: float
    torch_version: str
    threads: int


@dataclasses.dataclass
class TrialFailure:
    """A trial that raised in a worker, as a value (executors' `settle=True`): `error` is
    "Type: message"; the caller decides what to do with the atom."""
    trial: Trial
    error: str


def check_table(atom: "Atom", table: pd.DataFrame, seeds: tuple[int, ...]) -> None:
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise RuntimeError(f"atom {atom.name}: run() table lacks columns {missing}")
    got = set(int(s) for s in table["seed"].unique())
    if got != set(seeds):
        raise RuntimeError(f"atom {atom.name}: run() returned seeds {sorted(got)}, expected {list(seeds)}")


def narrow(params: "Params", values: dict[str, Any]) -> "Params":
    """`params` with each field of `values` set to the one-value tuple of it. Validation is
    skipped on purpose: a claim may need two settings (min_len), one group of it may not."""
    out = copy.copy(params)
    for key, value in values.items():
        object.__setattr__(out, key, (value,))
    return out


def setting_groups(atom: "Atom", params: "Params") -> list["Params"]:
    """The parameters of each setting group, in the order of the split fields' values."""
    fields = tuple(getattr(atom, "split_by", ()) or ())
    if not fields:
        return [params]
    values = [tuple(getattr(params, f)) for f in fields]
    combos = list(itertools.product(*values))
    if len(combos) <= 1:
        return [params]
    return [narrow(params, dict(zip(fields, combo))) for combo in combos]


def seed_batches(seeds: tuple[int, ...], size: int | None) -> list[tuple[int, ...]]:
    size = size or len(seeds) or 1
    return [tuple(seeds[i:i + size]) for i in range(0, len(seeds), size)]


def combine(group_tables: list[dict[int, pd.DataFrame]], seeds: tuple[int, ...]
            ) -> dict[int, pd.DataFrame]:
    """Per seed, the groups' tables one after another (one group: its tables unchanged)."""
    if len(group_tables) == 1:
        return {s: group_tables[0][s] for s in seeds}
    return {s: pd.concat([g[s] for g in group_tables], ignore_index=True) for s in seeds}


def run_trial(trial: Trial, atom: "Atom | None" = None, progress: "Progress | None" = None
              ) -> TrialResult:
    """Compute one trial in this process (`atom`: the Atom object; default: the registry's)."""
    import torch
    from .. import registry
    from ..engine.alloc import keep_freed_memory
    from ..lab import Lab
    atom = atom if atom is not None else registry.get(trial.atom)
    keep_freed_memory()  # large activations reuse warm pages (engine/alloc.py)
    from .precision import math_mode, precision_of
    precision = precision_of(trial.dtype)  # "float32-bf16-math": float32 data, bf16 matmuls
    dtype = torch.float32 if precision != "fp32" else getattr(torch, trial.dtype)
    lab = Lab(trial.seeds, torch.device(trial.device), progress, dtype, stream=atom.stream)
    start = time.perf_counter()
    with math_mode(precision, lab.device):
        table = atom.run(trial.params, lab)
    elapsed = time.perf_counter() - start
    check_table(atom, table, trial.seeds)
    tables = {s: table[table["seed"] == s].reset_index(drop=True) for s in trial.seeds}
    return TrialResult(trial, tables, elapsed, torch.__version__, torch.get_num_threads())
