"""Long commands show progress with the elapsed time and an estimate of what is left: plain
lines on stderr every few seconds off a terminal, a live line on a terminal (cli/ticker.py,
RichProgress.status)."""
from __future__ import annotations

import io
import time

from rich.console import Console

from deepatoms.cli.render import RichProgress, fmt_seconds
from deepatoms.cli.ticker import Watch, every_s, pages_status
from deepatoms.execution.estimates import RunClock


def test_off_a_terminal_status_lines_come_while_nothing_else_is_said():
    buf = io.StringIO()
    with RichProgress(Console(file=buf, width=120), RunClock([4.0, 6.0]), tick_s=0.05) as bar:
        bar.atom = "parity"
        bar.atom_started("parity", "preset quick, seeds 0")
        bar.begin("parity", 10)
        bar.advance(5)
        time.sleep(0.3)  # a long step: no callback arrives, the ticker still speaks
        bar.end()
    ticks = [line for line in buf.getvalue().splitlines() if line.startswith("  … elapsed")]
    assert len(ticks) >= 2
    assert all(" left · parity: 5/10" in line for line in ticks)


def test_the_estimate_extrapolates_the_open_loop_and_adds_the_atoms_to_come():
    bar = RichProgress(Console(file=io.StringIO()), RunClock([10.0, 20.0]), tick_s=60)
    bar.atom = "a"
    bar._loops = [["a", 5, 10, time.monotonic() - 4.0]]  # half done in 4 s: 4 s to go
    assert abs(bar._left(bar._loops) - 24.0) < 0.5        # + the next atom's 20 s
    bar.atom = ""  # the workers' prefetch: the loop holds every atom's trials
    assert abs(bar._left(bar._loops) - 4.0) < 0.5
    bar._loops, bar.clock.done = [], 2
    assert bar._left([]) is None and "left" not in bar.status()


def test_the_prefetch_starts_from_the_dry_runs_total_not_the_sum_of_atoms():
    """`make run` once opened with 'about 35.8 min left' while `run --dry-run` said 17 min: the
    workers' prefetch summed every atom's estimate as if one process ran them all. With the dry
    run's total (atoms side by side on the workers) the first estimate is that total; as trials
    finish it blends into the trial loop's extrapolation."""
    bar = RichProgress(Console(file=io.StringIO()), RunClock([600.0, 600.0, 600.0],
                       total_s=1000.0), tick_s=60)
    bar.atom, bar._start = "", time.monotonic() - 100.0
    assert abs(bar._left([]) - 900.0) < 1.0               # not 1,800 − 100
    loop = ["", 10, 40, time.monotonic() - 100.0]         # a quarter of the trials in 100 s
    assert abs(bar._left([loop]) - (0.75 * 900.0 + 0.25 * 300.0)) < 2.0
    done = ["", 40, 40, time.monotonic() - 100.0]         # all trials done: the loop says 0
    assert bar._left([done]) < 1.0
    bar.atom = "a"  # judging afterwards: the atoms' own estimates, as before
    assert bar._left([]) > 500.0


def test_the_run_clock_takes_the_dry_runs_total(tmp_path):
    from deepatoms import registry
    from deepatoms.api import Request
    from deepatoms.cli.interrupts import tally_for
    from deepatoms.cli.run import run_clock
    from deepatoms.execution.planning import plan_row, plan_total
    from deepatoms.execution.executors import ExecOptions
    from deepatoms.store import Store
    atoms = [registry.get(n) for n in ("parity", "layer-convergence", "fixup")]
    plans = [Request(a, "default", a.params("default"), tuple(range(a.default_seeds)))
             for a in atoms]
    st = Store(tmp_path)
    execution = dict(backend="local", workers=2, threads=None, address=None, precision="fp32")
    clock = run_clock(tally_for(plans, st, False, "cpu", None), execution)
    rows = [plan_row(p.atom, p.preset, p.params, p.seeds, st, False, "cpu") for p in plans]
    assert clock.estimates == [r["estimate_s"] for r in rows]
    assert clock.total_s == plan_total(rows, atoms, ExecOptions(**execution))["total_s"]
    assert clock.total_s < sum(clock.estimates)           # side by side on 2 workers


def test_on_a_terminal_a_live_line_holds_the_status():
    buf = io.StringIO()
    with RichProgress(Console(file=buf, width=120, force_terminal=True), RunClock([3.0]),
                      tick_s=0.05) as bar:
        time.sleep(0.3)
        overall = bar._bars.tasks[0].description
    assert overall.startswith("elapsed ") and " left" in overall


def test_progress_interval_off_a_terminal(monkeypatch):
    monkeypatch.delenv("DEEPATOMS_PROGRESS_EVERY", raising=False)
    assert every_s(True) == 1.0 and every_s(False) == 20.0
    monkeypatch.setenv("DEEPATOMS_PROGRESS_EVERY", "5")
    assert every_s(False) == 5.0


def test_report_pages_status_counts_pages_and_estimates(tmp_path):
    status = pages_status(tmp_path, 4, fmt_seconds)
    assert status().endswith(" · 0/4 atom pages")
    (tmp_path / "a.html").write_text("x")
    time.sleep(0.05)
    text = status()
    assert "1/4 atom pages · about " in text and text.endswith(" left")
    buf = io.StringIO()
    with Watch(Console(file=buf), status, every=0.05):
        time.sleep(0.2)
    assert buf.getvalue().startswith("  … elapsed ")
