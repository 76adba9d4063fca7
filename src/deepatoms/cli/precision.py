"""`deepatoms precision-check`: does bf16 math change any verdict? (precision.py)"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from .app import (DEFAULT_DIR, StoreOpt, Command, print_json, select, stderr, stdout, app, open_store)


@app.command("precision-check", cls=Command)
def precision_check(
    names: Annotated[Optional[list[str]], typer.Argument(
        help="Atoms to check (or --family / --all).", show_default=False)] = None,
    family: Annotated[Optional[str], typer.Option("--family", "-f", help="Every atom of this "
                                                  "family.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every atom in the catalog.")] = False,
    preset: Annotated[str, typer.Option("--preset", "-p", help="The preset both precisions "
                                        "run (quick: a smoke check of the indicative labels).")
                      ] = "default",
    seeds: Annotated[Optional[str], typer.Option("--seeds", "-s", help="Seed count or list "
                                                 "(default: each atom's).", show_default=False)
                     ] = None,
    store: StoreOpt = Path(DEFAULT_DIR),
    json_out: Annotated[bool, typer.Option("--json", help="JSON rows on stdout.")] = False,
) -> None:
    """Run atoms in fp32 and with --precision bf16 and report whether any verdict changes.

    Both runs are ordinary stored runs (cached: a second check costs nothing). Exit code 0 when
    no verdict changes, 1 when one does or a run fails, 2 for bad input."""
    from ..studies.precision_check import compare
    from ..execution.seeds import parse_seeds
    atoms = select(names, family, all_)
    for atom in atoms:
        atom.params(preset)  # an unknown preset: one line before anything runs
        if seeds is not None:
            parse_seeds(seeds, atom.default_seeds)
    st = open_store(store, create=True)
    err = stderr()
    rows = compare([a.name for a in atoms], preset, seeds, st, "cpu",
                   on_atom=lambda n: err.print(f"checking {escape(n)} (fp32, then bf16)",
                                               highlight=False))
    if json_out:
        print_json(rows)
    else:
        stdout().print(_table(rows))
    if any(r["changed"] or r["error"] for r in rows):
        raise typer.Exit(1)


def _table(rows: list[dict]) -> Table:
    table = Table(title="fp32 vs bf16 math: verdicts")
    for col in ("atom", "fp32", "bf16", "changed", "bf16 / fp32 time"):
        table.add_column(col)
    for r in rows:
        ratio = r.get("bf16_over_fp32_time")
        changed = "error: " + r["error"] if r["error"] else ("yes" if r["changed"] else "no")
        table.add_row(r["atom"], r["fp32"], r["bf16"], changed,
                      f"{ratio:.2f}" if ratio else "—")
    return table
