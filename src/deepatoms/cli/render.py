"""What the command line draws: progress bars, catalog / parameter / verdict tables, JSON.

Only `deepatoms.cli` uses this module; it returns rich renderables and never prints on its own
(except the progress bars, which draw on the console they are given — stderr in the CLI).
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..params import describe_type, field_types
from ..execution.estimates import RunClock
from ..store.json_safe import jsonable

if TYPE_CHECKING:
    from ..api import Outcome
    from ..atom import Atom

STATUS_STYLE = {"reproduced": "bold green", "not reproduced": "bold red",
                "inconclusive": "bold yellow", "failed": "bold magenta"}
INDICATIVE_STYLE = "italic cyan"  # reduced-scale runs: visibly apart from real verdicts
BOUND_WORDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


@dataclasses.dataclass
class AtomResult:
    """One requested atom after `deepatoms run`: its outcome, or why it failed."""
    name: str
    family: str
    outcome: "Outcome | None" = None
    error: str | None = None
    crashed: bool = False  # True for a bug (any exception that is not a DeepatomsError)

    def to_dict(self) -> dict[str, Any]:
        if self.outcome is not None:
            return jsonable(self.outcome.to_dict())
        return {"atom": self.name, "family": self.family, "status": "failed", "error": self.error}


class RichProgress:
    """`deepatoms.lab.Progress` drawn as rich bars: one bar per training loop, named by the atom.

    Use as a context manager; set `.atom` to the name of the atom about to run. Loops may nest
    (begin/end pair up like a stack). Off a terminal (a log file, CI) there are no bars: a line
    when each atom starts and ends (`atom_started` / `atom_finished`, with the elapsed time and
    an estimate of what is left), and a line every `heartbeat_s` seconds inside a long loop.
    """

    def __init__(self, console: Console, clock: RunClock | None = None,
                 heartbeat_s: float = 60.0, tick_s: float | None = None):
        self.atom = ""
        self.console = console
        self.clock = clock or RunClock([])
        self.heartbeat_s = heartbeat_s
        self._bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("steps"), TimeElapsedColumn(), console=console,
                              transient=True, disable=not console.is_terminal)
        self._tasks: list[Any] = []
        self._loops: list[list[Any]] = []  # [label, done, total, start] per open loop
        self._last_line = self._start = self._atom_start = time.monotonic()
        from .ticker import Ticker, every_s
        self._overall: Any = None  # the live "elapsed · left" line on a terminal
        self._ticker = Ticker(self.status, self._show_status,
                              every_s(console.is_terminal) if tick_s is None else tick_s)

    def __enter__(self) -> "RichProgress":
        self._bars.start()
        self._start = time.monotonic()
        if self.console.is_terminal:
            self._overall = self._bars.add_task("elapsed 0 s", total=None)
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ticker.stop()
        self._bars.stop()

    def status(self) -> str:
        """`elapsed 3.5 min · about 12 min left · parity: 400/2000 steps` (what the ticker
        shows): the estimate extrapolates the open loop, then adds the atoms still to come."""
        elapsed = time.monotonic() - self._start
        loops = list(self._loops)
        left = self._left(loops)
        text = f"elapsed {fmt_seconds(elapsed)}"
        if left is not None:
            text += f" · about {fmt_seconds(left)} left"
        if loops:
            label, done, total, _ = loops[-1]
            text += f" · {label}: {done}/{total}"
        return text

    def _left(self, loops: list[list[Any]]) -> float | None:
        clock, now = self.clock, time.monotonic()
        later = sum(clock.estimates[clock.done + 1:]) * clock.speed
        if not self.atom and clock.total_s is not None:  # the workers' prefetch
            return self._prefetch_left(loops, now)
        if loops and loops[0][1] > 0:  # the outermost open loop, extrapolated
            _, done, total, start = loops[0]
            current = (now - start) * (total - done) / done
            if not self.atom:  # the workers' prefetch: every atom's trials in this loop
                return current
        elif clock.done < len(clock.estimates):
            current = max(clock.estimates[clock.done] * clock.speed - self._since_atom(now), 0.0)
        else:
            return None
        return current + later

    def _prefetch_left(self, loops: list[list[Any]], now: float) -> float:
        """While the workers compute every atom's trials: the dry run's schedule less the time
        spent, blended, as trials finish, into the trial loop's own extrapolation (the loop counts
        the trials' estimated seconds, dispatch.trial_weight: they run longest first, so a count
        of trials says too much early on)."""
        planned = max(float(self.clock.total_s or 0.0) - (now - self._start), 0.0)
        if not loops or loops[0][1] <= 0:
            return planned
        _, done, total, start = loops[0]
        share = done / total
        return (1 - share) * planned + share * (now - start) * (total - done) / done

    def _since_atom(self, now: float) -> float:
        return now - self._atom_start

    def _show_status(self, text: str) -> None:
        if self._overall is not None:
            self._bars.update(self._overall, description=text)
        else:
            self._line(escape(f"  … {text}"))

    def begin(self, description: str, total: int) -> None:
        label = self.atom if description in ("", self.atom) else \
            f"{self.atom} · {description}" if self.atom else description
        self._tasks.append(self._bars.add_task(label or description, total=max(int(total), 1)))
        self._loops.append([label or description, 0, max(int(total), 1), time.monotonic()])

    def advance(self, n: int) -> None:
        if self._tasks:
            self._bars.advance(self._tasks[-1], n)
            self._loops[-1][1] += n
            quiet = time.monotonic() - self._last_line
            if not self.console.is_terminal and quiet >= self.heartbeat_s:
                label, done, total, start = self._loops[-1]
                self._line(f"  {label}: {done}/{total} steps, "
                           f"{fmt_seconds(time.monotonic() - start)}")

    def end(self) -> None:
        if self._tasks:
            self._bars.remove_task(self._tasks.pop())
            self._loops.pop()

    def line(self, text: str) -> None:
        """A line above the bars (and in a log file)."""
        self._line(escape(text))

    def _line(self, text: str) -> None:
        self._last_line = time.monotonic()
        self.console.print(text, highlight=False, soft_wrap=True)

    def _counter(self) -> str:
        total = len(self.clock.estimates)
        return f"[{self.clock.done + 1}/{total}] " if total > 1 else ""

    def atom_started(self, name: str, detail: str) -> None:
        """`[i/N] running NAME (detail; estimate ...)`."""
        i = self.clock.done
        self._atom_start = time.monotonic()
        estimate = self.clock.estimates[i] if i < len(self.clock.estimates) else None
        guess = f"; estimate {fmt_seconds(estimate)}" if estimate else ""
        self._line(f"{self._counter()}running {escape(name)} ({escape(detail)}{guess})")

    def atom_finished(self, name: str, label: str, wall_s: float, computed_s: float) -> None:
        """`[i/N] NAME: label, computed 12 s · elapsed 3.0 min · about 5.0 min left` (computed:
        the trials' training time, wherever it ran; 0: all cached)."""
        counter = self._counter()
        self.clock.finish(wall_s, computed_s)
        left = self.clock.left_s
        tail = (f" · about {fmt_seconds(left)} left" if self.clock.done < len(self.clock.estimates)
                else "")
        cost = f"computed {fmt_seconds(computed_s)}" if computed_s > 0 else "cached"
        self._line(f"{counter}{escape(name)}: {escape(label)}, {cost} · elapsed "
                   f"{fmt_seconds(self.clock.elapsed_s)}{tail}")


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def fmt_value(value: Any) -> str:
    """A parameter value as `--set` would take it (lists as a,b,c)."""
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


def fmt_seeds(seeds: Iterable[int] | str) -> str:
    if isinstance(seeds, str):
        return seeds
    seeds = list(seeds)
    if seeds == list(range(len(seeds))) and len(seeds) > 2:
        return f"0–{len(seeds) - 1}"
    return ",".join(map(str, seeds))


def status_text(status: str | None) -> Text:
    """A verdict's label: a status, or "indicative: ..." for a reduced-scale run."""
    if status is None:
        return Text("not run", style="dim")
    if status.startswith("indicative"):
        return Text(status, style=INDICATIVE_STYLE)
    return Text(status, style=STATUS_STYLE.get(status, ""))


def bounds(meta: Mapping[str, Any]) -> str:
    """The allowed values of a parameter, from its `param()` metadata."""
    parts = [f"{word} {meta[key]}" for key, word in BOUND_WORDS if meta.get(key) is not None]
    if meta.get("choices") is not None:
        parts.append("one of " + ", ".join(map(str, meta["choices"])))
    if meta.get("requires"):
        parts.append("must include " + ", ".join(map(str, meta["requires"])))
    if meta.get("min_len", 1) > 1:
        parts.append(f"at least {meta['min_len']} values")
    return ", ".join(parts)


def run_brief(run: dict[str, Any]) -> dict[str, Any]:
    """What the catalog shows of a stored run: verdict, scale, preset, seeds, cost, time."""
    from ..store.cost import run_cost
    from ..store.standing import run_scale
    from ..store.damage import label_of, status_of
    computed_s, computed_on = run_cost(run)
    verdict = run.get("verdict") or {}  # None: damaged (store/damage.py)
    return {"run_id": run["id"], "status": status_of(run), "label": label_of(run),
            "scale": run_scale(run), "finding": str(verdict.get("finding", "")),
            "preset": run["preset"], "seeds": run["seeds"], "computed_s": computed_s,
            "computed_on": computed_on, "wall_s": run["wall_s"], "created": run["created"],
            "damaged": run.get("damaged", []), "parts": verdict.get("parts") or []}


def default_runtime_s(atom: Any) -> float:
    """The default run's estimated time: its measured cost when measured_costs.json has it
    (seconds per seed × default seeds), else the atom's declared runtime."""
    from ..execution.measured_costs import per_seed_s
    measured = per_seed_s(atom.name)
    return round(measured * atom.default_seeds, 1) if measured is not None else atom.runtime_s


def catalog_rows(atoms: Iterable["Atom"], latest: Mapping[str, dict],
                 newer_reduced: Mapping[str, dict] | None = None) -> list[dict[str, Any]]:
    """One plain dict per atom (the `list --json` payload and the table's content):
    `last_run` is the run that stands for the atom (its latest full-scale run; a reduced one
    only when it has none), `newer_reduced` a later reduced-scale run shown beside it."""
    rows = []
    newer_reduced = newer_reduced or {}
    for a in atoms:
        run, beside = latest.get(a.name), newer_reduced.get(a.name)
        rows.append({"name": a.name, "family": a.family, "title": a.title,
                     "runtime_s": default_runtime_s(a), "presets": list(a.preset_names),
                     "last_run": None if run is None else run_brief(run),
                     "newer_reduced": None if beside is None else run_brief(beside)})
    return rows


def catalog_table(rows: list[dict[str, Any]]) -> Table:
    """Name and title in one cell (the title wraps in whatever width is left), so the table
    reads at 80 columns."""
    table = Table(title="deepatoms catalog", title_justify="left")
    table.add_column("atom · title", ratio=1)
    table.add_column("family", no_wrap=True)
    table.add_column("est.", no_wrap=True, justify="right")
    table.add_column("last verdict")
    for r in rows:
        last = r["last_run"]
        verdict = status_text(None if last is None else last["label"])
        if last is not None:
            verdict.append(f"\n{last['preset']}, {len(last['seeds'])} seeds", style="dim")
        if r.get("newer_reduced"):
            later = r["newer_reduced"]
            verdict.append(f"\nlater {later['preset']} run: ", style="dim")
            verdict.append(later["label"], style=INDICATIVE_STYLE)
        cell = Text(r["name"], style="bold")
        cell.append("\n" + r["title"], style="dim")
        table.add_row(cell, r["family"], fmt_seconds(r["runtime_s"]), verdict)
    return table


def catalog_tsv(rows: list[dict[str, Any]]) -> str:
    """One header line and one tab-separated line per atom (`list --format tsv`)."""
    head = ("name", "family", "title", "runtime_s", "presets", "last_verdict", "last_preset",
            "last_seeds", "last_scale", "newer_reduced_verdict")
    lines = ["\t".join(head)]
    for r in rows:
        last, later = r["last_run"] or {}, r.get("newer_reduced") or {}
        cells = (r["name"], r["family"], r["title"], f"{r['runtime_s']:g}", ",".join(r["presets"]),
                 last.get("label", ""), last.get("preset", ""),
                 ",".join(map(str, last.get("seeds", []))), last.get("scale", ""),
                 later.get("label", ""))
        lines.append("\t".join(" ".join(str(c).split()) for c in cells))
    return "\n".join(lines)


def param_rows(atom: "Atom") -> list[dict[str, Any]]:
    """Every parameter of `atom`: name, type, default, help, bounds, and each preset's value."""
    types = field_types(atom.Params)
    rows = []
    for f in dataclasses.fields(atom.Params):
        presets = {p: fmt_value(v[f.name]) for p, v in atom.presets.items() if f.name in v}
        rows.append({"name": f.name, "type": describe_type(types[f.name]),
                     "default": fmt_value(f.default), "help": f.metadata.get("help", ""),
                     "bounds": bounds(f.metadata), "presets": presets})
    return rows


def param_table(atom: "Atom") -> Table:
    table = Table(title="parameters (--set name=value; lists as a,b,c)", title_justify="left")
    for col in ("parameter", "type", "default", "allowed", "help"):
        table.add_column(col, no_wrap=col == "parameter")
    for preset in atom.presets:
        table.add_column(f"{preset} preset", style="cyan")
    for r in param_rows(atom):
        table.add_row(r["name"], r["type"], r["default"], r["bounds"], r["help"],
                      *(r["presets"].get(p, "") for p in atom.presets))
    return table


def verdict_table(results: list[AtomResult]) -> Table:
    """atom + finding (one cell, so the finding gets the width), verdict, seeds, computed (the
    training time, wherever it ran: after a prefetch the atom's own step only judges), cached."""
    table = Table(title="verdicts", title_justify="left", show_lines=len(results) > 1)
    table.add_column("atom · finding", ratio=1)
    for col in ("verdict", "seeds", "computed", "cached"):
        table.add_column(col, no_wrap=True)
    for r in results:
        cell = Text()
        cell.append(r.name, style="bold")
        if r.outcome is None:
            cell.append("\n" + (r.error or ""))
            table.add_row(cell, status_text("failed"), "", "", "")
            continue
        o = r.outcome
        cell.append("\n" + o.verdict.finding)
        if o.verdict.scale == "reduced":
            cell.append("\nreduced scale, not a verdict: " + "; ".join(o.verdict.scale_reasons),
                        style=INDICATIVE_STYLE)
        if o.verdict.seeds_note:
            cell.append("\n" + o.verdict.seeds_note, style="dim")
        append_parts(cell, o.verdict)
        cached = f"{len(o.cached_seeds)}/{len(o.seeds)}" if o.cached_seeds else "—"
        table.add_row(cell, status_text(o.verdict.label), fmt_seeds(o.seeds),
                      outcome_cost(o), cached)
    return table


def append_parts(cell: Text, verdict: Any) -> None:
    """One line per claim part under the finding ("part: status — reason"), each status in its
    colour; nothing for a verdict whose only part is the headline (or an old run without parts)."""
    from ..report.parts import shows_parts
    if not shows_parts(verdict):
        return
    for p in verdict.parts:
        cell.append(f"\n• {p.title}: ")
        cell.append(p.status, style=STATUS_STYLE.get(p.status, ""))
        if p.reason:
            cell.append(f" — {p.reason}", style="dim")


def outcome_cost(outcome: "Outcome") -> str:
    """'49 s', '49 s (2 workers)', or 'cached' for a run that computed nothing."""
    if outcome.computed_s <= 0:
        return "cached"
    where = str(outcome.env.get("computed_on", ""))
    workers = where.split(" worker")[0] if " worker" in where else ""
    return fmt_seconds(outcome.computed_s) + (f" ({workers} workers)" if workers else "")


def dry_run_table(rows: list[dict[str, Any]]) -> Table:
    """`run --dry-run`: one row per planned atom (`planning.plan_row` dicts); fits 80 columns."""
    table = Table(title="plan (nothing is run)", title_justify="left")
    table.add_column("atom · preset, parameters changed from the default", min_width=24)
    table.add_column("seeds", overflow="fold", justify="right", max_width=16)  # long lists fold
    for col in ("cached", "to run", "estimate"):
        table.add_column(col, no_wrap=True, justify="right")
    for r in rows:
        cell = Text(r["atom"], style="bold")
        changed = ", ".join(f"{k}={fmt_value(v)}" for k, v in r["changed"].items())
        cell.append(f"\npreset {r['preset']}" + (f": {changed}" if changed else ""), style="dim")
        seeds = fmt_seeds(r["seeds"]) + ("\n(auto: more if undecided)" if r["auto"] else "")
        table.add_row(cell, seeds, str(len(r["cached_seeds"])), str(r["to_compute"]),
                      fmt_seconds(r["estimate_s"]) if r["to_compute"] else "—")
    return table


def pairs_table(title: str, rows: Iterable[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for label, value in rows:
        table.add_row(str(label), str(value))
    return table


def probe_table(record: Mapping[str, Any]) -> Table:
    """One row per varied value: verdict label, key estimate with its interval, seeds."""
    table = Table(title=f"probe of {record['atom']}: {record['key']} ({record['preset']} preset)",
                  title_justify="left", caption=f"key estimate: {record['metric']}",
                  caption_justify="left")
    for col in (record["key"], "verdict", "estimate", "interval", "seeds"):
        table.add_column(col, no_wrap=col in ("verdict", "interval"), min_width=len(col))
    fmt = lambda x: "—" if x is None else f"{x:.4g}"
    for p in record["points"]:
        table.add_row(p["value"], status_text(p["label"]), fmt(p["estimate"]),
                      f"[{fmt(p['ci_low'])}, {fmt(p['ci_high'])}]", str(p["n"]))
    return table


def grid_table(record: Mapping[str, Any]) -> Table:
    """A two-parameter probe: rows the second parameter's values, columns the first's; each
    cell the verdict label and the key estimate."""
    (kx, xs), (ky, ys) = record["values"].items()
    table = Table(title=f"probe of {record['atom']}: {ky} × {kx} ({record['preset']} preset)",
                  title_justify="left", caption=f"cell: verdict · {record['metric']}",
                  caption_justify="left", show_lines=True)
    table.add_column(f"{ky} \\ {kx}", no_wrap=True)
    for x in xs:
        table.add_column(str(x))
    at = {(c["x"], c["y"]): c for c in record["cells"]}
    for y in ys:
        cells = []
        for x in xs:
            c = at[(x, y)]
            text = status_text(c["label"])
            text.append("\n" + ("—" if c["estimate"] is None else f"{c['estimate']:.4g}"))
            cells.append(text)
        table.add_row(str(y), *cells)
    return table
