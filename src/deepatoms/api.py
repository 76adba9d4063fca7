"""The Python API: `deepatoms.run(...)`, `deepatoms.catalog()`, and the Outcome it returns."""
from __future__ import annotations

import base64
import dataclasses
import html
import io
from typing import TYPE_CHECKING, Any, Callable, Sequence

import pandas as pd

from . import registry
from .atom import Atom
from .params import Params
from .execution.runner import Execution, execute, execute_adaptive
from .execution.seeds import is_auto, parse_seeds, seed_plan

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from .lab import Progress
    from .store.database import Store


@dataclasses.dataclass(kw_only=True)
class Outcome(Execution):
    """The result of running one atom: what the runner measured (`table`: the measurements,
    `figure_data`: the rows only drawn, `rows`: both as the atom returned them; verdict, timing,
    environment, command, `run_id` in the store) plus what was asked (atom, parameters, preset,
    seeds)."""
    atom: Atom
    params: Params
    preset: str
    seeds: tuple[int, ...]

    def figures(self, axes: "dict[str, Any] | None" = None) -> "dict[str, Figure]":
        """The atom's figures by name; `axes` maps a figure's name to axes to draw it onto."""
        return self.atom.figures(self.rows, axes=axes)

    def to_dict(self) -> dict[str, Any]:
        return {"atom": self.atom.name, "family": self.atom.family, "preset": self.preset,
                "params": self.params.to_dict(), "seeds": list(self.seeds),
                **self.verdict.to_dict(), "wall_s": round(self.wall_s, 3),
                "computed_s": round(self.computed_s, 3), "cached_seeds": list(self.cached_seeds),
                "env": self.env, "command": self.command, "run_id": self.run_id}

    def _repr_html_(self) -> str:
        from .report.html import evidence_html
        figs = []
        for fig in self.figures().values():
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
            figs.append(f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">')
        return (f"<h3>{html.escape(self.atom.title)} — <em>{html.escape(self.verdict.label)}</em></h3>"
                f"<p>{html.escape(self.verdict.finding)}</p>{evidence_html(self.verdict)}" + "".join(figs))


def catalog(family: str | None = None) -> pd.DataFrame:
    """One row per atom: name, family, title, estimated runtime."""
    atoms = registry.family(family) if family else list(registry.all_atoms().values())
    return pd.DataFrame([{"name": a.name, "family": a.family, "title": a.title,
                          "runtime_s": a.runtime_s} for a in atoms])


def get_atom(name: str) -> Atom:
    return registry.get(name)


def run(name: str, preset: str = "default", seeds: int | Sequence[int] | str | None = None, *,
        max_seeds: int | None = None, device: str = "auto", store: "Store | str | None" = None,
        force: bool = False, progress: "Progress | None" = None,
        seeds_per_batch: int | None = None, backend: str = "local", workers: int | None = None,
        threads: int | None = None, address: str | None = None, precision: str = "fp32",
        **overrides: Any) -> Outcome:
    """Run an atom and judge its claim, e.g. `run("class-imbalance", preset="quick", seeds=5)`.

    `seeds="auto"`: add seed batches while the verdict is undecided, up to `max_seeds`, with an
    error rate that holds under this optional stopping (`Outcome.verdict.seeds_note` says when
    it decided). `store`: a Store or a results directory (None: no caching, nothing written).
    `backend` "local" (this process, or `workers` processes with `threads` torch threads each)
    or "ray" (a cluster at `address`, else a private local one): see executors.ExecOptions.
    """
    from .execution.executors import ExecOptions
    from .errors import DeepatomsError
    from .lab import resolve_device
    from .execution.validate import check_run_arguments, open_store
    check_run_arguments(name=name, preset=preset, max_seeds=max_seeds, device=device, force=force,
                        progress=progress, seeds_per_batch=seeds_per_batch, store=store)
    options = ExecOptions(backend, workers, threads, address, precision)
    atom = registry.get(name)
    params = atom.params(preset, **overrides)
    auto = is_auto(seeds)
    if max_seeds is not None and not auto:
        raise DeepatomsError("max_seeds (--max-seeds) goes with seeds='auto' (--seeds auto)")
    plan = seed_plan(atom, max_seeds) if auto else None
    seed_tuple = () if auto else parse_seeds(seeds, atom.default_seeds)
    from .execution.resources import check as check_resources, out_of_memory_as_error
    check_resources(atom, params, plan.start if plan is not None else len(seed_tuple),
                    str(resolve_device(device)), seeds_per_batch=seeds_per_batch, warn=True)
    from .execution.precision import check_device as check_precision_device
    check_precision_device(precision, resolve_device(device))
    opened = open_store(store)  # last: nothing is written unless every argument is valid
    common = dict(preset=preset, overrides=overrides, store=opened, device=device, force=force,
                  progress=progress, seeds_per_batch=seeds_per_batch, options=options)
    try:
        with out_of_memory_as_error(atom.name):  # a clean failure of this atom (resources.py)
            ex = (execute_adaptive(atom, params, plan, **common) if plan is not None
                  else execute(atom, params, seed_tuple, **common))
    finally:
        if opened is not None and opened is not store:
            # a store opened here from a path is closed here, also on Ctrl-C or a cancel:
            # its connection is not left for the garbage collector (a long-lived process, such
            # as a `serve` worker, would keep it, and any lock it held, until then)
            opened.close()
    used = tuple(int(s) for s in dict.fromkeys(ex.rows.seed)) if plan is not None else seed_tuple
    return Outcome(**vars(ex), atom=atom, params=params, preset=preset, seeds=used)


@dataclasses.dataclass(frozen=True)
class Request:
    """One atom of a multi-atom run: the preset used, its parameters (preset + `overrides`) and
    seeds (a tuple, or "auto": adaptive)."""
    atom: Atom
    preset: str
    params: Params
    seeds: tuple[int, ...] | str
    max_seeds: int | None = None
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)


def prefetch(requests: Sequence[Request], *, store: "Store | None" = None, device: str = "auto",
             force: bool = False, seeds_per_batch: int | None = None,
             progress: "Progress | None" = None, note: "Callable[[str], None] | None" = None,
             **execution: Any) -> tuple[list[str], set[str]]:
    """The first step of a multi-atom run (`deepatoms run A B`, `--family`, `--all`, and the
    bench's family wall time): on worker processes or Ray, every atom's missing trials compute
    in one pool, longest first (execution/dispatch.py); each atom's `run_request` then takes its
    tables. `execution`: backend, workers, threads, address, precision as for `run`. Returns a
    line per failed atom (it computes again in its own run) and the names of atoms computed."""
    from .execution.dispatch import Job, prefetch as prefetch_jobs
    from .execution.executors import ExecOptions
    from .execution.ledger import LEDGER
    jobs = [Job(r.atom, r.params, r.seeds, seeds_per_batch) for r in requests
            if not isinstance(r.seeds, str)]
    failed = prefetch_jobs(jobs, ExecOptions(**execution), store, device, force, progress, note)
    return failed, {key[0] for key in LEDGER}


def run_request(request: Request, **options: Any) -> Outcome:
    """The second step of a multi-atom run: one atom's `run` (options as for `run`)."""
    return run(request.atom.name, request.preset, request.seeds, max_seeds=request.max_seeds,
               **options, **request.overrides)


def history(name: str, store: "Store | str | None" = None) -> pd.DataFrame:
    """Every stored run of atom `name` (oldest first): id, created, preset, seeds, device,
    dtype, status, verdict, wall_s, code_version, damaged (what of the run cannot be read, also
    a DamagedRunWarning), config (a DataFrame that draws itself in Jupyter). `store`: a Store or
    a results directory (default: DEEPATOMS_STORE, else ./deepatoms-runs), opened read-only."""
    from .report.notebook import History
    from .store.history import history_rows
    from .execution.validate import check_text
    check_text("the atom name", name)
    runs = History(history_rows(_read_store(store), name))
    runs.atom = name
    return runs


def diff(run_a: int, run_b: int, store: "Store | str | None" = None) -> dict[str, Any]:
    """Two stored runs side by side (see `deepatoms diff`): runs, params (those that differ),
    evidence (matched by setting and metric, then by order, with B − A) and numbers (metric
    means); a dict that draws itself in Jupyter. A run id is a whole number from 1 (StoreError
    otherwise); runs of two different atoms are compared with a DifferentAtomsWarning."""
    from .report.notebook import Diff
    from .store.history import diff_runs
    from .store.database import check_run_id
    check_run_id(run_a), check_run_id(run_b)
    return Diff(diff_runs(_read_store(store), run_a, run_b))


def _read_store(store: "Store | str | None") -> "Store":
    from .store.database import Store, default_location
    from .execution.validate import check_store_location
    if isinstance(store, Store):
        return store
    if store is not None:
        check_store_location(store)
    return Store(store if store is not None else default_location(), readonly=True)
