"""Build the static HTML report from the store alone (the report never trains).

    build_report(store) -> store.root / "report" / "index.html"

Layout of the site (self-contained: CSS inlined, figures as PNG files beside the pages):
    index.html                  every catalog atom by family, its verdict, finding and runtime
    atoms/<atom>.html           one page per stored run
    atoms/<atom>/<figure>.png   figures redrawn with the atom's `figures(table)` from the stored table
    atoms/<atom>/table.csv      the run's tidy table
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from .. import __version__
from .. import registry
from ..atom import Atom
from ..figures import save
from ..store.database import Store
from .captions import figure_caption
from .context import (UNREADABLE, FigureFile, AtomPage, atom_page, environment_summary,
                      index_groups, status_counts, trial_threads)
from .format import duration, unique_slug, when

TEMPLATES = Path(__file__).parent / "templates"
FIGURE_DPI = 100
PAGE_WORKERS = 2     # processes drawing atom pages (at most the cores, DEEPATOMS_WORKERS)
PARALLEL_PAGES = 8   # fewer pages are drawn in this process (workers take seconds to start)


def build_report(store: Store, out: Path | None = None) -> Path:
    """Write the site to `out` (default `store.root / "report"`); return the path of index.html.

    Whatever a damaged store holds, the report is written: each page is built inside its own
    guard, and a page that cannot be built says what is wrong instead (store/damage.py)."""
    out = Path(out) if out is not None else store.root / "report"
    atoms_dir = out / "atoms"
    atoms_dir.mkdir(parents=True, exist_ok=True)
    catalog, runs = registry.all_atoms(), store.latest_runs(tolerant=True)  # full scale first
    probes, problems = _probes(store)
    runs = {str(name): run for name, run in runs.items()}
    beside = _newer_reduced(store, runs, problems)
    threads = {name: _guard(lambda: trial_threads(store.trial_records(run)), None, [])
               for name, run in runs.items()}
    taken: set[str] = set()
    env = _environment()
    common = {"version": __version__, "built": _now(), "store": str(store.path)}
    jobs = [PageJob(name, runs[name], unique_slug(name, taken), atoms_dir, probes.get(name),
                    common, threads[name], _brief(beside[name]) if name in beside else None)
            for name in sorted(runs)]
    pages = _build_pages(store, jobs, catalog, env)
    index = out / "index.html"
    try:
        html = env.get_template("index.html").render(
            groups=index_groups(pages), counts=status_counts(pages), n_catalog=len(catalog),
            orphans=[p for n, p in pages.items() if n not in catalog],
            environment=[*_guard(lambda: environment_summary(runs, threads), [], problems),
                         *(("store problem", p) for p in problems)], root="",
            **common)
    except Exception as exc:  # a damaged value reached the index: list the pages plainly
        html = _plain_page("deepatoms report", [*problems, f"The index could not be drawn: "
                           f"{_one_line(exc)}"], {p.name: p.href for p in pages.values()})
    index.write_text(html, encoding="utf-8")
    return index


@dataclasses.dataclass(frozen=True)
class PageJob:
    """What one atom page is built from (plain data: it crosses to a worker process)."""
    name: str
    run: dict[str, Any]
    slug: str
    atoms_dir: Path
    probe: dict[str, Any] | None
    common: dict[str, Any]
    threads: str | None
    later: dict[str, Any] | None


def _build_pages(store: Store, jobs: list[PageJob], catalog: dict[str, Atom],
                 env: jinja2.Environment) -> dict[str, AtomPage]:
    """Every job's page, on PAGE_WORKERS spawned processes when there are enough pages and
    idle cores (drawing the figures is most of a report's time: 40 s for the catalog on one
    core), else in this process. A page a worker could not return is built here."""
    from ..execution.executors import busy, default_workers
    workers = min(PAGE_WORKERS, default_workers())
    pages: dict[str, AtomPage] = {}
    if workers > 1 and len(jobs) >= PARALLEL_PAGES and not busy():
        pages = _pages_on_workers(store, jobs, workers)
    for job in jobs:
        if job.name in pages:
            pages[job.name].atom = catalog.get(job.name)
        else:
            pages[job.name] = _job_page(store, job, catalog.get(job.name), env)
    return {job.name: pages[job.name] for job in jobs}


def _pages_on_workers(store: Store, jobs: list[PageJob], workers: int) -> dict[str, AtomPage]:
    """The pages built by worker processes, in the jobs' order; those lost to a failed worker
    are left out (the caller builds them). Ctrl-C or SIGTERM stops the workers at once."""
    from ..execution.executors import spawning, worker_pool
    pages: dict[str, AtomPage] = {}
    with worker_pool(workers, 1) as pool:
        with spawning():
            futures = {pool.submit(page_in_worker, str(store.root), job): job.name
                       for job in jobs}
        for future in cf.as_completed(futures):
            try:
                pages[futures[future]] = future.result()
            except Exception:  # a broken worker: this page is built in the driver
                continue
    return pages


def page_in_worker(root: str, job: PageJob) -> AtomPage:
    """A worker's page: its own read-only store and templates; the atom is looked up again by
    name and dropped from the result (the driver puts its own back)."""
    page = _job_page(Store(root, readonly=True), job, registry.all_atoms().get(job.name),
                     _environment())
    page.atom = None
    return page


def _job_page(store: Store, job: PageJob, atom: Atom | None, env: jinja2.Environment
              ) -> AtomPage:
    return _guarded_page(store, job.run, atom, job.slug, job.atoms_dir, job.probe, env,
                         job.common, job.threads, job.later)


def _newer_reduced(store: Store, runs: dict[str, dict[str, Any]], problems: list[str]
                   ) -> dict[str, dict[str, Any]]:
    """Per atom, its latest reduced-scale run when newer than the full-scale run shown."""
    reduced = _guard(lambda: store.standing_runs("reduced", tolerant=True), [], problems)
    return {str(r["atom"]): r for r in reduced
            if str(r["atom"]) in runs and r["id"] > runs[str(r["atom"])]["id"]}


def _brief(run: dict[str, Any]) -> dict[str, Any]:
    """What the index and the page say of a later reduced-scale run."""
    verdict = run.get("verdict") if isinstance(run.get("verdict"), dict) else {}
    return {"id": run["id"], "label": str(verdict.get("label") or verdict.get("status", "?")),
            "preset": str(run.get("preset", "")), "seeds": len(run.get("seeds") or []),
            "when": when(run.get("created"))}


def _probes(store: Store) -> tuple[dict[str, Any], list[str]]:
    try:
        return store.latest_probes(), []
    except Exception as exc:  # a damaged probes table: the report goes on without probes
        return {}, [f"The stored probes could not be read: {_one_line(exc)}"]


def _guard(make: Any, fallback: Any, problems: list[str]) -> Any:
    try:
        return make()
    except Exception as exc:
        problems.append(_one_line(exc))
        return fallback


def _guarded_page(store: Store, run: dict[str, Any], atom: Atom | None, slug: str,
                  atoms_dir: Path, probe: dict[str, Any] | None, env: jinja2.Environment,
                  common: dict[str, Any], threads: str | None = None,
                  later: dict[str, Any] | None = None) -> AtomPage:
    """Build and write one atom's page; if that fails, a page that says why. `run` comes from
    the store's damage-tolerant reading (store/damage.py): what was wrong is under "damaged"."""
    problems = [f"The stored run is damaged: {p}." for p in run.get("damaged") or []]
    target = atoms_dir / f"{slug}.html"
    try:
        page = _page(store, run, atom, slug, atoms_dir, threads)
        page.newer_reduced = later
        page.notes[:0] = problems
        if probe is not None:
            _add_probe(page, probe, atoms_dir)
        try:
            html = env.get_template("atom.html").render(page=page, root="../", **common)
        except Exception as exc:
            if page.probe is None:
                raise
            page.probe = None  # a damaged probe record: the page without it
            page.notes.append(f"The stored probe could not be shown: {_one_line(exc)}")
            html = env.get_template("atom.html").render(page=page, root="../", **common)
        target.write_text(html, encoding="utf-8")
        return page
    except OSError:
        raise  # an unwritable output folder is the user's to fix (one line in the CLI)
    except Exception as exc:
        notes = [*problems, f"This page could not be built from the stored run: {_one_line(exc)}"]
        page = AtomPage(name=str(run.get("atom")), slug=slug, run=_minimal(run), atom=atom,
                        status=UNREADABLE, finding="", evidence=[], params=[], runtime=[],
                        env=[], notes=notes)
        target.write_text(_plain_page(page.name, notes, {}), encoding="utf-8")
        return page


def _minimal(run: dict[str, Any]) -> dict[str, Any]:
    """What the index row shows of a run whose page failed (known-good types only)."""
    seeds = run.get("seeds")
    return {"atom": str(run.get("atom")), "preset": str(run.get("preset") or ""),
            "seeds": seeds if isinstance(seeds, list) else [], "wall_s": None, "created": None}


def _plain_page(title: str, notes: list[str], links: dict[str, str]) -> str:
    """A page without templates, for when a template cannot be drawn from what is stored."""
    from html import escape
    items = "".join(f"<li>{escape(n)}</li>" for n in notes)
    refs = "".join(f'<li><a href="{escape(h)}">{escape(n)}</a></li>' for n, h in links.items())
    return (f"<!doctype html><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<h1>{escape(title)}</h1><ul class='notes'>{items}</ul><ul>{refs}</ul>")


def _page(store: Store, run: dict[str, Any], atom: Atom | None, slug: str,
          atoms_dir: Path, threads: str | None = None) -> AtomPage:
    """One atom's page: stored verdict and metadata, plus its table and redrawn figures."""
    page = atom_page(run, atom, slug, threads)
    folder = atoms_dir / slug
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.png"):  # figures of an earlier build that may no longer exist
        old.unlink()
    try:
        table = store.run_table(run)
    except Exception as exc:  # a broken store entry must not stop the rest of the report
        page.notes.append(f"The stored table could not be loaded: {_one_line(exc)}")
        return page
    table.to_csv(folder / "table.csv", index=False)
    page.table_csv = f"{slug}/table.csv"
    if atom is not None:
        page.figures, note = _draw(atom, table, folder, slug)
        if note:
            page.notes.append(note)
    return page


def _add_probe(page: AtomPage, record: dict[str, Any], atoms_dir: Path) -> None:
    """The latest probe of the atom: its table, and its figure drawn from the stored record."""
    from .probe_figure import probe_figure
    page.probe = dict(record, figure=None, when=when(record.get("created")))
    try:
        save(probe_figure(record), atoms_dir / page.slug / "probe.png", dpi=FIGURE_DPI)
        page.probe["figure"] = f"{page.slug}/probe.png"
    except Exception as exc:  # a malformed stored probe is reported, not raised
        page.notes.append(f"The stored probe could not be drawn: {_one_line(exc)}")


def _draw(atom: Atom, table: pd.DataFrame, folder: Path, slug: str
          ) -> tuple[list[FigureFile], str | None]:
    """Redraw the atom's figures from `table` into `folder` as PNG; (files, error note or None)."""
    try:
        figures = atom.figures(table)
        taken: set[str] = set()
        files = []
        for name, fig in figures.items():
            fname = f"{unique_slug(str(name), taken)}.png"
            caption = figure_caption(str(name), fig, len(files) + 1)
            save(fig, folder / fname, dpi=FIGURE_DPI)
            files.append(FigureFile(str(name), f"{slug}/{fname}", caption))
        return files, None
    except Exception as exc:  # an atom's plotting bug is reported on its page, not raised
        return [], f"The figures could not be drawn from the stored table: {_one_line(exc)}"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    # our own stylesheet, inlined so the site needs no other file and no network
    env.globals["css"] = Markup((TEMPLATES / "style.css").read_text(encoding="utf-8"))
    env.filters["duration"] = duration
    env.filters["status_class"] = status_class
    return env


def status_class(status: str) -> str:
    """CSS class of a label: "st-not-reproduced"; every indicative label is "st-indicative"."""
    status = str(status)
    return "st-indicative" if status.startswith("indicative") else "st-" + status.replace(" ", "-")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
