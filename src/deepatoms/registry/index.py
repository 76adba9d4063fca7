"""The catalog's metadata read from the atom files' source, without importing them.

`deepatoms list` (and `--help`) must not import torch, which every atom's module does. Each atom
file ends with `ATOM = Atom(name=..., family=..., title=..., ...)` whose metadata keywords are
literals; this module parses that call with `ast`. An atom whose metadata is not literal is
imported instead (correct, only slower). A test checks every summary against the real registry.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
from pathlib import Path

from .discovery import FAMILIES
from ..errors import UnknownAtomError

ATOMS_DIR = Path(__file__).parent.parent / "atoms"
FIELDS = ("name", "family", "title", "runtime_s", "default_seeds")


@dataclasses.dataclass(frozen=True)
class AtomSummary:
    """What `deepatoms list` shows of an atom (the same attributes as `Atom`)."""
    name: str
    family: str
    title: str
    runtime_s: float
    default_seeds: int
    presets: tuple[str, ...]  # declared presets, without "default"

    @property
    def preset_names(self) -> tuple[str, ...]:
        return ("default", *self.presets)


def _atom_call(path: Path) -> ast.Call | None:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and any(isinstance(t, ast.Name) and t.id == "ATOM" for t in node.targets)):
            return node.value
    return None


def _literal_summary(call: ast.Call, defaults: dict) -> AtomSummary | None:
    """The summary from the literal keywords of `Atom(...)`, or None if any is not literal."""
    kws = {k.arg: k.value for k in call.keywords}
    try:
        values = {key: ast.literal_eval(kws[key]) if key in kws else defaults[key]
                  for key in FIELDS}
        presets = kws.get("presets")
        keys = () if presets is None else tuple(ast.literal_eval(k) for k in presets.keys)
    except (ValueError, TypeError, SyntaxError, KeyError, AttributeError):
        return None
    return AtomSummary(**values, presets=keys)


def _imported_summary(module: str) -> AtomSummary:
    atom = importlib.import_module(module).ATOM
    return AtomSummary(**{k: getattr(atom, k) for k in FIELDS}, presets=tuple(atom.presets))


@functools.cache
def summaries() -> tuple[AtomSummary, ...]:
    """Every atom of the catalog, in the registry's order (family, then module name)."""
    from ..atom import Atom
    defaults = {f.name: f.default for f in dataclasses.fields(Atom)
                if f.default is not dataclasses.MISSING}
    found = []
    for family in FAMILIES:
        folder = ATOMS_DIR / family
        if not (folder / "__init__.py").is_file():
            continue
        for path in sorted(folder.glob("[!_]*.py"), key=lambda p: p.stem):
            call = _atom_call(path)
            if call is None:
                continue
            found.append(_literal_summary(call, defaults)
                         or _imported_summary(f"deepatoms.atoms.{family}.{path.stem}"))
    return tuple(found)


def family(name: str | None) -> list[AtomSummary]:
    """The summaries of one family (None: all of them)."""
    if name is not None and name not in FAMILIES:
        raise UnknownAtomError(f"unknown family '{name}'; allowed: {', '.join(FAMILIES)}")
    return [s for s in summaries() if name is None or s.family == name]
