"""`deepatoms report` and `deepatoms export`: the store as HTML pages, CSV/Parquet or MLflow runs."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import StoreError
from ..store import DEFAULT_DIR, Store
from .app import Command, StoreOpt, app, import_optional, open_store, stderr, stdout
from .ticker import Watch, pages_status



@app.command(cls=Command)
def report(
    store: StoreOpt = Path(DEFAULT_DIR),
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Directory for the HTML site (default: the store's report/ folder, "
        "STORE/report); with --markdown, the Markdown file (default: stdout).",
        show_default=False)] = None,
    markdown: Annotated[bool, typer.Option(
        "--markdown", help="Instead of HTML, the README's catalog tables in Markdown: one table "
        "per family, one row per atom from its latest full-scale run (verdict and seeds, the "
        "claim parts that are not the headline, the finding, the source's figures).")] = False,
    update: Annotated[Optional[Path], typer.Option(
        "--update", metavar="FILE", help="With --markdown: write the tables into FILE (e.g. "
        "README.md) between its marker lines, the HTML comments 'verdicts:begin' and "
        "'verdicts:end' (each alone on its line); the rest of FILE is kept.", show_default=False)] = None,
    before: Annotated[Optional[Path], typer.Option(
        "--before", metavar="STORE", help="With --markdown: add a 'before' column with each "
        "atom's verdict in this other store (e.g. the previous full run).",
        show_default=False)] = None,
) -> None:
    """Render the store as a self-contained HTML report (no training; works offline), or with
    --markdown as the README's catalog tables (`--markdown --update README.md` regenerates the
    README's tables in place)."""
    if markdown or update is not None or before is not None:
        return _markdown(store, out, update, before)
    st = open_store(store, create=False)
    build = import_optional("deepatoms.report.build", "the HTML report")
    try:
        from .render import fmt_seconds
        pages = pages_status((out or st.root / "report") / "atoms", _atoms(st), fmt_seconds)
        with Watch(stderr(), pages):
            index = build.build_report(st, out)
    except OSError as exc:
        raise StoreError(f"cannot write the report to '{out or st.root / 'report'}' "
                         f"({exc.strerror or exc}); pass a writable --out") from None
    stdout().print(f"report: {Path(index).resolve()}", soft_wrap=True, highlight=False)




def _markdown(store: Path, out: Path | None, update: Path | None, before: Path | None) -> None:
    """`report --markdown`: the catalog tables on stdout, into --out, or spliced into --update."""
    from ..report.markdown import catalog_markdown, splice
    if update is not None and out is not None:
        raise StoreError("give --out (a new Markdown file) or --update (a file with markers), "
                         "not both")
    runs = open_store(store, create=False).latest_runs(tolerant=True)
    earlier = open_store(before, create=False).latest_runs(tolerant=True) if before else None
    text = catalog_markdown(runs, earlier)
    if update is None and out is None:
        typer.echo(text, nl=False)
        return
    target = update or out
    try:
        if update is not None:
            text = splice(update.read_text(encoding="utf-8"), text)
        target.write_text(text, encoding="utf-8")
    except ValueError as exc:
        raise StoreError(f"cannot update '{update}': {exc}") from None
    except OSError as exc:
        raise StoreError(f"cannot write '{target}' ({exc.strerror or exc})") from None
    stdout().print(f"{'updated' if update else 'written'}: {target.resolve()}", soft_wrap=True,
                   highlight=False)


def _atoms(st: "Store") -> int | None:
    """How many atoms have a run (the report's atom pages), None when it cannot be told."""
    try:
        return len(st.latest_runs(tolerant=True))
    except Exception:  # a damaged store: the report says what it could not read
        return None


@app.command(cls=Command)
def export(
    path: Annotated[Optional[Path], typer.Argument(
        help="Output file ending in .csv or .parquet.", show_default=False)] = None,
    store: StoreOpt = Path(DEFAULT_DIR),
    all_runs: Annotated[bool, typer.Option(
        "--all-runs", help="Every run, not only the latest of each atom.")] = False,
    scale: Annotated[Optional[str], typer.Option(
        "--scale", metavar="full|reduced|all", help="Which runs stand for an atom: its latest "
        "full-scale run (full), its latest reduced-scale run (reduced: quick presets), or both "
        "(all). Default: the latest full-scale run, a reduced one only for an atom without "
        "one. With --all-runs: only the runs at that scale.", show_default=False)] = None,
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
    """Export the verdict run of every atom (its latest full-scale run; --scale chooses, or
    --all-runs): its measurements with run id,
    atom, preset, time, code version, device, dtype and parameters on every row, as CSV or
    Parquet; and/or to MLflow (parameters, metrics, verdict tags, figures as artifacts)."""
    if path is None and mlflow is None:
        raise StoreError("export needs an output file (.csv or .parquet) or --mlflow URI")
    if path is not None and path.suffix not in (".csv", ".parquet"):
        raise StoreError(f"export path must end in .csv or .parquet, got '{path.name}'")
    if scale is not None and scale not in ("full", "reduced", "all"):
        raise StoreError(f"unknown --scale '{scale}'; allowed: full, reduced, all")
    if path is not None and not path.parent.is_dir():
        raise StoreError(f"cannot write '{path}': directory '{path.parent}' does not exist")
    if mlflow is not None:  # a missing extra, a bad URI or name: one line, nothing written
        from ..store.mlflow_target import check_experiment, load_mlflow, tracking_uri
        load_mlflow()
        tracking_uri(mlflow)
        check_experiment(experiment)
    from ..store.export import export_runs, export_store
    st = open_store(store, create=False)
    target = None
    if mlflow is not None:  # reached (or refused, in seconds) before the CSV is written
        from ..store.mlflow_target import open_target
        target = open_target(mlflow, experiment)
    if path is not None:
        try:
            written = export_store(st, path, all_runs=all_runs, figure_data=figure_data,
                                   scale=scale)
        except OSError as exc:
            raise StoreError(f"cannot write '{path}' ({exc.strerror or exc})") from None
        stdout().print(f"exported: {written.resolve()}", soft_wrap=True, highlight=False)
    if target is not None:
        from ..store.mlflow import export_mlflow
        runs = export_runs(st, all_runs=all_runs, scale=scale)
        done = export_mlflow(st, target, runs)
        redone = f" ({done['redone']} redone after a failed export)" if done["redone"] else ""
        stdout().print(f"mlflow: {done['exported']} run(s) logged with {done['seed_runs']} seed "
                       f"run(s){redone}, {done['skipped']} already there, experiment "
                       f"'{target.experiment}' at {done['uri']}", soft_wrap=True, highlight=False)
