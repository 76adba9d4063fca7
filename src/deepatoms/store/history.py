"""Every stored run, and two runs side by side (`deepatoms history` / `deepatoms diff`).

`history_rows(store, atom)`: one row per run of the atom, oldest first. `diff_runs(store, a, b)`:
what differs between two runs — their metadata, the parameters that differ, the verdicts, the
evidence rows matched by (setting, metric) and then by order, and the mean of each measurement
metric. Plain data only; the CLI draws it.

Both read damage-tolerantly (store/damage.py): a run whose fields cannot be read is still a row
(its verdict "unreadable"), its problems listed under "damaged" and raised as a
`DamagedRunWarning`, which the CLI shows as one `warning:` line. Two runs of different atoms
are compared with a `DifferentAtomsWarning`.
"""
from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

from .damage import label_of, status_of, warn_damaged

if TYPE_CHECKING:
    import pandas as pd
    from .database import Store

RUN_FIELDS = ("id", "atom", "created", "preset", "seeds", "device", "dtype", "code_version")
MAX_KEY_METRICS = 30


class DifferentAtomsWarning(UserWarning):
    """`diff` of two runs of different atoms: their evidence rarely lines up."""


def history_rows(store: "Store", atom: str) -> list[dict[str, Any]]:
    """id, created, preset, seeds, device, dtype, status, verdict label, scale, computed time
    and where it ran (cost.py), wall time, code version and what is damaged of every run of
    `atom` (oldest first); StoreError when there is none."""
    from .cost import run_cost
    from .standing import run_scale
    from ..errors import StoreError
    runs = store.runs(atom, tolerant=True)
    if not runs:
        known = sorted({r["atom"] for r in store.runs(tolerant=True)})
        hint = f"; it holds runs of: {', '.join(known)}" if known else ""
        raise StoreError(f"the store '{store.root}' has no runs of '{atom}'{hint}")
    warn_damaged(runs)
    return [{"id": r["id"], "created": r["created"], "preset": r["preset"], "seeds": r["seeds"],
             "device": r["device"] or str(r["env"].get("device", "")), "dtype": r["dtype"],
             "status": status_of(r), "verdict": label_of(r), "scale": run_scale(r),
             "computed_s": run_cost(r)[0], "computed_on": run_cost(r)[1], "wall_s": r["wall_s"],
             "code_version": r["code_version"], "damaged": r["damaged"],
             "config": (r["env"] or {}).get("config"), "parts": run_parts(r)} for r in runs]


def run_parts(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The claim parts of a run's verdict (name, title, status, reason); [] for a run stored
    before verdicts had parts, or a damaged one."""
    parts = (run.get("verdict") or {}).get("parts") or []
    return [p for p in parts if isinstance(p, dict)]


def _run_summary(store: "Store", run: dict[str, Any]) -> dict[str, Any]:
    from .cost import run_cost
    trials = store.trial_records(run)
    torch_versions = sorted({str(t["torch"]) for t in trials if t["torch"]})
    threads = sorted({int(t["threads"]) for t in trials if isinstance(t["threads"], int)})
    verdict = run["verdict"] or {}
    return {**{k: run.get(k) for k in RUN_FIELDS}, "status": status_of(run),
            "verdict": label_of(run), "finding": str(verdict.get("finding", "")),
            "computed_s": run["computed_s"], "computed_on": run_cost(run)[1],
            "wall_s": run["wall_s"], "parts": run_parts(run),
            "torch": ", ".join(torch_versions) or str(run["env"].get("torch", "")),
            "threads": ", ".join(map(str, threads)) or str(run["env"].get("threads", "")),
            "damaged": run["damaged"]}


def _evidence(run: dict[str, Any]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Evidence rows by (setting, metric, n): n counts rows of the same name, so two rows
    that share a setting and metric are both kept and matched in order."""
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    for e in (run["verdict"] or {}).get("evidence", []):
        name = (str(e.get("setting", "")), str(e.get("metric", "")))
        n = sum(1 for key in out if key[:2] == name)
        out[(*name, n)] = e
    return out


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and value is not None else math.nan


def evidence_pairs(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Evidence rows of both runs matched by (setting, metric) and then by order, A's first."""
    ea, eb = _evidence(a), _evidence(b)
    out = []
    for key in [*ea, *(k for k in eb if k not in ea)]:
        ra, rb = ea.get(key), eb.get(key)
        est_a = _number(ra.get("estimate")) if ra else math.nan
        est_b = _number(rb.get("estimate")) if rb else math.nan
        rows = [r for r in (ra, rb) if r]  # an old run's rows have no part: take either's
        out.append({"setting": key[0], "metric": key[1], "a": ra, "b": rb,
                    "delta": est_b - est_a,
                    "part": next((str(r["part"]) for r in rows if r.get("part")), ""),
                    "control": any(bool(r.get("control")) for r in rows)})
    return out


def key_numbers(table_a: "pd.DataFrame", table_b: "pd.DataFrame") -> list[dict[str, Any]]:
    """Mean value of each measurement metric in A and B (curves, `*_curve`, left out)."""
    means = [t[~t["metric"].astype(str).str.endswith("_curve")].groupby("metric", sort=False)
             ["value"].mean() for t in (table_a, table_b)]
    names = list(dict.fromkeys([*means[0].index, *means[1].index]))[:MAX_KEY_METRICS]
    rows = []
    for name in names:
        va, vb = (float(m.get(name, math.nan)) for m in means)
        rows.append({"metric": str(name), "a": va, "b": vb, "delta": vb - va})
    return rows


def _measurements(store: "Store", run: dict[str, Any]) -> "pd.DataFrame":
    from .. import registry
    table = store.run_table(run)
    atom = registry.all_atoms().get(run["atom"])
    return atom.split(table)[0] if atom is not None else table


def diff_runs(store: "Store", run_a: int | str, run_b: int | str) -> dict[str, Any]:
    """Two runs side by side: runs (metadata), params (those that differ), evidence pairs, key
    numbers (empty with a note when a run's trials are no longer in the store)."""
    from .database import check_run_id
    check_run_id(run_a), check_run_id(run_b)  # both ids before either is looked up
    a, b = store.run(run_a, tolerant=True), store.run(run_b, tolerant=True)
    warn_damaged([a] if a["id"] == b["id"] else [a, b])
    if a["atom"] != b["atom"]:
        warnings.warn(f"run {a['id']} is {a['atom']} and run {b['id']} is {b['atom']}: two "
                      "different atoms, compared field by field", DifferentAtomsWarning,
                      stacklevel=2)
    keys = list(dict.fromkeys([*a["params"], *b["params"]]))
    params = [{"name": k, "a": a["params"].get(k), "b": b["params"].get(k)} for k in keys
              if a["params"].get(k) != b["params"].get(k)]
    out = {"runs": [_run_summary(store, a), _run_summary(store, b)], "params": params,
           "evidence": evidence_pairs(a, b), "numbers": [], "note": ""}
    try:
        out["numbers"] = key_numbers(_measurements(store, a), _measurements(store, b))
    except Exception as exc:  # a run whose trials are gone still compares by its verdicts
        out["note"] = f"key numbers unavailable: {' '.join(str(exc).split())}"
    return out
