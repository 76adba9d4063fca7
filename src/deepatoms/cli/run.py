"""`deepatoms run` and `deepatoms probe`: plan the request, validate it whole, run the atoms
(several atoms on workers: their trials first, across atoms), print the verdicts."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape

from ..atom import Atom
from .. import registry
from ..errors import DeepatomsError, did_you_mean
from ..store import DB_NAME, DEFAULT_DIR, Store
if TYPE_CHECKING:  # the API imports torch: `deepatoms --help` must not
    from ..api import Request

from .app import (STANDARD_PRESETS, Command, JsonOpt, StoreOpt, app, disk_full, one_line,
                  open_store, parse_sets, print_json, select, stderr, stdout, store_flag)
from .config import ConfigOpt, choose, load_config



def plan_runs(atoms: list[Atom], preset: str, seeds: str | None, overrides: dict[str, str],
              *, fallback: bool, max_seeds: int | None = None) -> tuple["list[Request]", list[str]]:
    """Validate every atom's preset, parameters and seeds before anything runs.

    With `fallback` (for --all / --family) an atom without the preset runs its default
    configuration, and a note says so. Returns the plans and those notes.
    """
    from ..api import Request
    catalog_presets = (p for a in registry.all_atoms().values() for p in a.presets)
    known = sorted({*STANDARD_PRESETS, *catalog_presets})
    if preset not in known:
        raise DeepatomsError(f"unknown preset '{preset}'{did_you_mean(preset, known)}; "
                             f"allowed: {', '.join(known)}")
    from .overrides import per_atom
    targeted, notes = per_atom(atoms, overrides)
    plans = []
    for atom in atoms:
        used = preset
        if fallback and preset not in atom.preset_names:
            used = "default"
            notes.append(f"{atom.name} has no '{preset}' preset; running its default configuration")
        mine = targeted[atom.name]
        params = atom.params(used, **mine)
        plans.append(Request(atom, used, params, *_seeds(atom, seeds, max_seeds), mine))
    return plans, notes


def check_resources(plans: "list[Request]", device: str, seeds_per_batch: int | None) -> None:
    """Refuse, before any atom runs, a plan that does not fit in memory (resources.py)."""
    from ..lab import resolve_device
    from ..execution.resources import check
    for plan in plans:
        n = plan.atom.default_seeds if plan.seeds == "auto" else len(plan.seeds)
        check(plan.atom, plan.params, n, str(resolve_device(device)),
              seeds_per_batch=seeds_per_batch)


def _seeds(atom: Atom, seeds: str | None, max_seeds: int | None) -> tuple[Any, int | None]:
    from ..execution.seeds import seed_plan
    from ..execution.seeds import is_auto, parse_seeds
    if is_auto(seeds):
        from ..execution.seeds import MAX_SEEDS
        from ..execution.validate import check_optional_count
        check_optional_count("--max-seeds", max_seeds, 2, MAX_SEEDS)
        seed_plan(atom, max_seeds)  # validates --max-seeds against the atom's starting seeds
        return "auto", max_seeds
    if max_seeds is not None:
        raise DeepatomsError("--max-seeds goes with --seeds auto")
    return parse_seeds(seeds, atom.default_seeds), None




@app.command(cls=Command)
def run(
    names: Annotated[Optional[list[str]], typer.Argument(
        help="Atoms to run (see `deepatoms list`).", show_default=False)] = None,
    family: Annotated[Optional[str], typer.Option(
        "--family", "-f", help="Run every atom of this family.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Run every atom in the catalog.")] = False,
    config: ConfigOpt = None,
    preset: Annotated[Optional[str], typer.Option(
        "--preset", "-p", help="quick (seconds, for a first look), default (the source's "
        "configuration) or paper (the source's full scale, where larger). With --all/--family an "
        "atom without the preset runs its default configuration. Default: the config's, else "
        "default.", show_default=False)] = None,
    seeds: Annotated[Optional[str], typer.Option(
        "--seeds", "-s", help="A count N (seeds 0..N-1), a list such as 7,8,9, or auto: start "
        "with the atom's default seeds and add as many again while the verdict is undecided, "
        "up to --max-seeds (the error rate holds under this optional stopping). "
        "Default: each atom's default (usually 5).", show_default=False)] = None,
    max_seeds: Annotated[Optional[int], typer.Option(
        "--max-seeds", min=2, help="With --seeds auto: the most seeds to use (default: 4 × the "
        "atom's default seeds).", show_default=False)] = None,
    sets: Annotated[Optional[list[str]], typer.Option(
        "--set", metavar="KEY=VALUE", help="Override a parameter (repeatable; lists as "
        "key=a,b,c). key=value applies to every atom run that has the parameter (a note names "
        "those without it); ATOM.key=value to one atom. `deepatoms show NAME` lists them.")] = None,
    device: Annotated[str, typer.Option(
        "--device", help="auto (CUDA if available), cpu, or cuda[:N].")] = "auto",
    store: StoreOpt = Path(DEFAULT_DIR),
    force: Annotated[bool, typer.Option(
        "--force", help="Recompute every trial even if it is cached in the store.")] = False,
    seeds_per_batch: Annotated[Optional[int], typer.Option(
        "--seeds-per-batch", min=1, help="Train at most this many seeds together in one "
        "population. Each batch is stored as soon as it finishes, so smaller batches lose less "
        "work if a run is interrupted, at some cost in speed. Default: all seeds at once.",
        show_default=False)] = None,
    backend: Annotated[str, typer.Option(
        "--backend", metavar="local|ray", help="local: this process, or --workers processes; "
        "ray: Ray tasks on the cluster at --address, else on a private local one (needs the "
        "`ray` extra).")] = "local",
    workers: Annotated[Optional[int], typer.Option(
        "--workers", min=1, help="Trials computed at once (worker processes, or Ray tasks). "
        "Default: DEEPATOMS_WORKERS, else the number of cores, used for runs estimated over "
        "60 s on an idle machine (others stay in this process). Several atoms: whole atoms "
        "are spread over the workers, longest first.", show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option(
        "--threads", min=1, help="Torch threads per worker, this process included when it "
        "computes (default 1).", show_default=False)] = None,
    address: Annotated[Optional[str], typer.Option(
        "--address", metavar="HOST:PORT", help="With --backend ray: the cluster to use (its "
        "token from RAY_AUTH_TOKEN or ~/.ray/auth_token).", show_default=False)] = None,
    data_dir: Annotated[Optional[str], typer.Option(
        "--data-dir", metavar="DIR", envvar="DEEPATOMS_DATA", help="Directory of local data "
        "files (MNIST IDX files, cifar-10-batches-bin/) that the paper presets read; nothing is "
        "downloaded.", show_default=False)] = None,
    precision: Annotated[str, typer.Option(
        "--precision", metavar="fp32|bf16", help="bf16: float32 matmuls and convolutions computed "
        "with bfloat16 arithmetic by oneDNN (CPU only; tensors stay float32; stored apart from "
        "fp32 trials; `deepatoms precision-check` compares verdicts). Opt-in.")] = "fp32",
    json_out: Annotated[bool, typer.Option("--json", help=(
        "Print a JSON list on stdout, one object per atom (verdict status, finding, evidence, "
        "params, seeds, wall time); bars and notes stay on stderr."))] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the plan (atoms × parameters × seeds, cached and to compute, "
        "estimated time) and run nothing; the store is not created or changed.")] = False,
) -> None:
    """Run atoms and judge their claims across seeds.

    Every request is validated first (atoms, presets, parameters, seeds, device, store), so bad
    input runs nothing and writes nothing. Finished trials are cached in the store and reused.
    Exit code 0 whatever the verdicts; 2 for bad input; 1 if an atom crashed.
    """
    from .render import verdict_table
    from ..lab import resolve_device
    from ..execution.seeds import MAX_SEEDS
    from ..execution.validate import check_optional_count
    check_optional_count("--seeds-per-batch", seeds_per_batch, 1, MAX_SEEDS)
    study = load_config(config)
    chosen = choose(study, names, family, all_, preset, seeds, max_seeds, parse_sets(sets))
    atoms = select(chosen.names, chosen.family, chosen.all_)
    plans, notes = plan_runs(atoms, chosen.preset, chosen.seeds,
                             chosen.sets_for([a.name for a in atoms]),
                             fallback=bool(chosen.all_ or chosen.family), max_seeds=chosen.max_seeds)
    resolve_device(device)
    check_resources(plans, device, seeds_per_batch)
    from ..execution.validate import check_data_files
    check_data_files(plans, data_dir)  # the directory, and MNIST's files where a plan reads them
    from ..execution.executors import ExecOptions
    execution = dict(backend=backend, workers=workers, threads=threads, address=address,
                     precision=precision)
    ExecOptions(**execution)  # bad options: one line before anything runs
    from ..execution.precision import check_device as check_precision_device
    check_precision_device(precision, resolve_device(device))  # bf16 on CUDA: before the store
    err = stderr()
    if dry_run:
        for note in notes:
            err.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True, highlight=False)
        return _dry_run(plans, store, force, json_out, device, ExecOptions(**execution))
    if backend == "ray":  # missing Ray, a refused connection, bad auth: one line, exit 2
        from ..execution.ray_backend import ray_executor
        ray_executor(ExecOptions(**execution))
    st = open_store(store, create=True)
    for note in notes:
        err.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True, highlight=False)
    results = run_plans(plans, st, device, force, seeds_per_batch, execution)
    keep_config(st, results, study, chosen)
    if json_out:
        print_json([r.to_dict() for r in results])
    else:
        stdout().print(verdict_table(results))
        stdout().print(f"store: {st.root.resolve()}  (`deepatoms report{store_flag(store)}` "
                        "renders it as HTML)", soft_wrap=True, highlight=False)
    if any(r.crashed for r in results):
        raise typer.Exit(1)
    if any(r.error for r in results):
        raise typer.Exit(2)


def run_plans(plans: "list[Request]", st: Store, device: str, force: bool,
              seeds_per_batch: int | None, execution: dict[str, Any]) -> list[Any]:
    """Compute and judge the planned atoms with progress on stderr; Ctrl-C or SIGTERM ends the
    command with what was kept (interrupts.py). Returns an AtomResult per plan."""
    from .render import RichProgress
    from . import interrupts
    err = stderr()
    tally = interrupts.tally_for(plans, st, force, device, seeds_per_batch)
    try:
        with RichProgress(err, run_clock(tally, execution)) as bar:
            _prefetch(plans, bar, device, st, force, seeds_per_batch, execution)
            return [_run_one(plan, bar, device, st, force, seeds_per_batch, execution)
                    for plan in plans]
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (interrupts.py): say what was kept
        interrupts.quiet()
        interrupts.stop_workers()
        err.print(tally.message(), soft_wrap=True, highlight=False, markup=False)
        interrupts.state.reported = True
        raise typer.Exit(interrupts.exit_code(exc)) from None


def keep_config(st: Store, results: list[Any], study: Any, chosen: Any) -> None:
    """With --config: the resolved config kept in each run's record (`history` shows it)."""
    if study is None:
        return
    for r in results:
        if r.outcome is not None and r.outcome.run_id is not None:
            used = dict(preset=r.outcome.preset, seeds=list(r.outcome.seeds),
                        params=r.outcome.params.to_dict())
            st.attach_config(r.outcome.run_id, study.resolved(**used))


def _dry_run(plans: "list[Request]", store: Path, force: bool, json_out: bool,
             device: str = "auto", options: Any = None) -> None:
    """What `run` would do: per atom its parameters, seeds, cached and to compute, estimate
    (the total: atoms side by side on the workers, planning.plan_total)."""
    from .render import dry_run_table, fmt_seconds
    from ..execution.planning import plan_row, plan_total
    db = store / DB_NAME
    if db.exists() or db.is_symlink():  # a directory or a dangling link there: one line
        st = open_store(store, create=False) if db.is_file() else Store(store, readonly=True)
    else:
        st = None
    rows = [plan_row(p.atom, p.preset, p.params, p.seeds, st, force, device) for p in plans]
    if json_out:
        print_json(rows)
        return
    stdout().print(dry_run_table(rows))
    todo, total = sum(r["to_compute"] for r in rows), sum(len(r["seeds"]) for r in rows)
    timing = plan_total(rows, [p.atom for p in plans], options)
    eta = fmt_seconds(timing["total_s"])
    side = (f" ({timing['workers']} workers side by side; "
            f"{fmt_seconds(timing['serial_s'])} one after another)" if timing["workers"] > 1
            else "")
    stdout().print(f"{len(rows)} atom(s), {todo} of {total} seed(s) to compute, "
                    f"{total - todo} cached; about {eta}{side} on a 2-core CPU. Nothing was run "
                    "(--dry-run).", soft_wrap=True, highlight=False)


def _prefetch(plans: "list[Request]", bar: Any, device: str, store: Store, force: bool,
              seeds_per_batch: int | None, execution: dict[str, Any]) -> None:
    """Several atoms on worker processes or Ray: their trials first, across atoms, longest
    first (api.prefetch); each atom's run below then judges what was computed."""
    from ..api import prefetch
    bar.atom, start = "", time.perf_counter()
    failed, computed = prefetch(plans, store=store, device=device, force=force,
                                seeds_per_batch=seeds_per_batch, progress=bar, note=bar.line,
                                **execution)
    for line in failed:
        bar.line(f"note: {line}; that atom runs again on its own")
    bar.clock.elapsed_s += time.perf_counter() - start
    for i, p in enumerate(plans):  # what is left of these is judging
        if p.atom.name in computed:
            bar.clock.estimates[i] = 0.0


def _run_one(plan: "Request", bar: Any, device: str, store: Store, force: bool,
             seeds_per_batch: int | None = None, execution: dict[str, Any] | None = None) -> Any:
    """Run one planned atom; a failure is reported and the other atoms still run."""
    from ..api import run_request
    from .render import AtomResult, fmt_seeds
    name = plan.atom.name
    bar.atom = name
    bar.atom_started(name, f"preset {plan.preset}, seeds {fmt_seeds(plan.seeds)}")
    start = time.perf_counter()
    try:
        out = run_request(plan, device=device, store=store, force=force, progress=bar,
                          seeds_per_batch=seeds_per_batch, **(execution or {}))
        bar.atom_finished(name, out.verdict.label, out.wall_s, out.computed_s)
        return AtomResult(name, plan.atom.family, out)
    except DeepatomsError as exc:
        bar.console.print(f"[bold red]error:[/] {name}: {escape(one_line(exc))}", soft_wrap=True)
        result = AtomResult(name, plan.atom.family, error=one_line(exc))
    except Exception as exc:  # a bug in one atom must not lose the results of the others
        if disk_full(exc):  # the next atom would fail the same way: stop with one line
            raise disk_full(exc) from None
        bar.console.print(f"[bold red]{name} crashed:[/]")
        bar.console.print_exception(max_frames=8)
        result = AtomResult(name, plan.atom.family,
                            error=f"{type(exc).__name__}: {one_line(exc)}", crashed=True)
    elapsed = time.perf_counter() - start
    bar.atom_finished(name, "crashed" if result.crashed else "failed", elapsed, elapsed)
    return result


def run_clock(tally: Any, execution: dict[str, Any]) -> Any:
    """The run's clock: each atom's estimate for the seeds it still has to compute (the tally's,
    so the store is read once), and the dry run's total (atoms side by side on the workers),
    which `run --dry-run` prints too."""
    from ..execution.estimates import RunClock
    from ..execution.executors import ExecOptions
    from ..execution.planning import plan_total, todo_row
    rows = [todo_row(p.atom, p.params, len(todo)) for p, todo in tally.todo]
    timing = plan_total(rows, [p.atom for p, _ in tally.todo], ExecOptions(**execution))
    return RunClock([r["estimate_s"] for r in rows], total_s=timing["total_s"])


@app.command(cls=Command)
def probe(
    name: Annotated[Optional[str], typer.Argument(
        help="Atom name, e.g. parity (or the config's [probe] atom).", show_default=False)] = None,
    vary: Annotated[Optional[str], typer.Option(
        "--vary", metavar="KEY=V1,V2,...", help="The parameter to vary and its values (for a "
        "list-valued parameter separate the values by ';': dims=5,10;5,10,30). A config's "
        "[probe] vary may name two parameters: a grid, drawn as a verdict map.",
        show_default=False)] = None,
    config: ConfigOpt = None,
    preset: Annotated[Optional[str], typer.Option(
        "--preset", "-p", help="Preset of every point (default: the config's, else default).",
        show_default=False)] = None,
    seeds: Annotated[Optional[str], typer.Option(
        "--seeds", "-s", help="Seeds of every point: a count, a list, or auto.",
        show_default=False)] = None,
    sets: Annotated[Optional[list[str]], typer.Option(
        "--set", metavar="KEY=VALUE", help="Override another parameter (repeatable).")] = None,
    metric: Annotated[Optional[str], typer.Option(
        "--metric", help="Follow the evidence row whose metric contains this text (default: "
        "the first row).", show_default=False)] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, or cuda[:N].")] = "auto",
    store: StoreOpt = Path(DEFAULT_DIR),
    json_out: JsonOpt = False,
) -> None:
    """Where does a claim hold? Run the atom once per value of one parameter and show the
    verdict and key estimate against the value (each point is a stored, cached run; the atom's
    report page shows the latest probe). With --config, a [probe] table over two parameters
    runs every pair of values and draws a verdict map."""
    from .probe_plan import plan_probe
    from ..lab import resolve_device
    plan = plan_probe(load_config(config), name, vary, preset, seeds, parse_sets(sets), metric)
    resolve_device(device)
    plan.check(device)
    st = open_store(store, create=True)
    from .render import RichProgress
    with RichProgress(stderr()) as bar:
        bar.atom = plan.atom
        result = plan.execute(st, device, bar)
    if json_out:
        print_json(result.to_dict())
        return
    from .probe_plan import show
    show(result, st, store_flag(store))
