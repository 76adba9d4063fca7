"""Where `export --mlflow URI` writes: the URI checked, the tracking store opened and the
experiment found or created, before anything is exported; every way this can fail is one
StoreError line.

Accepted: `sqlite:///PATH` (MLflow's SQL store, the backend MLflow 3 recommends), `http://` or
`https://` (a tracking server: reached within a few seconds or refused), `file:` or a plain
directory (MLflow's local file store, in maintenance mode in MLflow 3: this sets
`MLFLOW_ALLOW_FILE_STORE=true` when unset), and the other SQL stores MLflow knows
(`postgresql:`, `mysql:`, `mssql:`).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..errors import MissingDependencyError, StoreError

EXPERIMENT = "deepatoms"
SCHEMES = ("sqlite", "http", "https", "file", "postgresql", "mysql", "mssql")
REACH_S = 5.0             # how long the tracking server has to answer /health
HTTP_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
            "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}  # library code prints nothing


@dataclasses.dataclass(frozen=True)
class Target:
    uri: str
    experiment: str
    experiment_id: str
    client: Any


def load_mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise MissingDependencyError("MLflow export needs mlflow: pip install "
                                     "'deepatoms[mlflow]'") from None
    return mlflow


def tracking_uri(uri: str) -> str:
    """A URI MLflow understands: a plain path becomes a file: URI (the local file store); an
    unknown scheme is a StoreError."""
    text = str(uri).strip()
    if not text:
        raise StoreError("--mlflow needs a tracking URI or a directory, got an empty value")
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", text) or re.match(r"^[A-Za-z]:[\\/]", text):
        return Path(text).expanduser().resolve().as_uri()
    scheme = text.split(":", 1)[0].lower().split("+", 1)[0]
    if scheme not in SCHEMES:
        raise StoreError(f"--mlflow: unsupported tracking URI scheme '{scheme}:' in '{text}'; "
                         "use sqlite:///PATH.db, http://HOST:PORT, or a directory")
    return text


def check_experiment(name: str) -> str:
    if not str(name).strip():
        raise StoreError("--experiment needs a name, got an empty value")
    return str(name).strip()


def _writable_dir(folder: Path, what: str) -> None:
    """`folder` is (or can become) a writable directory."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise StoreError(f"--mlflow: '{probe}' is a file, not a directory ({what})")
    if not os.access(probe, os.W_OK | os.X_OK) or str(probe.resolve()).startswith(
            ("/proc", "/sys")):
        raise StoreError(f"--mlflow: cannot write in '{probe}' ({what})")


def _check_sqlite(uri: str) -> None:
    path_text = uri.split(":///", 1)[1] if ":///" in uri else ""
    if not path_text or path_text.startswith(":memory:"):
        raise StoreError(f"--mlflow: '{uri}' names no database file; use sqlite:///PATH.db "
                         "(an in-memory store would lose the runs)")
    path = Path(unquote(path_text.split("?", 1)[0]))
    if path.exists():
        if not path.is_file():
            raise StoreError(f"--mlflow: '{path}' is not a file (from '{uri}')")
        _check_mlflow_database(path)
    if not path.parent.is_dir():
        raise StoreError(f"--mlflow: directory '{path.parent}' of '{uri}' does not exist")
    _writable_dir(path.parent.resolve(), f"the database of '{uri}'")


def _check_mlflow_database(path: Path) -> None:
    """An existing file must be empty or an MLflow SQLite store (not some other database)."""
    if path.stat().st_size == 0:
        return
    try:
        with sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"--mlflow: '{path}' is not an SQLite database ({exc})") from None
    if tables and "alembic_version" not in tables:
        raise StoreError(f"--mlflow: '{path}' is an SQLite database but not an MLflow store; "
                         "name a new file")


def _check_file_store(uri: str) -> None:
    path = Path(unquote(urlparse(uri).path))
    if path.exists() and not path.is_dir():
        raise StoreError(f"--mlflow: '{path}' is a file, not a directory (MLflow's file store "
                         "is a directory)")
    _writable_dir(path, "MLflow's file store")
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def _check_server(uri: str) -> None:
    """The tracking server answers /health within REACH_S seconds."""
    for key, value in HTTP_ENV.items():
        os.environ.setdefault(key, value)
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=REACH_S):
            pass
    except urllib.error.HTTPError:
        return  # it answers; the API calls below say what is wrong, if anything
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StoreError(f"--mlflow: cannot reach the MLflow tracking server at '{uri}' "
                         f"({reason})") from None


def _artifact_location(uri: str) -> "str | None":
    """For `sqlite:///PATH.db`, PATH-artifacts/ beside the database (MLflow's default for a SQL
    store is ./mlruns in whatever directory the export runs from); else MLflow's default."""
    if not uri.lower().startswith("sqlite:") or ":///" not in uri:
        return None
    path = Path(unquote(uri.split(":///", 1)[1].split("?", 1)[0])).resolve()
    return (path.parent / f"{path.stem}-artifacts").as_uri()


def short(exc: BaseException) -> str:
    """The first line of an exception's message, at most 300 characters."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def open_target(uri: str, experiment: str = EXPERIMENT) -> Target:
    """The checked tracking store at `uri` with `experiment` found (or created)."""
    mlflow = load_mlflow()
    name = check_experiment(experiment)
    resolved = tracking_uri(uri)
    scheme = resolved.split(":", 1)[0].lower()
    checks = {"sqlite": _check_sqlite, "file": _check_file_store, "http": _check_server,
              "https": _check_server}
    checks.get(scheme, lambda _: None)(resolved)
    for logger in ("alembic", "mlflow.store.db.utils"):  # the SQL store's migration chatter
        logging.getLogger(logger).setLevel(logging.WARNING)
    try:
        client = mlflow.tracking.MlflowClient(tracking_uri=resolved)
        found = client.get_experiment_by_name(name)
        if found is not None and found.lifecycle_stage != "active":
            raise StoreError(f"--mlflow: experiment '{name}' at '{resolved}' is deleted; "
                             "restore it or pass another --experiment")
        experiment_id = found.experiment_id if found else client.create_experiment(
            name, artifact_location=_artifact_location(resolved))
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"--mlflow: cannot use the MLflow tracking store '{resolved}' "
                         f"({type(exc).__name__}: {short(exc)})") from None
    return Target(resolved, name, experiment_id, client)
