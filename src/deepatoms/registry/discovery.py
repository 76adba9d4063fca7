"""The catalog: every atom module under `deepatoms.atoms.<family>` that defines `ATOM`."""
from __future__ import annotations

import difflib
import functools
import importlib
import pkgutil

from ..atom import Atom
from ..errors import UnknownAtomError

FAMILIES: tuple[str, ...] = ("atoms", "failures", "generalization", "robustness", "architecture")


@functools.cache
def all_atoms() -> dict[str, Atom]:
    found: dict[str, Atom] = {}
    for family in FAMILIES:
        for atom in family_atoms(f"deepatoms.atoms.{family}", family):
            if atom.name in found:
                raise ValueError(f"duplicate atom name {atom.name!r}")
            found[atom.name] = atom
    return found


def family_atoms(package_name: str, family: str) -> list[Atom]:
    """The atoms of one family package: every module not starting with '_' must define `ATOM`
    (helpers start with '_'), an Atom of that family; a module without it is an error, never
    silently skipped."""
    package = importlib.import_module(package_name)
    atoms = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        atom = getattr(module, "ATOM", None)
        if atom is None:
            raise TypeError(f"{module.__name__} defines no ATOM: an atom module ends with "
                            "`ATOM = Atom(...)`, and a helper's name starts with '_'")
        if not isinstance(atom, Atom) or atom.family != family:
            raise TypeError(f"{module.__name__}.ATOM must be an Atom of family {family!r}")
        atoms.append(atom)
    return atoms


def get(name: str) -> Atom:
    if not isinstance(name, str):
        raise UnknownAtomError(f"an atom name is a string such as 'parity', got {name!r:.60}")
    atoms = all_atoms()
    if name in atoms:
        return atoms[name]
    close = difflib.get_close_matches(name, list(atoms), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `deepatoms list` shows them all"
    raise UnknownAtomError(f"unknown atom '{name}'{hint}")


def family(name: str) -> list[Atom]:
    if name not in FAMILIES:
        raise UnknownAtomError(f"unknown family '{name}'; allowed: {', '.join(FAMILIES)}")
    return [a for a in all_atoms().values() if a.family == name]
