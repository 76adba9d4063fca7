"""Damage a copy of a real store with SQL, for the tests of damage-tolerant reading (the
store's readers and the report)."""
from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

from deepatoms.store import DB_NAME


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tampered(base: Path, tmp_path: Path, sql: str) -> Path:
    """A copy of the store at `base` under `tmp_path`, with `sql` applied and checkpointed."""
    root = tmp_path / "store"
    shutil.copytree(base, root)
    conn = sqlite3.connect(root / DB_NAME, isolation_level=None)
    conn.executescript(sql)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return root


def loose_runs(change: str) -> str:
    """SQL that rebuilds `runs` without its NOT NULL constraints and types, then applies
    `change` (so a test can store what the schema would refuse)."""
    return ("CREATE TABLE r2 AS SELECT * FROM runs; DROP TABLE runs; "
            "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, atom, preset, params, "
            "params_key, code_version, seeds, status, verdict, wall_s, computed_s, env, command, "
            "created, cached_seeds, device, dtype); INSERT INTO runs SELECT * FROM r2; "
            "DROP TABLE r2; CREATE INDEX runs_by_atom ON runs (atom, id); " + change)
