"""The `deepatoms` command line: list, show, run, report, bench, export.

A thin layer over the library: it parses arguments, validates every request before anything
runs, calls `deepatoms.api.run`, and does all the printing (progress bars and notes on stderr,
results on stdout). Any `DeepatomsError` (bad input) ends the command with one line
`error: <message>` on stderr and exit code 2, without a traceback.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shlex
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from . import __version__, registry
from .atom import Atom
from .errors import DeepatomsError, MissingDependencyError, StoreError, did_you_mean
from .params import Params
from .store import DB_NAME, DEFAULT_DIR, Store

STANDARD_PRESETS = ("quick", "default", "paper")
EXAMPLES = """Examples:

  deepatoms list

  deepatoms show universal-approximation

  deepatoms run universal-approximation --preset quick --seeds 3

  deepatoms run --family failures --set steps=2000 --device cuda

  deepatoms run universal-approximation --seeds auto --max-seeds 40

  deepatoms probe parity --vary steps=2000,5000,20000

  deepatoms report
"""


def _flags_without_type(params: list[Any]) -> list[Any]:
    """Boolean flags take no value: show no `<bool>` type beside them in --help (typer's rich
    help would)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class _Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_type(super().get_params(ctx))


class _Group(TyperGroup):
    """The one place where bad input (any DeepatomsError) becomes `error: ...` and exit code 2."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_type(super().get_params(ctx))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DeepatomsError as exc:
            _stderr().print(f"[bold red]error:[/] {escape(_one_line(exc))}", soft_wrap=True,
                            highlight=False)
            raise typer.Exit(2) from None
        finally:
            while _opened:
                _opened.pop().close()


_opened: list[Store] = []  # the stores this command opened (open_store)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _stderr() -> Console:
    return Console(stderr=True)


def _stdout() -> Console:
    return Console()


app = typer.Typer(cls=_Group, name="deepatoms", no_args_is_help=True, add_completion=True,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  rich_markup_mode="markdown",
                  pretty_exceptions_show_locals=False, epilog=EXAMPLES,
                  help="Atomic experiments in deep learning: published claims about how neural "
                       "networks learn, run as small seeded experiments that return an honest "
                       "verdict (reproduced / not reproduced / inconclusive) across seeds.")

StoreOpt = Annotated[Path, typer.Option(
    "--store", envvar="DEEPATOMS_STORE", show_default=True,
    help="Results directory (holds deepatoms.sqlite and artifacts).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deepatoms {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False
          ) -> None:
    """Atomic experiments in deep learning, each a seeded claim with an honest verdict."""


# ---------------------------------------------------------------- helpers shared by commands

def open_store(location: Path, *, create: bool) -> Store:
    """The store at `location`, proven writable (created if missing) with `create=True`;
    opened read-only with `create=False`, when a missing database is an error."""
    if not create and not (location / DB_NAME).is_file():
        raise StoreError(f"no results in '{location}' (no {DB_NAME}); run `deepatoms run ...` "
                         "first, or pass --store / DEEPATOMS_STORE pointing at a results directory")
    st = Store(location, readonly=not create)
    _opened.append(st)  # closed when the command ends (its WAL checkpointed then, not at GC)
    return st


def store_flag(store: Path) -> str:
    """` --store DIR` for a footer's next command, when the store is not the one it would find
    by default (DEEPATOMS_STORE, else ./deepatoms-runs); empty otherwise."""
    default = Path(os.environ.get("DEEPATOMS_STORE") or DEFAULT_DIR)
    if store.resolve() == default.resolve():
        return ""
    return f" --store {shlex.quote(str(store))}"


def parse_sets(items: list[str] | None) -> dict[str, str]:
    """`["steps=50", "hidden_units=2,4"]` → `{"steps": "50", "hidden_units": "2,4"}` (text values;
    each atom parses them by its parameters' types)."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise DeepatomsError(f"--set expects key=value (lists as key=a,b,c), got {item!r}")
        if key in out:
            raise DeepatomsError(f"--set {key} was given twice; give each parameter once")
        out[key] = value.strip()
    return out


def _select(names: list[str] | None, family: str | None, all_: bool) -> list[Atom]:
    given = sum([bool(names), family is not None, all_])
    if given != 1:
        raise DeepatomsError("name the atoms to run, or give --family FAMILY, or --all "
                             "(exactly one of these)")
    if all_:
        return list(registry.all_atoms().values())
    if family is not None:
        atoms = registry.family(family)
        if not atoms:
            raise DeepatomsError(f"family '{family}' has no atoms yet; `deepatoms list` shows them")
        return atoms
    return [registry.get(n) for n in dict.fromkeys(names or [])]


@dataclasses.dataclass(frozen=True)
class Plan:
    """One validated atom run: the preset actually used, its parameters and seeds."""
    atom: Atom
    preset: str
    params: Params
    seeds: tuple[int, ...] | str  # or "auto"
    max_seeds: int | None = None


def plan_runs(atoms: list[Atom], preset: str, seeds: str | None, overrides: dict[str, str],
              *, fallback: bool, max_seeds: int | None = None) -> tuple[list[Plan], list[str]]:
    """Validate every atom's preset, parameters and seeds before anything runs.

    With `fallback` (for --all / --family) an atom without the preset runs its default
    configuration, and a note says so. Returns the plans and those notes.
    """
    from .runner import parse_seeds
    catalog_presets = (p for a in registry.all_atoms().values() for p in a.presets)
    known = sorted({*STANDARD_PRESETS, *catalog_presets})
    if preset not in known:
        raise DeepatomsError(f"unknown preset '{preset}'{did_you_mean(preset, known)}; "
                             f"allowed: {', '.join(known)}")
    plans, notes = [], []
    for atom in atoms:
        used = preset
        if fallback and preset not in atom.preset_names:
            used = "default"
            notes.append(f"{atom.name} has no '{preset}' preset; running its default configuration")
        params = atom.params(used, **overrides)
        plans.append(Plan(atom, used, params, *_seeds(atom, seeds, max_seeds)))
    return plans, notes


def check_resources(plans: list[Plan], device: str, seeds_per_batch: int | None) -> None:
    """Refuse, before any atom runs, a plan that does not fit in memory (resources.py)."""
    from .lab import resolve_device
    from .resources import check
    for plan in plans:
        n = plan.atom.default_seeds if plan.seeds == "auto" else len(plan.seeds)
        check(plan.atom, plan.params, n, str(resolve_device(device)),
              seeds_per_batch=seeds_per_batch)


def _seeds(atom: Atom, seeds: str | None, max_seeds: int | None) -> tuple[Any, int | None]:
    from .api import seed_plan
    from .runner import is_auto, parse_seeds
    if is_auto(seeds):
        from .runner import MAX_SEEDS
        from .validate import check_optional_count
        check_optional_count("--max-seeds", max_seeds, 2, MAX_SEEDS)
        seed_plan(atom, max_seeds)  # validates --max-seeds against the atom's starting seeds
        return "auto", max_seeds
    if max_seeds is not None:
        raise DeepatomsError("--max-seeds goes with --seeds auto")
    return parse_seeds(seeds, atom.default_seeds), None


def _import_optional(module: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise MissingDependencyError(f"{what} is not available in this installation "
                                     f"({module} is missing)") from None


def _print_json(payload: Any) -> None:
    from .cli_render import jsonable
    typer.echo(json.dumps(jsonable(payload), indent=2, allow_nan=False))


# ---------------------------------------------------------------- commands

@app.command("list", cls=_Command)
def list_atoms(
    family: Annotated[Optional[str], typer.Option(
        "--family", "-f", help=f"Only this family: {', '.join(registry.FAMILIES)}.")] = None,
    store: StoreOpt = Path(DEFAULT_DIR),
    json_out: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
    fmt: Annotated[str, typer.Option(
        "--format", metavar="table|tsv|json", help="table (for reading), tsv (one line per "
        "atom, for scripts) or json.")] = "table",
) -> None:
    """List the atoms: name, family, title, estimated runtime and the last verdict in the store.

    The runtime is the estimate for the default preset with its default seeds on a 2-core CPU.
    """
    from .atom_index import family as summaries
    from .cli_render import catalog_rows, catalog_table, catalog_tsv
    formats = ("table", "tsv", "json")
    if fmt not in formats:
        raise DeepatomsError(f"unknown --format '{fmt}'{did_you_mean(fmt, formats)}; "
                             f"allowed: {', '.join(formats)}")
    atoms = summaries(family)  # read from the atoms' source: listing does not import torch
    latest = open_store(store, create=False).latest_runs() if (store / DB_NAME).is_file() else {}
    rows = catalog_rows(atoms, latest)
    if json_out or fmt == "json":
        _print_json(rows)
    elif fmt == "tsv":
        typer.echo(catalog_tsv(rows))
    else:
        _stdout().print(catalog_table(rows))


@app.command(cls=_Command)
def show(
    name: Annotated[str, typer.Argument(help="Atom name, e.g. universal-approximation.")],
    json_out: JsonOpt = False,
) -> None:
    """Show one atom: question, claim, method, sources, and every parameter with its type,
    default, help, allowed values and the value each preset sets."""
    from .cli_render import fmt_seconds, param_rows, param_table
    atom = registry.get(name)
    meta = {"name": atom.name, "family": atom.family, "title": atom.title,
            "question": atom.question, "claim": atom.claim, "method": atom.method,
            "sources": list(atom.sources), "presets": list(atom.preset_names),
            "runtime_s": atom.runtime_s, "default_seeds": atom.default_seeds}
    if json_out:
        _print_json({**meta, "parameters": param_rows(atom)})
        return
    out = _stdout()
    out.print(f"[bold]{escape(atom.title)}[/]  ({atom.name}, family {atom.family})")
    for label in ("question", "claim", "method"):
        out.print(f"\n[bold cyan]{label.capitalize()}[/]\n{escape(meta[label])}")
    out.print("\n[bold cyan]Sources[/]")
    for src in atom.sources:
        out.print(f"  • {escape(src)}")
    out.print(f"\n[bold cyan]Runs[/]\npresets: {', '.join(atom.preset_names)}; default seeds: "
              f"{atom.default_seeds}; estimated runtime (default preset): "
              f"{fmt_seconds(atom.runtime_s)}\n")
    out.print(param_table(atom))


@app.command(cls=_Command)
def run(
    names: Annotated[Optional[list[str]], typer.Argument(
        help="Atoms to run (see `deepatoms list`).", show_default=False)] = None,
    family: Annotated[Optional[str], typer.Option(
        "--family", "-f", help="Run every atom of this family.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Run every atom in the catalog.")] = False,
    preset: Annotated[str, typer.Option(
        "--preset", "-p", help="quick (seconds, for a first look), default (the source's "
        "configuration) or paper (the source's full scale, where larger). With --all/--family an "
        "atom without the preset runs its default configuration.")] = "default",
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
        "key=a,b,c). Applies to every atom run; `deepatoms show NAME` lists them.")] = None,
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
    data_dir: Annotated[Optional[Path], typer.Option(
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
    from .cli_render import RichProgress, verdict_table
    from .lab import resolve_device
    from .planning import RunClock
    overrides = parse_sets(sets)
    plans, notes = plan_runs(_select(names, family, all_), preset, seeds, overrides,
                             fallback=bool(all_ or family), max_seeds=max_seeds)
    resolve_device(device)
    check_resources(plans, device, seeds_per_batch)
    if data_dir is not None:  # atoms read it through data.files (one line if missing)
        from .data.files import ENV, data_dir as checked_dir
        os.environ[ENV] = str(checked_dir(data_dir))
    from .executors import ExecOptions
    execution = dict(backend=backend, workers=workers, threads=threads, address=address,
                     precision=precision)
    ExecOptions(**execution)  # bad options: one line before anything runs
    from .precision import check_device as check_precision_device
    check_precision_device(precision, resolve_device(device))  # bf16 on CUDA: before the store
    err = _stderr()
    if dry_run:
        for note in notes:
            err.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True, highlight=False)
        return _dry_run(plans, store, force, json_out, device)
    if backend == "ray":  # missing Ray, a refused connection, bad auth: one line, exit 2
        from .ray_backend import ray_executor
        ray_executor(ExecOptions(**execution))
    st = open_store(store, create=True)
    for note in notes:
        err.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True, highlight=False)
    from . import interrupts
    tally = interrupts.tally_for(plans, st, force, device, seeds_per_batch)
    try:
        with RichProgress(err, RunClock([plan_estimate(p) for p in plans])) as bar:
            _prefetch(plans, bar, device, st, force, seeds_per_batch, execution)
            results = [_run_one(plan, bar, device, st, force, overrides, seeds_per_batch,
                                execution) for plan in plans]
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (interrupts.py): say what was kept
        interrupts.quiet()
        err.print(tally.message(), soft_wrap=True, highlight=False, markup=False)
        interrupts.state.reported = True
        raise typer.Exit(interrupts.exit_code(exc)) from None
    if json_out:
        _print_json([r.to_dict() for r in results])
    else:
        _stdout().print(verdict_table(results))
        _stdout().print(f"store: {st.root.resolve()}  (`deepatoms report{store_flag(store)}` "
                        "renders it as HTML)", soft_wrap=True, highlight=False)
    if any(r.crashed for r in results):
        raise typer.Exit(1)
    if any(r.error for r in results):
        raise typer.Exit(2)


def _dry_run(plans: list[Plan], store: Path, force: bool, json_out: bool,
             device: str = "auto") -> None:
    """What `run` would do: per atom its parameters, seeds, cached and to compute, estimate."""
    from .cli_render import dry_run_table, fmt_seconds
    from .planning import plan_row
    st = open_store(store, create=False) if (store / DB_NAME).is_file() else None
    rows = [plan_row(p.atom, p.preset, p.params, p.seeds, st, force, device) for p in plans]
    if json_out:
        _print_json(rows)
        return
    _stdout().print(dry_run_table(rows))
    todo, total = sum(r["to_compute"] for r in rows), sum(len(r["seeds"]) for r in rows)
    eta = fmt_seconds(sum(r["estimate_s"] for r in rows))
    _stdout().print(f"{len(rows)} atom(s), {todo} of {total} seed(s) to compute, "
                    f"{total - todo} cached; about {eta} on a 2-core CPU. Nothing was run "
                    "(--dry-run).", soft_wrap=True, highlight=False)


def _prefetch(plans: list[Plan], bar: Any, device: str, store: Store, force: bool,
              seeds_per_batch: int | None, execution: dict[str, Any]) -> None:
    """Several atoms on worker processes or Ray: their trials first, across atoms, longest
    first (dispatch.py); each atom's run below then judges what was computed."""
    from .dispatch import LEDGER, Job, prefetch
    from .executors import ExecOptions
    jobs = [Job(p.atom, p.params, p.seeds, seeds_per_batch) for p in plans
            if not isinstance(p.seeds, str)]
    bar.atom, start = "", time.perf_counter()
    failed = prefetch(jobs, ExecOptions(**execution), store, device, force, bar, bar.line)
    for line in failed:
        bar.line(f"note: {line}; that atom runs again on its own")
    bar.clock.elapsed_s += time.perf_counter() - start
    computed = {key[0] for key in LEDGER}
    for i, p in enumerate(plans):  # what is left of these is judging
        if p.atom.name in computed:
            bar.clock.estimates[i] = 0.0


def _run_one(plan: Plan, bar: Any, device: str, store: Store, force: bool,
             overrides: dict[str, str], seeds_per_batch: int | None = None,
             execution: dict[str, Any] | None = None) -> Any:
    """Run one planned atom; a failure is reported and the other atoms still run."""
    from . import api
    from .cli_render import AtomResult, fmt_seeds
    name = plan.atom.name
    bar.atom = name
    bar.atom_started(name, f"preset {plan.preset}, seeds {fmt_seeds(plan.seeds)}")
    start = time.perf_counter()
    try:
        out = api.run(name, plan.preset, plan.seeds, max_seeds=plan.max_seeds, device=device,
                      store=store, force=force, progress=bar, seeds_per_batch=seeds_per_batch,
                      **(execution or {}), **overrides)
        bar.atom_finished(name, out.verdict.label, out.wall_s, out.computed_s)
        return AtomResult(name, plan.atom.family, out)
    except DeepatomsError as exc:
        bar.console.print(f"[bold red]error:[/] {name}: {escape(_one_line(exc))}", soft_wrap=True)
        result = AtomResult(name, plan.atom.family, error=_one_line(exc))
    except Exception as exc:  # a bug in one atom must not lose the results of the others
        bar.console.print(f"[bold red]{name} crashed:[/]")
        bar.console.print_exception(max_frames=8)
        result = AtomResult(name, plan.atom.family,
                            error=f"{type(exc).__name__}: {_one_line(exc)}", crashed=True)
    elapsed = time.perf_counter() - start
    bar.atom_finished(name, "crashed" if result.crashed else "failed", elapsed, elapsed)
    return result


def plan_estimate(plan: Plan) -> float:
    """Estimated seconds of one planned atom (its starting seeds under --seeds auto)."""
    from .planning import estimate_s
    n = plan.atom.default_seeds if plan.seeds == "auto" else len(plan.seeds)
    return estimate_s(plan.atom, plan.params, n)


@app.command(cls=_Command)
def probe(
    name: Annotated[str, typer.Argument(help="Atom name, e.g. parity.")],
    vary: Annotated[str, typer.Option(
        "--vary", metavar="KEY=V1,V2,...", help="The parameter to vary and its values (for a "
        "list-valued parameter separate the values by ';': dims=5,10;5,10,30).",
        show_default=False)],
    preset: Annotated[str, typer.Option("--preset", "-p", help="Preset of every point.")] = "default",
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
    report page shows the latest probe)."""
    from . import api
    from .cli_render import RichProgress, probe_table
    from .lab import resolve_device
    from .probing import split_values
    key, sep, text = vary.partition("=")
    if not sep or not key.strip():
        raise DeepatomsError(f"--vary expects key=v1,v2,... got {vary!r}")
    key = key.strip()
    values = split_values(name, key, text)
    overrides = parse_sets(sets)
    resolve_device(device)
    from .probing import check_probe
    check_probe(name, key, values, preset=preset, seeds=seeds, overrides=overrides)
    st = open_store(store, create=True)
    with RichProgress(_stderr()) as bar:
        bar.atom = name
        result = api.probe(name, {key: values}, preset, seeds, metric=metric, device=device,
                           store=st, progress=bar, **overrides)
    if json_out:
        _print_json(result.to_dict())
        return
    _stdout().print(probe_table(result.to_dict()))
    _stdout().print(f"store: {st.root.resolve()}  (`deepatoms report{store_flag(store)}` draws "
                    "the probe on the atom's page)", soft_wrap=True, highlight=False)


@app.command(cls=_Command)
def report(
    store: StoreOpt = Path(DEFAULT_DIR),
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Directory for the HTML site (default: the store's report/ folder, "
        "STORE/report).",
        show_default=False)] = None,
) -> None:
    """Render the store as a self-contained HTML report (no training; works offline)."""
    st = open_store(store, create=False)
    build = _import_optional("deepatoms.report.build", "the HTML report")
    try:
        index = build.build_report(st, out)
    except OSError as exc:
        raise StoreError(f"cannot write the report to '{out or st.root / 'report'}' "
                         f"({exc.strerror or exc}); pass a writable --out") from None
    _stdout().print(f"report: {Path(index).resolve()}", soft_wrap=True, highlight=False)


@app.command(cls=_Command)
def bench(
    json_out: JsonOpt = False,
    quick: Annotated[bool, typer.Option(
        "--quick", help="A few-second smoke version of every measurement.")] = False,
    device: Annotated[str, typer.Option(
        "--device", help="Where the family timings run: cpu, auto or cuda. The population vs "
        "one-by-one comparison always runs on the CPU, and also on the GPU when CUDA is "
        "available.")] = "cpu",
    family: Annotated[Optional[list[str]], typer.Option(
        "--family", help="Time this family (repeatable; default: every family).")] = None,
    atom: Annotated[Optional[list[str]], typer.Option(
        "--atom", help="Time only this atom (repeatable).")] = None,
    no_flops: Annotated[bool, typer.Option(
        "--no-flops", help="Skip the FLOP-counting pass (halves the family time).")] = False,
    no_load: Annotated[bool, typer.Option(
        "--no-load", help="Skip the under-load measurement.")] = False,
) -> None:
    """Measure speed: population vs one-by-one training, each family's wall time, FLOPs and
    FLOP bound, the slow-down beside busy processes, and 1 vs 2 worker processes.

    Wall times depend on whatever else the machine is doing; the result records the load average
    and says when the machine was busy.
    """
    from .cli_render import RichProgress, pairs_table
    from .lab import resolve_device
    resolve_device(device)
    bench_mod = _import_optional("deepatoms.bench", "the benchmark")
    with RichProgress(_stderr()) as bar:
        bar.atom = "bench"
        result = bench_mod.run_bench(
            quick=quick, device=device, progress=bar, only=atom or None, flops=not no_flops,
            load=not no_load, families=tuple(family or registry.FAMILIES))
    if json_out:
        _print_json(result)
        return
    fmt = getattr(bench_mod, "format_rows", None)
    rows = fmt(result) if callable(fmt) else [(k, str(v)) for k, v in result.items()]
    _stdout().print(pairs_table("deepatoms bench" + (" (quick)" if quick else ""), rows))


@app.command(cls=_Command)
def export(
    path: Annotated[Optional[Path], typer.Argument(
        help="Output file ending in .csv or .parquet.", show_default=False)] = None,
    store: StoreOpt = Path(DEFAULT_DIR),
    all_runs: Annotated[bool, typer.Option(
        "--all-runs", help="Every run, not only the latest of each atom.")] = False,
    figure_data: Annotated[bool, typer.Option(
        "--figure-data", help="Also the rows only drawn in figures (grids, point clouds), "
        "with a `kind` column: measurement or figure.")] = False,
    mlflow: Annotated[Optional[str], typer.Option(
        "--mlflow", metavar="URI", help="Also log each run to this MLflow tracking URI or "
        "directory (a plain directory is MLflow's local file store); needs the `mlflow` extra.",
        show_default=False)] = None,
    experiment: Annotated[str, typer.Option(
        "--experiment", help="MLflow experiment name (with --mlflow).")] = "deepatoms",
) -> None:
    """Export the latest run of every atom (or --all-runs): its measurements with run id,
    atom, preset, time, code version, device, dtype and parameters on every row, as CSV or
    Parquet; and/or to MLflow (parameters, metrics, verdict tags, figures as artifacts)."""
    if path is None and mlflow is None:
        raise StoreError("export needs an output file (.csv or .parquet) or --mlflow URI")
    if path is not None and path.suffix not in (".csv", ".parquet"):
        raise StoreError(f"export path must end in .csv or .parquet, got '{path.name}'")
    if path is not None and not path.parent.is_dir():
        raise StoreError(f"cannot write '{path}': directory '{path.parent}' does not exist")
    if mlflow is not None:
        from .store_mlflow import _mlflow, tracking_uri
        _mlflow()  # a missing extra is one line before anything is written
        tracking_uri(mlflow)
    st = open_store(store, create=False)
    if path is not None:
        try:
            written = st.export(path, all_runs=all_runs, figure_data=figure_data)
        except OSError as exc:
            raise StoreError(f"cannot write '{path}' ({exc.strerror or exc})") from None
        _stdout().print(f"exported: {written.resolve()}", soft_wrap=True, highlight=False)
    if mlflow is not None:
        from .store_mlflow import export_mlflow
        runs = st.runs() if all_runs else list(st.latest_runs().values())
        done = export_mlflow(st, mlflow, runs, experiment)
        _stdout().print(f"mlflow: {done['exported']} run(s) logged, {done['skipped']} already "
                        f"there, experiment '{experiment}' at {done['uri']}", soft_wrap=True,
                        highlight=False)


def main() -> None:
    """Entry point of the `deepatoms` script: every ending as one line and an exit code
    (cli_guard.py)."""
    from .cli_guard import entry
    entry()


from . import cli_history  # noqa: E402,F401  (registers `history` and `diff` on the app)
from . import cli_precision  # noqa: E402,F401  (registers `precision-check`)

if __name__ == "__main__":
    main()
