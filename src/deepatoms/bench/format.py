"""Rows of `deepatoms bench`'s table: (label, value) pairs in reading order."""
from __future__ import annotations

from typing import Any


def _seconds(x: float) -> str:
    return f"{x:.3g} s" if x < 100 else f"{x:.0f} s"


def _flops(x: float) -> str:
    return f"{x / 1e9:.3g} GFLOP/s" if x < 1e12 else f"{x / 1e12:.3g} TFLOP/s"


def _engine_rows(part: dict[str, Any], tag: str = "") -> list[tuple[str, str]]:
    p, f = part["population"], part["flops"]
    dev = p["device"] + tag
    alone = _seconds(p["one_by_one_s"])
    if p["extrapolated"]:
        alone += (f" (extrapolated from {p['one_by_one_models_timed']} models: "
                  f"{_seconds(p['one_by_one_measured_s'])})")
    shape = "→".join(map(str, p["sizes"]))
    return [
        (f"[{dev}] population",
         f"{p['models']} MLPs {shape}, batch {p['batch']}, {p['steps']} Adam steps"),
        (f"[{dev}] population wall", _seconds(p["population_s"])),
        (f"[{dev}] one-by-one wall", alone),
        (f"[{dev}] speed-up", f"{p['speedup']:.3g}×"),
        (f"[{dev}] max |Δw| vs one-by-one", f"{p['max_abs_diff']:.2g}"),
        (f"[{dev}] achieved (matmul FLOPs)", f"{_flops(f['achieved_flops_per_s'])} "
                                             f"= {100 * f['fraction_of_peak']:.3g}% of peak"),
        (f"[{dev}] peak ({f['matmul_n']}² float32 matmul)", _flops(f["peak_flops_per_s"])),
    ]


def _threads_rows(families: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [r for fam in families.values() for r in fam.get("atoms", {}).values()]
    walls = sorted({r["wall_threads"] for r in rows if "wall_threads" in r})
    bounds = sorted({r["bound_threads"] for r in rows if "bound_threads" in r})
    if not walls:
        return []
    bound = f", FLOP bound replayed at {threads_text(bounds)}" if bounds else ""
    return [("family threads", f"wall timed at {threads_text(walls)} per trial{bound} "
                               "(the machine's torch threads above are torch's default)")]


def _family_rows(families: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for name, fam in families.items():
        if "skipped" in fam:
            rows.append((f"family {name}", f"skipped ({fam['skipped']})"))
            continue
        rows.append((f"family {name}", _family_line(fam)))
        for atom, a in fam["atoms"].items():
            rows.append((f"  {atom}", _atom_line(a)))
    return rows


def threads_text(threads: Any) -> str:
    """'1 thread', '2 threads', '1, 2 threads' (a list: several counts)."""
    counts = list(threads) if isinstance(threads, (list, tuple)) else [threads]
    return f"{', '.join(map(str, counts))} thread{'' if counts == [1] else 's'}"


def _bound(row: dict[str, Any]) -> str:
    if row.get("bound_error"):
        return f", no bound ({row['bound_error']})"
    if row.get("bound_s") is None:
        return ""
    ratio = f" = {row['ratio']:.2g}× bound" if row.get("ratio") else ""
    atoms = len(row.get("atoms", ()))
    of = f" ({row['bounded']} of {atoms} atoms)" if row.get("bounded", atoms) < atoms else ""
    return (f", {row['flops'] / 1e12:.3g} TFLOP, bound {_seconds(row['bound_s'])}{of} at "
            f"{threads_text(row['bound_threads'])}{ratio}")


def _family_line(fam: dict[str, Any]) -> str:
    threads = f" at {threads_text(fam['wall_threads'])}" if fam.get("wall_threads") else ""
    return (f"{_seconds(fam['total_s'])} wall{threads}, {_seconds(fam['cpu_s'])} CPU "
            f"({len(fam['atoms'])} atoms, load {fam['load_before']:.1f} at start){_bound(fam)}")


def _atom_line(a: dict[str, Any]) -> str:
    if "error" in a:
        return f"{_seconds(a['wall_s'])} — {a['error']}"
    rate = (f", {_flops(a['flops_per_s_on_shapes'])} on its shapes"
            if a.get("flops_per_s_on_shapes") == a.get("flops_per_s_on_shapes") and
            a.get("flops_per_s_on_shapes") else "")
    return (f"{_seconds(a['wall_s'])} at {threads_text(a['wall_threads'])} ({a['seeds']} seeds, "
            f"{_seconds(a['cpu_s'])} CPU){_bound(a)}{rate} — {a['status']}")


def _load_rows(load: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not load:
        return []
    return [(f"under load, {c['threads']} thread{'s' if c['threads'] > 1 else ''}",
             f"{_seconds(c['idle_s'])} idle, {_seconds(c['loaded_s'])} beside "
             f"{load['busy_processes']} busy processes → {c['slowdown']:.2g}× slower "
             f"({load['work']})") for c in load["cases"]]


def _worker_rows(w: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not w:
        return []
    if "skipped" in w:
        return [("workers 2 vs 1", f"skipped ({w['skipped']})")]
    rows = [(f"family {w['family']}, workers 2 vs 1",
             f"{_seconds(w['two']['wall_s'])} vs {_seconds(w['one']['wall_s'])} → "
             f"{w['ratio']:.2g}× the wall time")]
    if "ray" in w:
        rows.append((f"family {w['family']}, Ray 2 local workers vs workers 1",
                     f"{_seconds(w['ray']['wall_s'])} (cluster start included) → "
                     f"{w['ray_ratio']:.2g}× the wall time"))
    return rows


def _tensor_calculus_rows(tc: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not tc:
        return []
    ratios = ", ".join(f"{f} {r:.3g}×" for f, r in tc["speedup"].items())
    return [(f"symbolic vs row-by-row Hessians, n = {tc['n']}", ratios)]


def format_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs for the CLI to print, in reading order."""
    m = result["machine"]
    gpu = f", {m['gpu']}" if m.get("gpu") else ""
    rows = [("machine", f"{m['processor'] or m['platform']}, {m['cpu_count']} CPUs, "
                        f"{m['torch_threads']} torch threads{gpu}"),
            ("torch", m["torch"])]
    rows += _engine_rows(result["cpu"])
    rows += _engine_rows(result["cuda"]) if result.get("cuda") else [("cuda", "not available")]
    scale = result.get("atom_scale") or {}
    for dev in ("cpu", "cuda"):
        if scale.get(dev):
            rows += _engine_rows(scale[dev], ", atom scale")
    rows += _threads_rows(result["families"])
    rows += _family_rows(result["families"])
    rows += _tensor_calculus_rows(result.get("tensor_calculus"))
    rows += _load_rows(result.get("under_load"))
    rows += _worker_rows(result.get("workers"))
    rows.append(("total", _seconds(result["total_s"])))
    rows += [("note", n) for n in result["notes"]]
    return rows
