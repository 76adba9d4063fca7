"""`deepatoms history NAME` and `deepatoms diff RUN_A RUN_B`: every stored run, and two side by
side. Registered on the CLI's app when cli.py is imported; both open the store read-only."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from .app import DEFAULT_DIR, JsonOpt, StoreOpt, Command, print_json, stdout, app, open_store


def _num(value: Any) -> Text:
    """A cell as plain text (no markup, no emoji codes such as the ':100:' of '1:100')."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return Text("—")
    if isinstance(value, (list, tuple)):
        from .render import fmt_seeds
        return Text(fmt_seeds(value) if all(isinstance(v, int) for v in value)
                    else ",".join(map(str, value)))
    return Text(f"{value:.4g}" if isinstance(value, float) else str(value))


def history_table(atom: str, rows: list[dict[str, Any]]) -> Table:
    from .render import fmt_seconds, fmt_seeds
    table = Table(title=f"runs of {atom} (oldest first)", title_justify="left")
    from ..store.cost import cost_text
    for name in ("id", "time (UTC)", "preset", "seeds", "device", "verdict", "computed"):
        table.add_column(name, no_wrap=name == "id", min_width=12 if name == "verdict"
                         else None, justify="right" if name == "id" else "left")
    for r in rows:
        device = r["device"] + ("" if r["dtype"] == "float32" else f" {r['dtype']}")
        cost = cost_text({"computed_s": r["computed_s"], "env": {"computed_on": r["computed_on"]}},
                         fmt_seconds)
        table.add_row(str(r["id"]), str(r["created"]).replace("T", " ")[:16], Text(r["preset"]),
                      fmt_seeds(r["seeds"]), device, _verdict_cell(r), Text(cost))
    return table


def _interval(row: dict[str, Any] | None) -> str:
    if row is None:
        return "(absent)"
    supports = {True: "✓", False: "✗", None: "?"}.get(row.get("supports"), "?")
    return (f"{_num(row.get('estimate'))} [{_num(row.get('ci_low'))}, "
            f"{_num(row.get('ci_high'))}] {supports}")


def _cells(*values: Any) -> list[Text]:
    return [v if isinstance(v, Text) else Text(str(v)) for v in values]


def _metric(row: dict[str, Any]) -> str:
    """The metric, with its claim part and a control mark where it has them."""
    from ..report.parts import evidence_part
    from ..verdict import Evidence
    label = evidence_part(Evidence(row["metric"], 0.0, 0.0, 0.0, 0, "", "", None,
                                   part=row.get("part", ""), control=row.get("control", False)))
    return f"[{label}] {row['metric']}" if label else row["metric"]


def _parts_text(row: dict[str, Any]) -> str:
    """One line per claim part ("• title: status — reason"); "" for an old run without parts."""
    lines = []
    for p in row.get("parts") or []:
        reason = f" — {p['reason']}" if p.get("reason") else ""
        lines.append(f"• {p.get('title') or p.get('name') or 'central claim'}: "
                     f"{p.get('status')}{reason}")
    return "\n".join(lines)


def _verdict_cell(row: dict[str, Any]) -> Text:
    """The verdict label, and one line per claim part when there are several (or a reason)."""
    text = Text(row["verdict"])
    parts = row.get("parts") or []
    if len(parts) > 1 or any(p.get("reason") for p in parts):
        text.append("\n" + _parts_text(row))
    return text


def diff_tables(diff: dict[str, Any]) -> list[Table]:
    """Runs, differing parameters, evidence side by side, key numbers."""
    a, b = diff["runs"]
    runs = Table(title=f"run {a['id']} vs run {b['id']}", title_justify="left")
    for name in ("", f"A: run {a['id']}", f"B: run {b['id']}"):
        runs.add_column(name)
    for key in ("atom", "created", "preset", "seeds", "device", "dtype", "torch", "threads",
                "code_version", "verdict", "finding", "computed_s", "computed_on", "wall_s"):
        va, vb = _num(a.get(key)), _num(b.get(key))
        runs.add_row(*_cells(key, va, vb if vb != va or key == "verdict" else "= A"))
    if a.get("parts") or b.get("parts"):
        runs.add_row(*_cells("parts", _parts_text(a), _parts_text(b)))
    out = [runs]
    if diff["params"]:
        params = Table(title="parameters that differ", title_justify="left")
        for name in ("parameter", "A", "B"):
            params.add_column(name)
        for p in diff["params"]:
            params.add_row(*_cells(p["name"], _num(p["a"]), _num(p["b"])))
        out.append(params)
    evidence = Table(title="evidence (estimate [95% CI], ✓ supports / ✗ contradicts / ? undecided)",
                     title_justify="left")
    for name in ("setting", "metric", "A", "B", "B − A"):
        evidence.add_column(name, justify="right" if name == "B − A" else "left")
    for e in diff["evidence"]:
        evidence.add_row(*_cells(e["setting"] or "—", _metric(e), _interval(e["a"]),
                                 _interval(e["b"]), _num(e["delta"])))
    out.append(evidence)
    if diff["numbers"]:
        numbers = Table(title="key numbers (mean over the run's measurement rows)",
                        title_justify="left")
        for name in ("metric", "A", "B", "B − A"):
            numbers.add_column(name, justify="left" if name == "metric" else "right")
        for n in diff["numbers"]:
            numbers.add_row(*_cells(n["metric"], _num(n["a"]), _num(n["b"]), _num(n["delta"])))
        out.append(numbers)
    return out


@app.command("history", cls=Command)
def history(
    name: Annotated[str, typer.Argument(help="Atom name, e.g. class-imbalance.")],
    store: StoreOpt = Path(DEFAULT_DIR),
    json_out: JsonOpt = False,
) -> None:
    """Every stored run of one atom: id, time, preset, seeds, device, status and verdict.
    Compare two of them with `deepatoms diff RUN_A RUN_B`."""
    from ..store.history import history_rows
    rows = history_rows(open_store(store, create=False), name)
    if json_out:
        print_json(rows)
        return
    stdout().print(history_table(name, rows))
    for line in config_lines(rows, name):
        stdout().print(line, soft_wrap=True, highlight=False, markup=False)


def config_lines(rows: list[dict[str, Any]], atom: str) -> list[str]:
    """`run 3: --config study.toml → preset quick, seeds 0,1; steps=100` per run from a config."""
    from .render import fmt_seeds, fmt_value
    lines = []
    for r in rows:
        config = r.get("config")
        if not config:
            continue
        used = config.get("used", {})
        given = {k.rpartition(".")[2]: v for k, v in config.get("params", {}).items()
                 if k.rpartition(".")[0] in ("", atom)}
        params = used.get("params", {})
        sets = "; ".join(f"{k}={fmt_value(params.get(k, v))}" for k, v in given.items()
                         if k in params)
        lines.append(f"run {r['id']}: --config {config.get('file')} → preset "
                     f"{used.get('preset')}, seeds {fmt_seeds(used.get('seeds', []))}"
                     + (f"; {sets}" if sets else ""))
    return lines


@app.command("diff", cls=Command)
def diff(
    run_a: Annotated[str, typer.Argument(help="Run id (from `deepatoms history NAME`).")],
    run_b: Annotated[str, typer.Argument(help="The other run id.")],
    store: StoreOpt = Path(DEFAULT_DIR),
    json_out: JsonOpt = False,
) -> None:
    """Two runs side by side: metadata (device, seeds, code version), the parameters that
    differ, verdicts, evidence rows and key numbers (CPU vs GPU, seeds 0–4 vs 100–104, before
    vs after a code change)."""
    from ..store.history import diff_runs
    result = diff_runs(open_store(store, create=False), run_a, run_b)
    if json_out:
        print_json(result)
        return
    for table in diff_tables(result):
        stdout().print(table)
    if result["note"]:
        stdout().print(result["note"], soft_wrap=True, highlight=False)
