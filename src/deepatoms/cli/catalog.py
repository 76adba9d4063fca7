"""`deepatoms list` and `deepatoms show`: the catalog and one atom's claim, method and parameters."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..catalog import registry
from ..errors import DeepatomsError, did_you_mean
from ..store import DB_NAME, DEFAULT_DIR
from .app import Command, JsonOpt, StoreOpt, app, open_store, print_json, stdout



@app.command("list", cls=Command)
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
    from ..catalog.index import family as summaries
    from .render import catalog_rows, catalog_table, catalog_tsv
    formats = ("table", "tsv", "json")
    if fmt not in formats:
        raise DeepatomsError(f"unknown --format '{fmt}'{did_you_mean(fmt, formats)}; "
                             f"allowed: {', '.join(formats)}")
    atoms = summaries(family)  # read from the atoms' source: listing does not import torch
    latest = {}
    if (store / DB_NAME).is_file():
        from ..store.damage import warn_damaged
        latest = open_store(store, create=False).latest_runs(tolerant=True)
        warn_damaged(latest.values())
    rows = catalog_rows(atoms, latest)
    if json_out or fmt == "json":
        print_json(rows)
    elif fmt == "tsv":
        typer.echo(catalog_tsv(rows))
    else:
        stdout().print(catalog_table(rows))


@app.command(cls=Command)
def show(
    name: Annotated[str, typer.Argument(help="Atom name, e.g. universal-approximation.")],
    json_out: JsonOpt = False,
) -> None:
    """Show one atom: question, claim, method, sources, and every parameter with its type,
    default, help, allowed values and the value each preset sets."""
    from .render import fmt_seconds, param_rows, param_table
    atom = registry.get(name)
    meta = {"name": atom.name, "family": atom.family, "title": atom.title,
            "question": atom.question, "claim": atom.claim, "method": atom.method,
            "sources": list(atom.sources), "presets": list(atom.preset_names),
            "runtime_s": atom.runtime_s, "default_seeds": atom.default_seeds}
    if json_out:
        print_json({**meta, "parameters": param_rows(atom)})
        return
    out = stdout()
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
