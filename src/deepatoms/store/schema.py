"""The store's schema: its versions, how a file is recognised, and the migrations between them.

A deepatoms store carries `PRAGMA application_id = APPLICATION_ID` and `PRAGMA user_version =`
its schema version. Version 1 (the first release) set neither; it is recognised by its tables.
`inspect` reads a file without writing it; anything it does not recognise — another
application's tables, a newer schema, a file that is not SQLite — is refused untouched.

    v1  trials keyed by (atom, params_key, code_version, seed); runs; probes
    v2  trials keyed also by device and dtype, recording torch version and threads; runs record
        device and dtype; a `meta` table (store id); application_id and user_version set
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Callable

from ..errors import StoreError

APPLICATION_ID = 0x64614154  # "daAT"
CURRENT = 2

V1_DDL = """
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

TRIALS_V2 = """
CREATE TABLE trials (
    atom TEXT NOT NULL, params_key TEXT NOT NULL, code_version TEXT NOT NULL,
    device TEXT NOT NULL, dtype TEXT NOT NULL, seed INTEGER NOT NULL,
    params TEXT NOT NULL, rows TEXT NOT NULL, wall_s REAL NOT NULL,
    torch TEXT, threads INTEGER, created TEXT NOT NULL,
    PRIMARY KEY (atom, params_key, code_version, device, dtype, seed))"""
META = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
RUNS_INDEX = "CREATE INDEX runs_by_atom ON runs (atom, id)"
TRIAL_COLUMNS = ("atom", "params_key", "code_version", "device", "dtype", "seed", "params",
                 "rows", "wall_s", "torch", "threads", "created")


def _columns_of(ddl: str) -> dict[str, tuple[str, ...]]:
    conn = sqlite3.connect(":memory:")
    conn.executescript(ddl)
    return tables(conn)


def tables(conn: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    """Every user table of the database and its column names."""
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    return {n: tuple(r[1] for r in conn.execute(f'PRAGMA table_info("{n}")')) for n in names}


def inspect(conn: sqlite3.Connection, where: str) -> int:
    """The schema version of the database behind `conn` (0: an empty file), reading only.
    Raises StoreError naming what the file is when it is not a store this code can use."""
    try:
        found = tables(conn)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        app = conn.execute("PRAGMA application_id").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the store file '{where}' is not a readable deepatoms database "
                         f"({exc}); move it away or pass another --store") from None
    if not found and version == 0 and app == 0:
        return 0
    if app == APPLICATION_ID and version > CURRENT:
        raise StoreError(f"the store '{where}' has schema v{version}, newer than this deepatoms "
                         f"reads (v{CURRENT}); upgrade deepatoms or pass another --store")
    if app == APPLICATION_ID and version == CURRENT and set(V2_TABLES) <= set(found):
        _check_columns(found, where)
        return CURRENT
    if app == 0 and version == 0 and _is_v1(found):
        return 1
    listed = ", ".join(sorted(found)) or "none"
    raise StoreError(f"the store file '{where}' is not a deepatoms store of a known schema "
                     f"(application id {app}, user_version {version}, tables: {listed}); it was "
                     "left untouched — move it away or pass another --store")


def _check_columns(found: dict[str, tuple[str, ...]], where: str) -> None:
    """StoreError unless each of the store's own tables has exactly the current columns (checked
    before any work: a run must not train and then fail to store its result)."""
    for name, wanted in current_columns().items():
        missing = [c for c in wanted if c not in found[name]]
        extra = [c for c in found[name] if c not in wanted]
        if missing or extra:
            what = "; ".join(part for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(extra)}" if extra else "") if part)
            raise StoreError(f"the store '{where}' is labelled schema v{CURRENT} but its "
                             f"{name} table has other columns ({what}); it was left untouched "
                             "— move it away or pass another --store")


def current_columns() -> dict[str, tuple[str, ...]]:
    """The columns of each table of a store created by this code (computed once)."""
    if not _CURRENT_COLUMNS:
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.execute("BEGIN")
        create(conn, "x")
        conn.execute("COMMIT")
        _CURRENT_COLUMNS.update(tables(conn))
        conn.close()
    return _CURRENT_COLUMNS


_CURRENT_COLUMNS: dict[str, tuple[str, ...]] = {}


def _is_v1(found: dict[str, tuple[str, ...]]) -> bool:
    wanted = {k: v for k, v in V1_TABLES.items() if k != "probes"}
    optional = {"probes": V1_TABLES["probes"]}
    extra = {k: v for k, v in found.items() if k not in wanted}
    return (all(found.get(k) == v for k, v in wanted.items())
            and all(optional.get(k) == v for k, v in extra.items()))


def create(conn: sqlite3.Connection, store_id: str | None = None) -> None:
    """The current schema in an empty database (inside the caller's transaction)."""
    conn.execute(TRIALS_V2)
    for statement in V1_DDL.split(";"):
        if "TABLE IF NOT EXISTS trials" not in statement and statement.strip():
            conn.execute(statement)
    _add_run_columns(conn)
    _finish_v2(conn, store_id)


def _add_run_columns(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE runs ADD COLUMN device TEXT NOT NULL DEFAULT ''")
    conn.execute("ALTER TABLE runs ADD COLUMN dtype TEXT NOT NULL DEFAULT 'float32'")


def _finish_v2(conn: sqlite3.Connection, store_id: str | None = None) -> None:
    conn.execute(META)
    conn.execute(RUNS_INDEX)
    conn.execute("INSERT INTO meta VALUES ('store_id', ?)", (store_id or uuid.uuid4().hex,))
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {CURRENT}")


def migrate_1_to_2(conn: sqlite3.Connection, store_id: str | None = None) -> None:
    """v1 → v2 inside the caller's transaction: trials gain device and dtype in their key (v1
    computed in float32 only) and torch/threads (unknown: NULL); runs gain device (from their
    recorded environment) and dtype."""
    conn.execute("ALTER TABLE trials RENAME TO trials_v1")
    conn.execute(TRIALS_V2)
    conn.execute(f"INSERT INTO trials ({', '.join(TRIAL_COLUMNS)}) SELECT atom, params_key, "
                 "code_version, device, 'float32', seed, params, rows, wall_s, NULL, NULL, "
                 "created FROM trials_v1")
    conn.execute("DROP TABLE trials_v1")
    conn.execute(V1_DDL.split(";")[2])  # probes, where a v1 file predates them
    _add_run_columns(conn)
    for run_id, env in conn.execute("SELECT id, env FROM runs").fetchall():
        conn.execute("UPDATE runs SET device=? WHERE id=?", (_env_device(env), run_id))
    _finish_v2(conn, store_id)


def _env_device(env: str) -> str:
    try:
        return str(json.loads(env).get("device", ""))
    except (ValueError, AttributeError):
        return ""


MIGRATIONS: dict[int, Callable[..., None]] = {1: migrate_1_to_2}


def upgrade(conn: sqlite3.Connection, version: int, store_id: str | None = None) -> None:
    """Bring a database at `version` (0: empty) to CURRENT, inside the caller's transaction
    (`store_id`: the id a new meta table gets; default a random one)."""
    if version == 0:
        create(conn, store_id)
        return
    while version < CURRENT:
        MIGRATIONS[version](conn, store_id)
        version += 1


V1_TABLES = _columns_of(V1_DDL)
V2_TABLES = ("trials", "runs", "probes", "meta")
