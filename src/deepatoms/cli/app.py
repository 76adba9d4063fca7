"""The `deepatoms` command line: list, show, run, report, bench, export.

A thin layer over the library: it parses arguments, validates every request before anything
runs, calls `deepatoms.api.run`, and does all the printing (progress bars and notes on stderr,
results on stdout). Any `DeepatomsError` (bad input) ends the command with one line
`error: <message>` on stderr and exit code 2, without a traceback.
"""
from __future__ import annotations

import importlib
import json
import os
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from .. import __version__
from .. import registry
from ..atom import Atom
from ..errors import DeepatomsError, MissingDependencyError, StoreError
from ..store.database import DB_NAME, DEFAULT_DIR, Store

STANDARD_PRESETS = ("quick", "default", "paper")
EXAMPLES = """Examples:

  deepatoms list

  deepatoms show universal-approximation

  deepatoms run universal-approximation --preset quick --seeds 3

  deepatoms run --family failures --set steps=2000 --device cuda

  deepatoms run universal-approximation --seeds auto --max-seeds 120

  deepatoms probe parity --vary steps=2000,5000,20000

  deepatoms run --config study.toml

  deepatoms check --expect claims.yaml --junit-xml claims.xml

  deepatoms report
"""


def _flags_without_type(params: list[Any]) -> list[Any]:
    """Boolean flags take no value: show no `<bool>` type beside them in --help (typer's rich
    help would)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_type(super().get_params(ctx))


class Group(TyperGroup):
    """The one place where bad input (any DeepatomsError) becomes `error: ...` and exit code 2."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_type(super().get_params(ctx))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DeepatomsError as exc:
            stderr().print(f"[bold red]error:[/] {escape(one_line(exc))}", soft_wrap=True,
                            highlight=False)
            raise typer.Exit(2) from None
        finally:
            while _opened:
                _opened.pop().close()


_opened: list[Store] = []  # the stores this command opened (open_store)


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def stderr() -> Console:
    return Console(stderr=True)


def stdout() -> Console:
    return Console()


app = typer.Typer(cls=Group, name="deepatoms", no_args_is_help=True, add_completion=True,
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


def disk_full(exc: BaseException) -> StoreError | None:
    """The one-line error for a write that failed because the disk is full (SQLite's "database
    or disk is full", or ENOSPC); None for any other exception. Each batch is stored in one
    transaction, so the store holds whole batches only and a rerun resumes."""
    import errno
    import sqlite3
    full = (isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()) or \
        (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT))
    if not full:
        return None
    return StoreError(f"the disk is full ({one_line(exc)}); the batches finished before are "
                      "stored: free some space and run the same command again to resume")


def store_flag(store: Path) -> str:
    """` --store DIR` for a footer's next command, when the store is not the one it would find
    by default (DEEPATOMS_STORE, else ./deepatoms-runs); empty otherwise."""
    default = Path(os.environ.get("DEEPATOMS_STORE") or DEFAULT_DIR)
    if store.resolve() == default.resolve():
        return ""
    return f" --store {shlex.quote(str(store))}"


def parse_sets(items: list[str] | None) -> dict[str, str]:
    """`["steps=50", "hidden=2,4"]` → `{"steps": "50", "hidden": "2,4"}` (text values;
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


def select(names: list[str] | None, family: str | None, all_: bool) -> list[Atom]:
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


def import_optional(module: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise MissingDependencyError(f"{what} is not available in this installation "
                                     f"({module} is missing)") from None


def print_json(payload: Any) -> None:
    from ..store.json_safe import jsonable
    typer.echo(json.dumps(jsonable(payload), indent=2, allow_nan=False))


# ---------------------------------------------------------------- commands
