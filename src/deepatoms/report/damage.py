"""Stored runs as the report can show them, whatever a damaged or tampered store holds.

`repair(run)` returns a copy whose fields all have the types the pages expect (a field that is
missing, NULL or of the wrong type is replaced by an empty value) and the list of what was wrong,
which the atom's page shows. `Store.latest_runs(tolerant=True)` already turned undecodable JSON
into None and listed it under "damaged".
"""
from __future__ import annotations

import math
from typing import Any

_TEXT = ("preset", "code_version", "device", "dtype", "command", "created")
_NUMBERS = ("wall_s", "computed_s")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int_list(v: Any) -> bool:
    return isinstance(v, list) and all(_is_int(s) for s in v)


def repair(run: Any) -> tuple[dict[str, Any], list[str]]:
    """(a run with well-typed fields, the problems found) for one stored run record."""
    if not isinstance(run, dict):
        return {"atom": "unknown", "seeds": [], "verdict": None}, ["the run record is unreadable"]
    out = dict(run)
    problems = [f"The stored run is damaged: {p}." for p in run.get("damaged") or []]

    def bad(key: str, value: Any, replacement: Any, what: str) -> None:
        if value is not None or key in ("atom", "params", "seeds", "verdict"):
            problems.append(f"The stored run's {key} is {what}, got {str(value)[:60]!r}.")
        out[key] = replacement

    if not isinstance(out.get("atom"), str) or not out["atom"]:
        bad("atom", out.get("atom"), f"unnamed-run-{out.get('id')}", "not an atom name")
    for key in _TEXT:
        if not isinstance(out.get(key), str):
            bad(key, out.get(key), "", "not text")
    for key in _NUMBERS:
        v = out.get(key)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        if not ok:
            bad(key, v, None, "not a duration in seconds")
    if not isinstance(out.get("params"), dict):
        bad("params", out.get("params"), {}, "not a parameter record")
    if not isinstance(out.get("env"), dict):
        bad("env", out.get("env"), {}, "not an environment record")
    if not _int_list(out.get("seeds")):
        bad("seeds", out.get("seeds"), [], "not a list of seeds")
    if out.get("cached_seeds") is not None and not _int_list(out["cached_seeds"]):
        bad("cached_seeds", out.get("cached_seeds"), None, "not a list of seeds")
    if not isinstance(out.get("verdict"), dict):
        out["verdict"] = None  # read_verdict reports it ("The stored verdict could not be read")
    return out, problems
