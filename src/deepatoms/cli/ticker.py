"""A clock beside a long command: every `every_s` seconds it asks `status()` for a line (the
elapsed time and an estimate of what is left) and hands it to `show` — printed as a plain line
on stderr off a terminal, or set as the text of a live line on a terminal. A daemon thread; it
stops with the command (`stop`, or the context manager)."""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

DEFAULT_EVERY_S = 20.0  # off a terminal; DEEPATOMS_PROGRESS_EVERY overrides


def every_s(terminal: bool) -> float:
    """Seconds between status lines: 1 s on a terminal (a live line), else 20 s (a log)."""
    if terminal:
        return 1.0
    try:
        return max(float(os.environ.get("DEEPATOMS_PROGRESS_EVERY", DEFAULT_EVERY_S)), 0.1)
    except ValueError:
        return DEFAULT_EVERY_S


class Ticker:
    def __init__(self, status: Callable[[], str | None], show: Callable[[str], None],
                 every: float):
        self.status, self.show, self.every = status, show, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="deepatoms-progress", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                text = self.status()
            except Exception:  # a status that cannot be computed now: skip this tick
                continue
            if text:
                self.show(text)

    def start(self) -> "Ticker":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def __enter__(self) -> "Ticker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Watch:
    """Progress of a command without steps of its own (`report`): `status()` every tick, as a
    live line on a terminal (rich's status spinner) or a plain line on stderr off it."""

    def __init__(self, console: "Console", status: Callable[[], str | None],
                 every: float | None = None):
        self.console = console
        terminal = console.is_terminal
        self._live = console.status("working") if terminal else None
        show = self._live.update if self._live is not None else self._print
        self._ticker = Ticker(status, show, every_s(terminal) if every is None else every)

    def _print(self, text: str) -> None:
        self.console.print(f"  … {text}", highlight=False, soft_wrap=True, markup=False)

    def __enter__(self) -> "Watch":
        if self._live is not None:
            self._live.start()
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ticker.stop()
        if self._live is not None:
            self._live.stop()


def pages_status(folder: "Path", total: int | None, fmt: Callable[[float], str],
                 what: str = "atom pages") -> Callable[[], str]:
    """`elapsed 40 s · 12/42 atom pages · about 1.9 min left`: counts the `*.html` files under
    `folder` written since it was made (the report writes one page per atom)."""
    import time
    start, wall = time.monotonic(), time.time()

    def status() -> str:
        elapsed = time.monotonic() - start
        done = sum(1 for p in folder.glob("*.html") if p.stat().st_mtime >= wall - 1)
        text = f"elapsed {fmt(elapsed)}"
        if total:
            text += f" · {min(done, total)}/{total} {what}"
            if 0 < done < total:
                text += f" · about {fmt(elapsed * (total - done) / done)} left"
        return text
    return status
