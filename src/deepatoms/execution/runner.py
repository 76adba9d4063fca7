"""Plans trials (parameters × seeds), reuses cached ones, computes the rest, stores, judges."""
from __future__ import annotations

import dataclasses
import os
import platform
import shlex
import time
from typing import Any

import pandas as pd
import torch

from .. import __version__, stats
from ..atom import Atom
from ..lab import Lab, Progress, resolve_device  # noqa: F401  (Lab: tests patch it here)
from ..params import Params
from ..store import Store
from ..verdict import Verdict
from .ledger import place, take
from .backend import trial_executor
from .executors import ExecOptions
from .precision import STORE_DTYPE, device_key, dtype_key
from .seeds import SeedPlan
from .trials import Trial, TrialResult, combine, seed_batches, setting_groups


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux; else what `platform` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict[str, Any]:
    """Versions, device, CPU model, core count and the 1/5/15-minute load average at the end of
    the run (timings depend on the machine and what else it was doing)."""
    import numpy
    env = {"deepatoms": __version__, "python": platform.python_version(),
           "torch": torch.__version__, "numpy": numpy.__version__, "platform": platform.platform(),
           "device": str(device), "threads": torch.get_num_threads(), "cpu": cpu_model(),
           "cpus": os.cpu_count()}
    if hasattr(os, "getloadavg"):
        env["load_avg"] = [round(x, 2) for x in os.getloadavg()]
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


def _scale(atom: Atom, params: Params, preset: str) -> tuple[str, tuple[str, ...]]:
    reasons = atom.scale_reasons(params, preset)
    return ("reduced" if reasons else "full"), reasons


@dataclasses.dataclass
class Execution:
    """`table`: the measurements; `figure_data`: the atom's drawing data (its `figure_metrics`
    rows); `rows`: every row the atom returned, in order (what the judge and figures read)."""
    table: pd.DataFrame
    verdict: Verdict
    wall_s: float
    computed_s: float
    cached_seeds: tuple[int, ...]
    env: dict[str, Any]
    command: str
    figure_data: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame, repr=False)
    rows: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame, repr=False)
    run_id: int | None = None


@dataclasses.dataclass
class _Trials:
    """The per-seed tables of one (atom, parameters) computed or loaded so far."""
    atom: Atom
    params: Params
    device: torch.device
    store: Store | None
    force: bool
    progress: Progress | None
    seeds_per_batch: int | None
    dtype: torch.dtype = torch.float32
    options: ExecOptions = dataclasses.field(default_factory=ExecOptions)
    tables: dict[int, pd.DataFrame] = dataclasses.field(default_factory=dict)
    cached: set[int] = dataclasses.field(default_factory=set)
    computed_s: float = 0.0
    places: list[str] = dataclasses.field(default_factory=list)  # where computing happened

    def computed_in(self, where: str) -> None:
        if where and where not in self.places:
            self.places.append(where)

    def ensure(self, seeds: tuple[int, ...]) -> pd.DataFrame:
        """Load cached trials of `seeds`, compute the missing ones (setting groups × batches of
        seeds, each a trial stored in one transaction by this process); the table of `seeds`
        in their order."""
        atom, canonical, version = self.atom, self.params.canonical(), self.atom.code_version
        self.take_prefetched([s for s in seeds if s not in self.tables])
        todo = [s for s in seeds if s not in self.tables]
        if todo and self.store is not None and not self.force:
            found = self.store.load_trials(atom.name, canonical, version, tuple(todo), *self.key)
            self.tables.update(found)
            self.cached.update(found)
        missing = tuple(s for s in seeds if s not in self.tables)
        if missing:
            self._compute(missing)
        return pd.concat([self.tables[s] for s in seeds], ignore_index=True)

    def _compute(self, missing: tuple[int, ...]) -> None:
        """Each setting group's cached trials, the rest through the executor; with several
        groups the combined per-seed tables are stored under the run's own parameters too."""
        atom, version = self.atom, self.atom.code_version
        groups, size, slots = self.options.layout(atom, self.params, len(missing),
                                                  self.seeds_per_batch)
        every = setting_groups(atom, self.params)
        done: list[dict[int, pd.DataFrame]] = [{} for _ in every]
        if len(every) > 1 and self.store is not None and not self.force:
            for found, group in zip(done, every):
                found.update(self.store.load_trials(atom.name, group.canonical(), version,
                                                    missing, *self.key))
        if any(done) or len(groups) > 1:  # resume a split run from its finished groups
            groups = every
        else:
            done = [{}]
        plan = [Trial(atom.name, group, batch, *self.key, version, i)
                for i, group in enumerate(groups)
                for batch in seed_batches(tuple(s for s in missing if s not in done[i]), size)]
        per_seed_s = dict.fromkeys(missing, 0.0)
        if plan:
            self.computed_in(executor_place(self.options, slots, len(plan)))
        for result in trial_executor(atom, plan, self.options, slots, self.progress):
            trial = result.trial
            if self.store is not None:
                save_result(self.store, result, self.key)
            done[trial.group].update(result.tables)
            self.computed_s += result.elapsed_s
            for s in trial.seeds:
                per_seed_s[s] += result.elapsed_s / len(trial.seeds)
        tables = combine(done, missing)
        if len(groups) > 1 and self.store is not None:
            self.store.save_trials(atom.name, self.params.canonical(), version, tables,
                                   sum(per_seed_s.values()) / len(missing), *self.key,
                                   torch.__version__, torch.get_num_threads())
        planned = {s for trial in plan for s in trial.seeds}
        self.cached.update(s for s in missing if s not in planned)  # every group was cached
        self.tables.update(tables)

    @property
    def key(self) -> tuple[str, str]:
        """(device, dtype) of this run's trials in the store (bf16 math mode: its own dtype)."""
        return store_key(self.device, self.options, self.dtype)

    def take_prefetched(self, seeds: list[int]) -> None:
        """Seeds a cross-atom prefetch computed for this run (dispatch.py): computed, not
        cached (they are in the store already)."""
        atom = self.atom
        key = (atom.name, self.params.canonical(), atom.code_version, *self.key)
        found = take(key, seeds)
        if found:
            self.computed_in(place(key) or "worker processes (cross-atom prefetch)")
        for seed, (table, seconds) in found.items():
            self.tables[seed] = table
            self.computed_s += seconds


def executor_place(options: ExecOptions, slots: int, n_trials: int) -> str:
    """Where `trial_executor` computes a plan of `n_trials` (backend.py's rule)."""
    if options.backend == "ray":
        return "Ray tasks"
    if slots <= 1 or n_trials == 1:
        return "this process"
    return f"{slots} worker processes"


def save_result(store: Store, result: TrialResult, key: tuple[str, str]) -> None:
    """Store one computed trial's per-seed tables (in one transaction) under the driver's
    (device, dtype) `key`, the one it planned the trial for."""
    trial = result.trial
    store.save_trials(trial.atom, trial.canonical, trial.code_version, result.tables,
                      result.elapsed_s / len(trial.seeds), *key, result.torch_version,
                      result.threads)


def store_key(device: torch.device, options: ExecOptions,
              dtype: torch.dtype = torch.float32) -> tuple[str, str]:
    """(device, dtype) under which trials of these options are stored."""
    if options.precision != "fp32":
        return device_key(device), STORE_DTYPE[options.precision]
    return device_key(device), dtype_key(dtype)


def _finish(trials: _Trials, seeds: tuple[int, ...], table: pd.DataFrame, verdict: Verdict,
            preset: str, overrides: dict | None, start: float) -> Execution:
    """Mark the verdict's scale, store the run record, and return the execution of `seeds`."""
    atom, store = trials.atom, trials.store
    verdict = verdict.at_scale(*_scale(atom, trials.params, preset))
    wall = time.perf_counter() - start
    command = reproduce_command(atom, preset, seeds, overrides or {})
    env = environment(trials.device)
    env["computed_on"] = " + ".join(trials.places) if trials.places else "nothing (all cached)"
    reused = tuple(s for s in seeds if s in trials.cached)
    run_id = None
    if store is not None:
        device, dtype = trials.key
        run_id = store.save_run(dict(
            atom=atom.name, preset=preset, params=trials.params.canonical(),
            code_version=atom.code_version, device=device, dtype=dtype, seeds=list(seeds),
            verdict=verdict.to_dict(), wall_s=wall, computed_s=trials.computed_s, env=env,
            command=command, cached_seeds=list(reused)))
    measured, figure_data = atom.split(table)
    return Execution(measured, verdict, wall, trials.computed_s, reused, env, command,
                     figure_data, table, run_id)


def execute(atom: Atom, params: Params, seeds: tuple[int, ...], *, preset: str = "default",
            overrides: dict | None = None, store: Store | None = None, device: str = "auto",
            force: bool = False, progress: Progress | None = None,
            seeds_per_batch: int | None = None, options: ExecOptions | None = None) -> Execution:
    """Run `atom` for `seeds`: cached trials are loaded, missing ones computed in batches of seeds
    (one population per batch) and stored, each batch in one transaction. `options`: where the
    trials compute (executors.ExecOptions: in this process, worker processes or Ray)."""
    start = time.perf_counter()
    trials = _Trials(atom, params, resolve_device(device), store, force, progress, seeds_per_batch,
                     options=options or ExecOptions())
    table = trials.ensure(seeds)
    return _finish(trials, seeds, table, atom.judge(table), preset, overrides, start)


def execute_adaptive(atom: Atom, params: Params, plan: "SeedPlan", *, preset: str = "default",
                     overrides: dict | None = None, store: Store | None = None,
                     device: str = "auto", force: bool = False, progress: Progress | None = None,
                     seeds_per_batch: int | None = None,
                     options: ExecOptions | None = None) -> Execution:
    """`--seeds auto`: judge after the first seeds and after each further batch, until the
    verdict decides or `plan.max_seeds` are used. Each of the plan's K looks judges at the
    two-sided level 1 − 0.05/K (Bonferroni over looks), so the chance that any look wrongly
    decides stays ≤ 5% however the stopping goes (simulated in tests/execution/test_sequential.py)."""
    start = time.perf_counter()
    trials = _Trials(atom, params, resolve_device(device), store, force, progress, seeds_per_batch,
                     options=options or ExecOptions())
    looks = plan.looks()
    level = plan.level
    history = []
    for n in looks:
        seeds = tuple(range(plan.first_seed, plan.first_seed + n))
        table = trials.ensure(seeds)
        with stats.at_confidence(level):
            verdict = atom.judge(table)
        history.append(f"{n}: {verdict.status}")
        if verdict.status != "inconclusive":
            break
    decided = verdict.status != "inconclusive"
    note = (f"{'decided' if decided else 'still undecided'} after {len(seeds)} seeds "
            f"(--seeds auto: up to {plan.max_seeds}, {len(looks)} looks at {', '.join(map(str, looks))} "
            f"seeds, each judged at {100 * level:.4g}% so the error rate holds under optional "
            f"stopping; looks: {'; '.join(history)})")
    verdict = dataclasses.replace(verdict, seeds_note=note)
    return _finish(trials, seeds, table, verdict, preset, overrides, start)
