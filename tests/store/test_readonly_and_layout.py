"""A store in a read-only directory is read by every reading command, and a store whose tables
are not the current layout is refused before anything trains.

Tests run as root, where chmod does not stop writes: the read-only commands run in a child
process without the capabilities that let root write anywhere (CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH dropped from its bounding set before exec), so the directory's mode bits
hold for it as for any user. The child first proves it cannot write there, else the test skips.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import deepatoms
from deepatoms.cli.entry import main as cli_main
from deepatoms.errors import StoreError
from deepatoms.execution import runner
from deepatoms.store import DB_NAME, Store

ATOM = "layer-convergence"
FAST = dict(preset="quick", seeds=1, steps=24, record_every=2)
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("base")
    deepatoms.run(ATOM, store=root, **FAST)
    return root


def _copy(base: Path, root: Path) -> Path:
    """A copy of the store, cleanly closed (no -wal, no -shm), as every command leaves it."""
    shutil.copytree(base, root)
    conn = sqlite3.connect(root / DB_NAME)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()  # the last connection: SQLite removes the -wal and -shm files
    return root


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _without_root_powers() -> None:
    """In the child before exec: drop the capabilities that bypass file permissions (fails
    harmlessly where the process has none)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)


CHILD = """
import json, sys, tempfile
from deepatoms.cli.entry import main
root, out = sys.argv[1], sys.argv[2]
try:
    tempfile.TemporaryFile(dir=root).close()
    print(json.dumps("writable")); sys.exit()
except OSError:
    pass
codes = {}
for args in (["list"], ["history", "layer-convergence"], ["diff", "1", "1"],
             ["export", out + "/all.csv"], ["report", "--out", out + "/site"],
             ["run", "layer-convergence", "--preset", "quick", "--seeds", "1", "--set", "steps=24",
              "--set", "record_every=2", "--dry-run"]):
    codes[args[0] + (" --dry-run" if "--dry-run" in args else "")] = main([*args, "--store", root])
print(json.dumps(codes))
"""


@pytest.mark.parametrize("sidecars", [False, True], ids=["closed", "with-sidecars"])
def test_reading_commands_work_on_a_read_only_directory(base, tmp_path, sidecars):
    """`sidecars`: another process holds the store open meanwhile (its -wal and -shm exist)."""
    root, out = _copy(base, tmp_path / "ro"), tmp_path / "out"
    reader = sqlite3.connect(root / DB_NAME)
    assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    if not sidecars:
        reader.close()
    files = sorted(p.name for p in root.iterdir())
    assert (f"{DB_NAME}-shm" in files) == sidecars
    out.mkdir()
    out.chmod(0o777)
    before = _digest(root / DB_NAME)
    (root / DB_NAME).chmod(0o444)
    root.chmod(0o555)
    try:
        env = {**os.environ, "PYTHONPATH": str(Path(deepatoms.__file__).parents[1]),
               "OMP_NUM_THREADS": "1"}
        env.pop("DEEPATOMS_STORE", None)
        proc = subprocess.run([sys.executable, "-c", CHILD, str(root), str(out)], env=env,
                              capture_output=True, text=True, timeout=600,
                              preexec_fn=_without_root_powers)
    finally:
        root.chmod(0o755)
        reader.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    codes = json.loads(proc.stdout.strip().splitlines()[-1])
    if codes == "writable":
        pytest.skip("this process can write a mode-555 directory even without its capabilities")
    assert codes == {"list": 0, "history": 0, "diff": 0, "export": 0, "report": 0,
                     "run --dry-run": 0}, proc.stderr[-2000:]
    assert "readonly database" not in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "all.csv").is_file() and (out / "site" / "index.html").is_file()
    assert _digest(root / DB_NAME) == before
    assert not any(p.name not in files and not p.name.endswith("-shm") and
                   not p.name.endswith("-wal") for p in root.iterdir())


def test_a_readonly_error_retries_as_immutable(base, tmp_path, monkeypatch):
    """The same path without a second process: the first (mode=ro) connection fails as SQLite
    does in a directory it may not write; the store is then read through immutable=1."""
    root = _copy(base, tmp_path / "s")
    real, tried = sqlite3.connect, []

    class Refusing:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, *args):
            raise sqlite3.OperationalError("attempt to write a readonly database")

        def close(self):
            self.conn.close()

    def connect(target, *args, **kwargs):
        tried.append(str(target))
        conn = real(target, *args, **kwargs)
        return Refusing(conn) if "mode=ro" in str(target) and "immutable" not in str(target) \
            else conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    with Store(root, readonly=True) as st:
        assert [r["id"] for r in st.runs()] == [1]
    assert "mode=ro" in tried[0] and "immutable=1" in tried[1]


def test_an_immutable_open_refuses_changes_it_cannot_see(base, tmp_path, monkeypatch):
    root = _copy(base, tmp_path / "s")
    (root / f"{DB_NAME}-wal").write_bytes(b"x" * 100)  # stands for unmerged changes
    monkeypatch.setattr(Store, "_connect_ro", lambda self: self._check_no_pending_wal())
    with pytest.raises(StoreError, match="changes are still in"):
        Store(root, readonly=True)


# ---------------------------------------------------------------- the layout, before any work

def _altered(base: Path, tmp_path: Path, sql: str) -> Path:
    root = _copy(base, tmp_path / "store")
    conn = sqlite3.connect(root / DB_NAME, isolation_level=None)
    conn.executescript(sql)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return root


LAYOUTS = [
    ("runs-without-cached-seeds", "ALTER TABLE runs DROP COLUMN cached_seeds", "missing cached_seeds"),
    ("runs-with-an-extra-column", "ALTER TABLE runs ADD COLUMN x TEXT", "unknown x"),
    ("another-trials-table", "DROP TABLE trials; CREATE TABLE trials (x, y)", "trials table"),
    ("another-probes-table", "DROP TABLE probes; CREATE TABLE probes (id, atom)", "probes table"),
    ("another-meta-table", "DROP TABLE meta; CREATE TABLE meta (k)", "meta table"),
]


@pytest.mark.parametrize("sql, named", [c[1:] for c in LAYOUTS], ids=[c[0] for c in LAYOUTS])
def test_a_wrong_layout_is_refused_before_training(base, tmp_path, capsys, monkeypatch, sql, named):
    root = _altered(base, tmp_path, sql)
    before = _digest(root / DB_NAME)
    monkeypatch.setattr(runner, "Lab", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(StoreError, match=named):
        Store(root)
    with pytest.raises(StoreError, match=named):
        Store(root, readonly=True)
    for args in (["run", ATOM, "--preset", "quick", "--seeds", "2"],
                 ["probe", ATOM, "--vary", "steps=200,220", "--preset", "quick", "--seeds", "2"],
                 ["history", ATOM]):
        code = cli_main([*args, "--store", str(root)])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
        assert named in err
    assert _digest(root / DB_NAME) == before


@pytest.mark.parametrize("make", ["directory", "dangling-link"])
def test_something_else_in_the_database_files_place_is_one_line(tmp_path, capsys, make):
    root = tmp_path / "S"
    root.mkdir()
    if make == "directory":
        (root / DB_NAME).mkdir()
    else:
        (root / DB_NAME).symlink_to(tmp_path / "nowhere")
    for args in (["run", ATOM, "--preset", "quick", "--seeds", "2"], ["history", ATOM],
                 ["run", ATOM, "--preset", "quick", "--seeds", "2", "--dry-run"],
                 ["probe", ATOM, "--vary", "steps=200,220", "--preset", "quick", "--seeds", "2"]):
        code = cli_main([*args, "--store", str(root)])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert os.listdir(root) == [DB_NAME] and not (tmp_path / "nowhere").exists()
