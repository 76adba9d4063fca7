"""SQLite store of trials (atom × parameters × code version × device × dtype × seed) and runs.

Every write is one transaction, so a killed process leaves only complete trials. WAL mode and a
busy timeout let two processes write one store at once. Artifacts (figures, report) live beside
the database file in the results directory. The schema is versioned (store_schema.py): an
existing file is first inspected read-only, so a foreign or newer file is refused untouched,
and a writable store is proven writable (a real write) before anything trains.
`Store(location, readonly=True)` never writes: `list`, `export`, `report`, `history` and `diff`
use it, and work on a read-only file or directory.
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
from typing import TYPE_CHECKING, Any, Iterable

from . import damage, schema, standing
from ..errors import StoreError

if TYPE_CHECKING:  # imported where used: `deepatoms list` reads a store without pandas
    import pandas as pd

DEFAULT_DIR = "deepatoms-runs"
DB_NAME = "deepatoms.sqlite"
LOCK_WAIT_S = 60.0  # how long opening or writing waits for another process's lock
RUN_COLUMNS = ("id", "atom", "preset", "params", "code_version", "device", "dtype", "seeds",
               "verdict", "wall_s", "computed_s", "env", "command", "created", "cached_seeds")
JSON_FIELDS = ("seeds", "verdict", "env", "cached_seeds")
MAX_RUN_ID = 2**63 - 1  # SQLite's largest integer


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
    import pandas as pd
    payload = json.loads(text)
    return pd.DataFrame({c: payload["data"][c] for c in payload["columns"]})


def check_run_id(value: object) -> int:
    """A run id: a whole number from 1 (an int, or its decimal digits, optionally after '#');
    StoreError otherwise, the same for the CLI and the API."""
    import numbers
    text = value.strip().lstrip("#") if isinstance(value, str) else None
    if text is not None and text.isascii() and text.isdigit():
        number = int(text)
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool) and \
            type(value).__name__ != "bool_":
        number = int(value)
    else:
        number = None
    if number is None or not 1 <= number <= MAX_RUN_ID:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "…"
        raise StoreError(f"a run id is a whole number from 1 to {MAX_RUN_ID} (`deepatoms "
                         f"history NAME` lists them), got {shown}")
    return number


def _unwritable(where: Path, exc: BaseException) -> StoreError:
    reason = getattr(exc, "strerror", None) or str(exc)
    return StoreError(f"cannot write the store at '{where}' ({reason}); pass a writable "
                      "directory with --store or DEEPATOMS_STORE")


class Store:
    """A results directory holding `deepatoms.sqlite` and an `artifacts/` folder.

    `readonly=True` opens an existing store without writing anything (a store of an older
    schema is upgraded in memory only); otherwise the directory and database are created if
    missing, upgraded if older, and proven writable before the constructor returns."""

    def __init__(self, location: str | os.PathLike | None = None, *, readonly: bool = False):
        self.root = Path(location) if location is not None else default_location()
        self.path = self.root / DB_NAME
        self.readonly = readonly
        self._conn = self._open_readonly() if readonly else self._open_writable()

    # ------------------------------------------------------------ opening

    def _not_a_file(self) -> StoreError:
        return StoreError(f"the store file '{self.path}' is not a file (a directory, or a link to "
                          "nothing, is in its place); it was left untouched — move it away or "
                          "pass another --store")

    def _open_readonly(self) -> sqlite3.Connection:
        if self.path.exists() and not self.path.is_file():
            raise self._not_a_file()
        if not self.path.is_file():
            raise StoreError(f"no results in '{self.root}' (no {DB_NAME}); run `deepatoms run "
                             "...` first, or pass --store / DEEPATOMS_STORE")
        conn = self._connect_ro()
        version = schema.inspect(conn, str(self.path))
        if version == schema.CURRENT:
            return conn
        if version == 0:  # an empty file: nothing stored yet
            conn.close()
            raise StoreError(f"no results in '{self.root}' ({DB_NAME} is empty); run "
                             "`deepatoms run ...` first, or pass --store / DEEPATOMS_STORE")
        memory = sqlite3.connect(":memory:", isolation_level=None)
        conn.backup(memory)  # an older store is read through an upgraded copy in memory
        conn.close()
        memory.execute("BEGIN")
        # the same id at every read-only open of this file (an MLflow export skips runs by it)
        stable_id = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:32]
        schema.upgrade(memory, version, stable_id)
        memory.execute("COMMIT")
        return memory

    def _connect_ro(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri()
        for options in ("mode=ro", "mode=ro&immutable=1"):
            # immutable: a WAL database in a directory this process may not write (no -shm can
            # be made: "unable to open" or "attempt to write a readonly database"); nothing can
            # change it meanwhile
            if "immutable" in options:
                self._check_no_pending_wal()
            try:
                conn = sqlite3.connect(f"{uri}?{options}", uri=True, timeout=LOCK_WAIT_S)
            except sqlite3.OperationalError:
                continue
            try:
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                return conn
            except sqlite3.OperationalError as exc:
                conn.close()
                if "unable to open" not in str(exc) and "readonly" not in str(exc):
                    raise StoreError(f"cannot read the store '{self.path}' ({exc})") from None
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise StoreError(f"the store file '{self.path}' is not a readable deepatoms "
                                 f"database ({exc}); it was left untouched — move it away or "
                                 "pass another --store") from None
        raise StoreError(f"cannot read the store '{self.path}' (unable to open it)")

    def _check_no_pending_wal(self) -> None:
        """An immutable open does not see changes still in the -wal file: refuse instead."""
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            raise StoreError(f"cannot read the store '{self.path}': changes are still in "
                             f"'{wal.name}', which SQLite cannot open in a directory this "
                             "process may not write; open it once where it is writable")

    def _open_writable(self) -> sqlite3.Connection:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass  # a private probe: processes opening one store at once never collide
        except OSError as exc:
            raise _unwritable(self.root, exc) from None
        if os.path.lexists(self.path) and not self.path.is_file():
            raise self._not_a_file()
        if self.path.is_file() and self.path.stat().st_size > 0:
            probe = self._connect_ro()  # inspect before any write: a foreign file stays as it is
            try:
                schema.inspect(probe, str(self.path))
            finally:
                probe.close()
        conn = self._connect()
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect(self) -> sqlite3.Connection:
        # Switching to WAL needs a lock that SQLite's busy timeout does not always wait for, so
        # a store another process is opening at the same moment is retried, not reported broken.
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                conn = sqlite3.connect(self.path, timeout=LOCK_WAIT_S, isolation_level=None)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the store '{self.path}' ({exc})") from None
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                return conn
            except sqlite3.OperationalError as exc:
                conn.close()
                if "readonly" in str(exc):
                    raise _unwritable(self.path, exc) from None
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise StoreError(f"cannot open the store '{self.path}' ({exc}); "
                                     "is another process holding it?") from None
                time.sleep(0.05)
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise StoreError(f"the store file '{self.path}' is not a readable deepatoms "
                                 f"database ({exc}); move it away or pass another --store") from None

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Create or upgrade the schema and prove the file writable, in one write transaction
        (the version is read again under the write lock: two processes may open it at once)."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            version = schema.inspect(conn, str(self.path))
            if version < schema.CURRENT:
                schema.upgrade(conn, version)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('opened_for_writing', ?)", (_now(),))
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if "readonly" in str(exc) or "read-only" in str(exc):
                raise _unwritable(self.path, exc) from None
            raise StoreError(f"cannot open the store '{self.path}' ({exc})") from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def store_id(self) -> str:
        row = self._conn.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
        return row[0] if row else ""

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, rows: Iterable[tuple]) -> int | None:
        if self.readonly:
            raise StoreError(f"the store '{self.path}' was opened read-only")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            cur = self._conn.executemany(sql, list(rows))
            last = self._conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            self._conn.execute("COMMIT")
            return last if cur.rowcount else None
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------ trials

    def load_trials(self, atom: str, canonical: str, code_version: str, seeds: Iterable[int],
                    device: str = "cpu", dtype: str = "float32") -> dict[int, pd.DataFrame]:
        wanted = [int(s) for s in seeds]
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        cur = self._conn.execute(
            f"SELECT seed, rows FROM trials WHERE atom=? AND params_key=? AND code_version=? "
            f"AND device=? AND dtype=? AND seed IN ({marks})",
            (atom, params_key(canonical), code_version, device, dtype, *wanted))
        found = {}
        for seed, rows in cur.fetchall():
            try:
                found[int(seed)] = _decode_rows(rows)
            except (TypeError, ValueError, KeyError, AttributeError):
                continue  # an unreadable trial is as good as none: a run computes it again
        return found

    def save_trials(self, atom: str, canonical: str, code_version: str,
                    tables: dict[int, pd.DataFrame], wall_s: float, device: str,
                    dtype: str = "float32", torch_version: str | None = None,
                    threads: int | None = None) -> None:
        """Write the trials of one computed batch of seeds in a single transaction."""
        key, now = params_key(canonical), _now()
        self._write(f"INSERT OR REPLACE INTO trials ({', '.join(schema.TRIAL_COLUMNS)}) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    [(atom, key, code_version, device, dtype, int(seed), canonical,
                      _encode_rows(table), float(wall_s), torch_version, threads, now)
                     for seed, table in tables.items()])

    def trial_records(self, run: dict[str, Any]) -> list[dict[str, Any]]:
        """seed, wall_s, torch, threads and created of each stored trial of a run."""
        seeds = [int(s) for s in run["seeds"]]
        marks = ",".join("?" * len(seeds)) or "NULL"
        cur = self._conn.execute(
            f"SELECT seed, wall_s, torch, threads, created FROM trials WHERE atom=? AND "
            f"params_key=? AND code_version=? AND device=? AND dtype=? AND seed IN ({marks})",
            (run["atom"], params_key(run["canonical"]), run["code_version"], run["device"],
             run["dtype"], *seeds))
        keys = ("seed", "wall_s", "torch", "threads", "created")
        return [dict(zip(keys, row)) for row in cur.fetchall()]

    # ------------------------------------------------------------ runs

    def save_run(self, record: dict[str, Any]) -> int:
        """Store one run record; returns its run id."""
        env = record["env"]
        row = (record["atom"], record["preset"], record["params"], params_key(record["params"]),
               record["code_version"], record.get("device", env.get("device", "")),
               record.get("dtype", "float32"), json.dumps(record["seeds"]),
               record["verdict"]["status"], json.dumps(record["verdict"]),
               float(record["wall_s"]), float(record["computed_s"]), json.dumps(env),
               record["command"], _now(), json.dumps(record.get("cached_seeds", [])))
        return int(self._write(
            "INSERT INTO runs (atom, preset, params, params_key, code_version, device, dtype, "
            "seeds, status, verdict, wall_s, computed_s, env, command, created, cached_seeds) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [row]))

    def attach_config(self, run_id: int, config: dict[str, Any]) -> None:
        """Keep the study config a run came from in its record (`env["config"]`)."""
        self._write("UPDATE runs SET env = json_set(env, '$.config', json(?)) WHERE id = ?",
                    [(json.dumps(config), int(run_id))])

    def _runs(self, where: str = "", args: tuple = (), *, tolerant: bool = False
              ) -> list[dict[str, Any]]:
        """Decoded runs, each field of the type readers expect. A field that is not (bad JSON,
        NULL, a wrong type) is a StoreError naming the run, or with `tolerant` replaced by an
        empty value and named under the run's "damaged" list (store/damage.py)."""
        try:
            cur = self._conn.execute(
                f"SELECT {', '.join(RUN_COLUMNS)} FROM runs {where} ORDER BY id", args)
            rows = cur.fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read the runs of '{self.path}' ({exc}); the store is "
                             "damaged") from None
        out = []
        for row in rows:
            run, undecodable = dict(zip(RUN_COLUMNS, row)), {}
            run["canonical"] = run["params"] if isinstance(run["params"], str) else ""
            for key in ("params", *JSON_FIELDS):
                try:
                    run[key] = json.loads(run[key])
                except (TypeError, ValueError) as exc:
                    why = "it is NULL" if run[key] is None else " ".join(str(exc).split())
                    undecodable[key], run[key] = why, None
            run, problems = damage.repair(run, undecodable)
            if problems and not tolerant:
                raise StoreError(f"run {run['id']} ({run['atom']}) in '{self.path}': "
                                 f"{problems[0]}; the store is damaged") from None
            if tolerant:
                run["damaged"] = problems
            out.append(run)
        return out

    def latest_runs(self, *, tolerant: bool = False, scale: str = "verdict"
                    ) -> dict[str, dict[str, Any]]:
        """The run that stands for each atom, decoded (`tolerant`: see `_runs`): by default its
        latest full-scale run, a reduced one only when it has none (`scale`: standing.py)."""
        if scale == "all":
            raise ValueError("latest_runs gives one run per atom; use standing_runs for 'all'")
        if scale == "any":
            runs = self._runs("WHERE id IN (SELECT MAX(id) FROM runs GROUP BY atom)",
                              tolerant=tolerant)
        else:
            runs = standing.pick(self._runs(tolerant=tolerant), scale)
        return {r["atom"]: r for r in runs}

    def standing_runs(self, scale: str = "verdict", *, tolerant: bool = False
                      ) -> list[dict[str, Any]]:
        """The runs that stand for the atoms at `scale` (standing.py), oldest first."""
        return standing.pick(self._runs(tolerant=tolerant), scale)

    def runs(self, atom: str | None = None, *, tolerant: bool = False) -> list[dict[str, Any]]:
        """Every run (of `atom`, when given), oldest first, decoded; each has its `id`
        (`tolerant`: see `_runs`)."""
        if atom is not None:
            return self._runs("WHERE atom=?", (atom,), tolerant=tolerant)
        return self._runs(tolerant=tolerant)

    def run(self, run_id: int | str, *, tolerant: bool = False) -> dict[str, Any]:
        """The run with this id (StoreError when there is none, or the id is not one)."""
        found = self._runs("WHERE id=?", (check_run_id(run_id),), tolerant=tolerant)
        if not found:
            raise StoreError(f"no run with id {run_id!r} in '{self.path}'; `deepatoms history "
                             "NAME` lists the runs of an atom")
        return found[0]

    # ------------------------------------------------------------ probes

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

    # ------------------------------------------------------------ tables

    def run_table(self, run: dict[str, Any]) -> pd.DataFrame:
        """The tidy table of a run (every row its atom returned), rebuilt from its trials."""
        tables = self.load_trials(run["atom"], run["canonical"], run["code_version"],
                                  run["seeds"], run.get("device", "cpu"),
                                  run.get("dtype", "float32"))
        missing = [s for s in run["seeds"] if s not in tables]
        if missing or not run["seeds"]:
            what = f"readable trials for seeds {missing}" if missing else "seeds"
            raise StoreError(f"run {run.get('id')} ({run['atom']}): the store lacks {what}")
        import pandas as pd
        return pd.concat([tables[s] for s in run["seeds"]], ignore_index=True)
