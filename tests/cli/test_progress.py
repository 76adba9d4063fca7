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
