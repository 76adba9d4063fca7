"""Stored runs as every reader can use them, whatever a damaged or tampered store holds.

`repair(run, undecodable)` returns a copy whose fields all have the types the readers expect
(history, diff, export, list, the report): a field that is missing, NULL, not valid JSON or of
the wrong type is replaced by an empty value, and each such field is named in the list of
problems returned with it. `Store.runs(tolerant=True)` puts that list under the run's
"damaged" key; the strict reading (the default) refuses the run with the first problem.

A verdict is kept when it is a record with a text status; its evidence must be a list of
records (a damaged evidence list is emptied, the verdict kept).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Iterable

TEXT = ("preset", "code_version", "device", "dtype", "command", "created")
NUMBERS = ("wall_s", "computed_s")
UNREADABLE = "unreadable"


class DamagedRunWarning(UserWarning):
    """A stored run has fields that cannot be read; readers go on with what can."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int_list(v: Any) -> bool:
    return isinstance(v, list) and all(_is_int(s) for s in v)


def _shown(value: Any) -> str:
    return repr(str(value)[:60])


def _verdict_problem(verdict: Any) -> str | None:
    if not isinstance(verdict, dict):
        return "is not a verdict record"
    if not isinstance(verdict.get("status"), str):
        return "has no text status"
    return None


def repair(run: Any, undecodable: dict[str, str] | None = None
           ) -> tuple[dict[str, Any], list[str]]:
    """(a run with well-typed fields, the problems found) for one stored run record.
    `undecodable`: field → why its JSON could not be decoded (the field is None then)."""
    if not isinstance(run, dict):
        return ({"atom": "unknown", "seeds": [], "verdict": None, "params": {}, "env": {}},
                ["the run record is unreadable"])
    out, problems = dict(run), [f"its {k} field is not valid JSON ({why})"
                                for k, why in (undecodable or {}).items()]
    skip = set(undecodable or {})

    def bad(key: str, replacement: Any, what: str) -> None:
        if key not in skip:
            problems.append(f"its {key} is {what}, got {_shown(out.get(key))}")
        out[key] = replacement

    if not isinstance(out.get("atom"), str) or not out["atom"]:
        bad("atom", f"unnamed-run-{out.get('id')}", "not an atom name")
    for key in TEXT:
        if not isinstance(out.get(key), str):
            bad(key, "", "not text")
    for key in NUMBERS:
        v = out.get(key)
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                and v >= 0):
            bad(key, None, "not a duration in seconds")
    if not isinstance(out.get("params"), dict):
        bad("params", {}, "not a parameter record")
    if not isinstance(out.get("env"), dict):
        bad("env", {}, "not an environment record")
    if not _int_list(out.get("seeds")):
        bad("seeds", [], "not a list of seeds")
    if out.get("cached_seeds") is not None and not _int_list(out["cached_seeds"]):
        bad("cached_seeds", None, "not a list of seeds")
    _repair_verdict(out, skip, problems)
    return out, problems


def _repair_verdict(out: dict[str, Any], skip: set[str], problems: list[str]) -> None:
    problem = _verdict_problem(out.get("verdict"))
    if problem is not None:
        if "verdict" not in skip:
            problems.append(f"its verdict {problem}, got {_shown(out.get('verdict'))}")
        out["verdict"] = None
        return
    evidence = out["verdict"].get("evidence", [])
    if not (isinstance(evidence, list) and all(isinstance(e, dict) for e in evidence)):
        problems.append(f"its verdict's evidence is not a list of records, got {_shown(evidence)}")
        out["verdict"] = dict(out["verdict"], evidence=[])


def status_of(run: dict[str, Any]) -> str:
    """The stored status of a repaired run ('unreadable' when its verdict is not)."""
    return run["verdict"]["status"] if run.get("verdict") else UNREADABLE


def label_of(run: dict[str, Any]) -> str:
    """The stored verdict label of a repaired run (older records have no label: the status)."""
    verdict = run.get("verdict")
    if not verdict:
        return UNREADABLE
    label = verdict.get("label")
    return label if isinstance(label, str) and label else verdict["status"]


def describe(run: dict[str, Any]) -> str:
    """'run 3 (parity) is damaged: its seeds ...; its env ...' for a run with problems."""
    return (f"run {run.get('id')} ({run.get('atom')}) is damaged: "
            f"{'; '.join(run.get('damaged') or [])}")


def warn_damaged(runs: Iterable[dict[str, Any]], then: str = "") -> None:
    """A DamagedRunWarning naming each run of `runs` that has problems (`then`: what the
    reader does with it, e.g. "; its readable fields are exported")."""
    for run in runs:
        if run.get("damaged"):
            warnings.warn(describe(run) + then, DamagedRunWarning, stacklevel=3)
