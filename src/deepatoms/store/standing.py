"""Which stored run stands for each atom: the latest full-scale run is its verdict; reduced-scale
runs (quick presets, probe points below the claim's scale) are indications shown beside it and
never replace it. An atom with no full-scale run is represented by its latest reduced one.

    scale "verdict"  the latest full-scale run, else the latest reduced run (the default)
    scale "full"     the latest full-scale run only (atoms without one are left out)
    scale "reduced"  the latest reduced-scale run only
    scale "all"      both: the latest full and the latest reduced run of each atom
    scale "any"      the newest run whatever its scale
"""
from __future__ import annotations

from typing import Any, Iterable

SCALES = ("verdict", "full", "reduced", "all", "any")


def run_scale(run: dict[str, Any]) -> str:
    """"full" or "reduced" (a run whose verdict does not decode, or predates scales: full)."""
    verdict = run.get("verdict")
    scale = verdict.get("scale") if isinstance(verdict, dict) else None
    return "reduced" if scale == "reduced" else "full"


def latest_by_scale(runs: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """{atom: {"full": newest full run, "reduced": newest reduced run}} (a key only where one
    exists); `runs` oldest first, as the store lists them."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for run in runs:
        out.setdefault(run["atom"], {})[run_scale(run)] = run
    return out


def pick(runs: Iterable[dict[str, Any]], scale: str = "verdict") -> list[dict[str, Any]]:
    """The runs that stand for each atom at `scale` (see the module text), oldest first."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    runs = list(runs)
    if scale == "any":
        newest = {r["atom"]: r for r in runs}
        chosen = list(newest.values())
    else:
        chosen = []
        for by_scale in latest_by_scale(runs).values():
            if scale == "verdict":
                chosen.append(by_scale.get("full") or by_scale["reduced"])
            elif scale == "all":
                chosen.extend(by_scale.values())
            elif scale in by_scale:
                chosen.append(by_scale[scale])
    return sorted(chosen, key=lambda r: r["id"])


def newer_reduced(runs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per atom, its latest reduced-scale run when it is newer than the full-scale verdict (an
    indication to show beside that verdict)."""
    out = {}
    for atom, by_scale in latest_by_scale(runs).items():
        full, reduced = by_scale.get("full"), by_scale.get("reduced")
        if full is not None and reduced is not None and reduced["id"] > full["id"]:
            out[atom] = reduced
    return out
