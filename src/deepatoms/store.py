"""SQLite store of trials (one atom × parameters × seed × code version) and runs (verdicts).

Every write is one transaction, so a killed process leaves only complete trials. WAL mode and a
busy timeout let two processes write one store at once. Artifacts (figures, report) live beside
the database file in the results directory.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .errors import MissingDependencyError, StoreError

DEFAULT_DIR = "deepatoms-runs"
DB_NAME = "deepatoms.sqlite"
LOCK_WAIT_S = 60.0  # how long opening or writing waits for another process's lock
SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    atom TEXT NOT NULL, params_key TEXT NOT NULL, code_version TEXT NOT NULL, seed INTEGER NOT NULL,
    params TEXT NOT NULL, rows TEXT NOT NULL, wall_s REAL NOT NULL, device TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (atom, params_key, code_version, seed));
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, atom TEXT NOT NULL, preset TEXT NOT NULL,
    params TEXT NOT NULL, params_key TEXT NOT NULL, code_version TEXT NOT NULL, seeds TEXT NOT NULL,
    status TEXT NOT NULL, verdict TEXT NOT NULL, wall_s REAL NOT NULL, computed_s REAL NOT NULL,
    env TEXT NOT NULL, command TEXT NOT NULL, created TEXT NOT NULL,
    cached_seeds TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS probes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, atom TEXT NOT NULL, key TEXT NOT NULL,
    preset TEXT NOT NULL, record TEXT NOT NULL, created TEXT NOT NULL);
"""


def params_key(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def default_location() -> Path:
    return Path(os.environ.get("DEEPATOMS_STORE") or DEFAULT_DIR)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _encode_rows(table: pd.DataFrame) -> str:
    # json (not pandas.to_json) so floats round-trip exactly; NaN/inf are kept as NaN/Infinity
    cols = {c: table[c].tolist() for c in table.columns}
    return json.dumps({"columns": list(table.columns), "data": cols})


def _decode_rows(text: str) -> pd.DataFrame:
    payload = json.loads(text)
    return pd.DataFrame({c: payload["data"][c] for c in payload["columns"]})


class Store:
    """A results directory holding `deepatoms.sqlite` and an `artifacts/` folder."""

    def __init__(self, location: str | os.PathLike | None = None):
        self.root = Path(location) if location is not None else default_location()
        self.path = self.root / DB_NAME
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass  # a private probe: processes opening one store at once never collide
        except OSError as exc:
            raise StoreError(f"cannot write the store at '{self.root}' ({exc.strerror}); "
                             "pass a writable directory with --store or DEEPATOMS_STORE") from None
        self._conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        # Switching to WAL needs a lock that SQLite's busy timeout does not always wait for, so
        # a store another process is opening at the same moment is retried, not reported broken.
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                return self._open()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise StoreError(f"cannot open the store '{self.path}' ({exc}); "
                                     "is another process holding it?") from None
                time.sleep(0.05)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"the store file '{self.path}' is not a readable deepatoms "
                                 f"database ({exc}); move it away or pass another --store") from None

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=LOCK_WAIT_S, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    def close(self) -> None:
        self._conn.close()

    def _write(self, sql: str, rows: Iterable[tuple]) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(sql, list(rows))
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def load_trials(self, atom: str, canonical: str, code_version: str,
                    seeds: Iterable[int]) -> dict[int, pd.DataFrame]:
        wanted = [int(s) for s in seeds]
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        cur = self._conn.execute(
            f"SELECT seed, rows FROM trials WHERE atom=? AND params_key=? AND code_version=? "
            f"AND seed IN ({marks})", (atom, params_key(canonical), code_version, *wanted))
        return {int(seed): _decode_rows(rows) for seed, rows in cur.fetchall()}

    def save_trials(self, atom: str, canonical: str, code_version: str,
                    tables: dict[int, pd.DataFrame], wall_s: float, device: str) -> None:
        """Write the trials of one computed batch of seeds in a single transaction."""
        key, now = params_key(canonical), _now()
        self._write("INSERT OR REPLACE INTO trials VALUES (?,?,?,?,?,?,?,?,?)",
                    [(atom, key, code_version, int(seed), canonical, _encode_rows(table),
                      float(wall_s), device, now) for seed, table in tables.items()])

    def save_run(self, record: dict[str, Any]) -> None:
        row = (record["atom"], record["preset"], record["params"], params_key(record["params"]),
               record["code_version"], json.dumps(record["seeds"]), record["verdict"]["status"],
               json.dumps(record["verdict"]), float(record["wall_s"]), float(record["computed_s"]),
               json.dumps(record["env"]), record["command"], _now(),
               json.dumps(record.get("cached_seeds", [])))
        self._write("INSERT INTO runs (atom, preset, params, params_key, code_version, seeds, "
                    "status, verdict, wall_s, computed_s, env, command, created, cached_seeds) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [row])

    def latest_runs(self) -> dict[str, dict[str, Any]]:
        """The newest run of every atom, decoded."""
        cur = self._conn.execute(
            "SELECT atom, preset, params, code_version, seeds, verdict, wall_s, computed_s, env, "
            "command, created, cached_seeds FROM runs WHERE id IN (SELECT MAX(id) FROM runs GROUP BY atom)")
        out = {}
        for (atom, preset, params, version, seeds, verdict, wall, computed, env, command,
             created, cached) in cur.fetchall():
            out[atom] = dict(atom=atom, preset=preset, params=json.loads(params),
                             canonical=params, code_version=version, seeds=json.loads(seeds),
                             verdict=json.loads(verdict), wall_s=wall, computed_s=computed,
                             env=json.loads(env), command=command, created=created,
                             cached_seeds=json.loads(cached))
        return out

    def save_probe(self, atom: str, key: str, preset: str, record: dict[str, Any]) -> None:
        """One `deepatoms probe`: the verdict and key estimate per value of the varied key."""
        self._write("INSERT INTO probes (atom, key, preset, record, created) VALUES (?,?,?,?,?)",
                    [(atom, key, preset, json.dumps(record, allow_nan=True), _now())])

    def latest_probes(self) -> dict[str, dict[str, Any]]:
        """The newest probe of every atom: its record plus atom, key, preset and created."""
        cur = self._conn.execute(
            "SELECT atom, key, preset, record, created FROM probes "
            "WHERE id IN (SELECT MAX(id) FROM probes GROUP BY atom)")
        return {atom: dict(json.loads(record), atom=atom, key=key, preset=preset, created=created)
                for atom, key, preset, record, created in cur.fetchall()}

    def run_table(self, run: dict[str, Any]) -> pd.DataFrame:
        """The tidy table of a run, rebuilt from its stored trials."""
        tables = self.load_trials(run["atom"], run["canonical"], run["code_version"], run["seeds"])
        missing = [s for s in run["seeds"] if s not in tables]
        if missing:
            raise StoreError(f"store lacks trials of {run['atom']} for seeds {missing}")
        return pd.concat([tables[s] for s in run["seeds"]], ignore_index=True)

    def export(self, path: str | os.PathLike) -> Path:
        """Every latest run's table with an `atom` column, as CSV or Parquet (by suffix)."""
        frames = [self.run_table(r).assign(atom=name) for name, r in self.latest_runs().items()]
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        path = Path(path)
        if path.suffix == ".parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise MissingDependencyError("Parquet export needs pyarrow: "
                                             "pip install 'deepatoms[parquet]'") from None
            # mixed-type setting columns are stored as text in Parquet
            table = table.astype({c: str for c in table.columns if table[c].dtype == object})
            table.to_parquet(path)
        elif path.suffix == ".csv":
            table.to_csv(path, index=False)
        else:
            raise StoreError(f"export path must end in .csv or .parquet, got '{path.name}'")
        return path
