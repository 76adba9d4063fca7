"""Helpers several test packages share: the CLI in-process, the one-line error check, and the
trials a store holds so far."""
from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from typer.testing import CliRunner

from deepatoms.cli import app


def cli(*args: str):
    """`deepatoms ARGS` in this process, with no DEEPATOMS_STORE and a 120-column terminal."""
    return CliRunner(env={"DEEPATOMS_STORE": None, "COLUMNS": "120"}).invoke(app, list(args))


def one_error_line(result, expected: str, *, quiet_stdout: bool = False) -> None:
    """Exit 2 with exactly one `error: ...` line on stderr naming `expected`, no traceback."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert "Traceback" not in result.output
    if quiet_stdout:
        assert result.stdout == ""


def stored_trials(db: Path) -> int:
    """Trials stored so far in the database file `db` (0 while it is being created)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


CHROMIUM = (os.environ.get("DEEPATOMS_CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser"))


def needs_chromium(what: str):
    """Skip a browser test, saying which, where Chromium is not installed."""
    return pytest.mark.skipif(
        CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium; "
                                 f"`make test` installs it when it can): {what} did not run")
