"""Cross-atom dispatch: a run of several atoms on worker processes (or Ray) computes every
atom's missing trials in one pool, longest first, instead of one atom after another.

Without it, `run --family atoms --workers 2` splits each atom's seeds over the workers and waits
for the atom to finish before the next starts: small atoms leave a worker idle, and each atom's
population is halved. `prefetch` submits whole atoms (each atom's missing seeds as one trial,
the population it would be in this process, so tables are bitwise the same) to the pool in
decreasing order of their estimated time (longest-processing-time-first scheduling). As each
trial arrives the driver stores it (so an interrupted run resumes) and keeps it in the ledger
(ledger.py); the per-atom run that follows takes it from there: it counts as computed by this run, not
as cached. A trial that fails in a worker is left out: that atom computes again in its own run,
which reports the error as it always does.

Atoms that time themselves (`timing_metrics`) are prefetched like the others: they time CPU
seconds of their own thread and judge per-round ratios or slopes (atoms/architecture/_rounds.py),
which a busy neighbour on the other core scales alike within a round. Until issue 16 they ran
alone in the driver after the prefetch, with the other core idle (225 of make run's 1,353 s).
A run of one such atom still computes in this process (ExecOptions.slots).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, Sequence

from ..errors import DeepatomsError
from ..lab import resolve_device
from . import executors
from .backend import pool_executor
from .estimates import estimate_s
from .ledger import clear, keep
from .runner import save_result, store_key
from .trials import Trial, TrialFailure, TrialResult, seed_batches

if TYPE_CHECKING:
    from ..atom import Atom
    from .executors import ExecOptions
    from ..lab import Progress
    from ..params import Params
    from ..store.database import Store

@dataclasses.dataclass(frozen=True)
class Job:
    """One atom of a multi-atom run: its parameters and seeds (a tuple; `--seeds auto` runs
    are not prefetched)."""
    atom: "Atom"
    params: "Params"
    seeds: tuple[int, ...]
    seeds_per_batch: int | None = None


def slots_for(jobs: Sequence[Job], options: "ExecOptions") -> int:
    """How many processes a prefetch of `jobs` uses (1: none, the atoms run as before). With
    the default --workers the local backend spreads only runs estimated over PARALLEL_MIN_S on an
    idle machine, the rule a single atom follows (executors.py)."""
    if len(jobs) < 2:
        return 1
    workers = options.workers or executors.default_workers()
    if workers <= 1:
        return 1
    if options.backend == "local" and options.workers is None:
        total = sum(estimate_s(j.atom, j.params, len(j.seeds)) for j in jobs)
        if total < executors.PARALLEL_MIN_S or executors.busy():
            return 1
    return workers


def plan(jobs: Sequence[Job], key: tuple[str, str], store: "Store | None", force: bool
         ) -> list[Trial]:
    """Every job's trials for its seeds not in the store, longest estimated first."""
    timed: list[tuple[float, int, Trial]] = []
    for job in jobs:
        atom, canonical = job.atom, job.params.canonical()
        if not executors.registered(atom):
            continue  # workers find atoms by name
        missing = job.seeds
        if store is not None and not force:
            found = store.load_trials(atom.name, canonical, atom.code_version, job.seeds, *key)
            missing = tuple(s for s in job.seeds if s not in found)
        for batch in seed_batches(missing, job.seeds_per_batch) if missing else ():
            trial = Trial(atom.name, job.params, batch, *key, atom.code_version)
            timed.append((estimate_s(atom, job.params, len(batch)), len(timed), trial))
    return [t for _, _, t in sorted(timed, key=lambda x: (-x[0], x[1]))]


def prefetch(jobs: Sequence[Job], options: "ExecOptions", store: "Store | None",
             device: str = "auto", force: bool = False, progress: "Progress | None" = None,
             note: Callable[[str], None] | None = None) -> list[str]:
    """Compute the jobs' missing trials across atoms on the workers (see the module text);
    each result is stored at once and kept for `take` (the ledger holds this prefetch only). Returns one line per failure (those
    atoms are left to their own runs). Nothing happens when `slots_for` says 1 or fewer than
    two atoms have work."""
    clear()  # what an earlier prefetch left untaken is not this run's
    slots = slots_for(jobs, options)
    key = store_key(resolve_device(device), options)
    trials = plan(jobs, key, store, force) if slots > 1 else []
    if len({t.atom for t in trials}) < 2:
        return []
    executor = pool_executor(options, slots)
    failures: list[str] = []
    what = (f"{len({t.atom for t in trials})} atoms, {len(trials)} trials on {slots} "
            f"{'Ray workers' if options.backend == 'ray' else 'workers'}, longest first")
    if note is not None:
        note(f"computing {what}")
    atoms = {job.atom.name: job.atom for job in jobs}
    if progress is not None:  # the bar counts estimated seconds: trials run longest first
        progress.begin(f"{what} (estimated s)",
                       sum(trial_weight(atoms[t.atom], t) for t in trials))
    try:
        for result in executor.map(trials, settle=True):
            if isinstance(result, TrialFailure):
                failures.append(f"{result.trial.label()}: {result.error}")
            else:
                _keep(result, store, places(options, slots))
                if note is not None:
                    note(f"  computed {result.trial.atom} (seeds "
                         f"{_seeds_text(result.trial.seeds)}) in {result.elapsed_s:.1f} s")
            if progress is not None:
                progress.advance(trial_weight(atoms[result.trial.atom], result.trial))
    except DeepatomsError as exc:  # a lost worker pool: the rest run atom by atom
        failures.append(" ".join(str(exc).split()))
    finally:
        if progress is not None:
            progress.end()
    return failures


def trial_weight(atom: "Atom", trial: Trial) -> int:
    """A trial's share of the prefetch's progress: its estimated seconds (at least 1). Counting
    trials instead made the time left 3× too long for most of a run: the longest come first."""
    return max(int(round(estimate_s(atom, trial.params, len(trial.seeds)))), 1)


def places(options: "ExecOptions", slots: int) -> str:
    """Where a prefetch's trials compute, as a run record names it."""
    if options.backend == "ray":
        return "Ray tasks (cross-atom prefetch)"
    return f"{slots} worker processes (cross-atom prefetch)"


def _keep(result: TrialResult, store: "Store | None", where: str = "") -> None:
    trial = result.trial
    per_seed = result.elapsed_s / len(trial.seeds)
    if store is not None:
        save_result(store, result, (trial.device, trial.dtype))
    keep(trial, {s: (table, per_seed) for s, table in result.tables.items()}, where)


def _seeds_text(seeds: tuple[int, ...]) -> str:
    if len(seeds) > 2 and seeds == tuple(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}–{seeds[-1]}"
    return ",".join(map(str, seeds))
