"""Rows of `deepatoms bench --catalog`'s table: (label, value) pairs in reading order — the
catalog against `make run`'s wall first, then each family and its atoms."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .format import threads_text

if TYPE_CHECKING:
    from .catalog import Task


def _s(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g} s" if x < 100 else f"{x:.0f} s" if x < 600 else f"{x / 60:.1f} min"


def _ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.3g}×"


def _bound(r: dict[str, Any]) -> str:
    return (f"computed {_s(r['computed_s'])}, {r['flops'] / 1e12:.3g} TFLOP, bound "
            f"{_s(r['bound_s'])} → {_ratio(r['ratio'])}")


def done_line(task: "Task", row: dict[str, Any]) -> str:
    """The line printed as an atom's counting pass ends."""
    if "error" in row:
        return f"{task.atom}: no bound — {row['error']}"
    return f"{task.atom}: {_bound(row)} (counted in {_s(row['count_s'])})"


def _catalog_rows(c: dict[str, Any], result: dict[str, Any]) -> list[tuple[str, str]]:
    w = c["workers"]
    verdict = ("—" if c["met"] is None else "met" if c["met"] else "not met")
    return [
        ("threads", f"computed and bound both at {threads_text(result['threads'])} per trial"),
        ("catalog", f"{c['bounded']} of {result['planned']} atoms bounded: computed "
                    f"{_s(c['computed_s'])}, {c['flops'] / 1e12:.3g} TFLOP, Σ bound "
                    f"{_s(c['bound_s'])} → {_ratio(c['ratio'])}"),
        (f"bound on {w} workers", f"{_s(c['bound_on_workers_s'])} (longest first; the stored "
                                  f"computed seconds so: {_s(c['computed_on_workers_s'])})"),
        ("make run wall", f"{_s(c['wall_s'])} (from {c['wall_from']})"),
        (f"wall / bound on {w} workers",
         f"{_ratio(c['wall_ratio'])} (goal ≤ {c['goal']:g}×: {verdict})"),
    ]


def _atom_line(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"no bound — {r['error']}"
    scale = "" if r["scale"] == "full" else f", {r['scale']} run ({r['preset']})"
    stale = "" if r["code_version"] == r["run_code_version"] else ", code changed since the run"
    where = f" on {r['computed_on']}" if r.get("computed_on") else ""
    return f"{_bound(r)} ({len(r['seeds'])} seeds{where}{scale}{stale})"


def catalog_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs for the CLI to print, in reading order."""
    rows = _catalog_rows(result["catalog"], result)
    for family, f in result["families"].items():
        rows.append((f"family {family}", f"{f['bounded']} of {f['atoms']} atoms: " + (
            _bound(f) if f["bounded"] else "no bound")))
        for atom, r in result["atoms"].items():
            if r["family"] == family:
                rows.append((f"  {atom}", _atom_line(r)))
    rows += [("not counted", ", ".join(result["missing"]))] if result["missing"] else []
    if result["reused"]:
        rows.append(("reused", f"{len(result['reused'])} atoms from {result['out']}"))
    return rows
