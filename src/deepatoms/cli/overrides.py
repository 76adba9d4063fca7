"""Which atom gets which `--set`: `key=value` goes to every atom of the run that has `key`
(a note names the atoms without it; no atom with it is an error), `ATOM.key=value` to that atom
only (it must be in the run) and wins over a plain `key=value`."""
from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Sequence

from ..atom import Atom
from ..errors import DeepatomsError, ParamError


def _split(key: str, names: Sequence[str]) -> tuple[str | None, str]:
    """`"parity.steps"` → ("parity", "steps"); `"steps"` → (None, "steps")."""
    atom, dot, rest = key.rpartition(".")
    if not dot:
        return None, key
    if not atom or not rest:
        raise DeepatomsError(f"--set {key}: expected key=value or ATOM.key=value")
    if atom not in names:
        close = difflib.get_close_matches(atom, list(names), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise DeepatomsError(f"--set {key}: '{atom}' is not one of the atoms run{hint}; "
                             f"running: {', '.join(names)}")
    return atom, rest


def per_atom(atoms: Sequence[Atom], overrides: dict[str, Any]
             ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Each atom's overrides and the notes to print (atoms that ignore a plain key)."""
    names = [a.name for a in atoms]
    fields = {a.name: {f.name for f in dataclasses.fields(a.Params)} for a in atoms}
    out: dict[str, dict[str, Any]] = {n: {} for n in names}
    notes = []
    split = [(key, *_split(key, names), value) for key, value in overrides.items()]
    for key, target, param, value in split:
        if target is not None:
            continue
        having = [n for n in names if param in fields[n]]
        if not having and len(names) == 1:
            out[names[0]][param] = value  # the atom's own "unknown parameter ..." error
        elif not having:
            every = sorted(set().union(*fields.values()))
            close = difflib.get_close_matches(param, every, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ParamError(f"unknown parameter '{param}': none of the atoms run has it{hint}")
        for n in having:
            out[n][param] = value
        if having and len(having) < len(names):
            ignoring = [n for n in names if n not in having]
            notes.append(f"--set {param}={value} applies to {len(having)} of {len(names)} atoms; "
                         f"ignored by {', '.join(ignoring)} (no parameter '{param}')")
    for key, target, param, value in split:
        if target is not None:
            out[target][param] = value
    return out, notes
