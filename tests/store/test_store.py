"""The SQLite store: exact round trips, cache keys, transactions, crash/resume, two writers,
bad files and paths, export."""
from __future__ import annotations

import dataclasses
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deepatoms
from deepatoms import registry
from deepatoms.errors import StoreError
from deepatoms.execution.runner import execute
from deepatoms.store import DB_NAME, Store
from deepatoms.store.export import export_store

ATOM = "universal-approximation"
CRASH_STEPS = 2000  # ~0.4 s per seed on one core: a wide window between two commits
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "DEEPATOMS_TEST_THREADS": "1"}


def _table(seed: int = 0) -> pd.DataFrame:
    """A table with ints, exact floats (incl. NaN, ±inf, −0.0, subnormals), strings and bools."""
    return pd.DataFrame({
        "seed": [seed] * 8,
        "width": [1, 2, 3, 2**62, -7, 0, 10, 11],
        "metric": ["a", "b", "ü — ∑", 'quo"te', "comma,semi;", "", "new\nline", "x"],
        "value": [0.1, 1 / 3, math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308],
        "flag": [True, False, True, True, False, False, True, False],
    })


def _assert_bitwise_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b)
    for col in a.columns:
        if a[col].dtype == float:
            assert a[col].to_numpy().tobytes() == b[col].to_numpy().tobytes(), col


def test_table_round_trip_is_exact(tmp_path):
    store = Store(tmp_path)
    store.save_trials("x", "{}", "v1", {0: _table(0), 3: _table(3)}, 1.5, "cpu")
    again = Store(tmp_path)  # a fresh connection reads what the first committed
    back = again.load_trials("x", "{}", "v1", [0, 3])
    assert set(back) == {0, 3}
    _assert_bitwise_equal(back[3], _table(3))
    assert math.copysign(1.0, back[0]["value"][5]) == -1.0  # −0.0 kept


def test_cache_is_keyed_by_atom_params_seed_and_version(tmp_path):
    store = Store(tmp_path)
    store.save_trials("a", '{"k":1}', "v1", {0: _table(0)}, 1.0, "cpu")
    assert set(store.load_trials("a", '{"k":1}', "v1", [0, 1])) == {0}
    assert store.load_trials("b", '{"k":1}', "v1", [0]) == {}
    assert store.load_trials("a", '{"k":2}', "v1", [0]) == {}
    assert store.load_trials("a", '{"k":1}', "v2", [0]) == {}
    assert store.load_trials("a", '{"k":1}', "v1", [1]) == {}
    assert store.load_trials("a", '{"k":1}', "v1", []) == {}


def _run_elsewhere(p, lab):
    """The same computation under another module's source, so another code version."""
    return registry.get(ATOM).run(p, lab)


def test_api_cache_hits_and_misses(tmp_path):
    first = deepatoms.run(ATOM, preset="quick", seeds=2, device="cpu", store=tmp_path, steps=60)
    assert first.cached_seeds == ()
    again = deepatoms.run(ATOM, preset="quick", seeds=3, device="cpu", store=tmp_path, steps=60)
    assert again.cached_seeds == (0, 1)
    pd.testing.assert_frame_equal(again.table[again.table.seed < 2], first.table)
    other = deepatoms.run(ATOM, preset="quick", seeds=2, device="cpu", store=tmp_path, steps=61)
    assert other.cached_seeds == ()
    forced = deepatoms.run(ATOM, preset="quick", seeds=2, device="cpu", store=tmp_path, steps=60,
                           force=True)
    assert forced.cached_seeds == ()
    atom = registry.get(ATOM)
    edited = dataclasses.replace(atom, run=_run_elsewhere)
    assert edited.code_version != atom.code_version
    ex = execute(edited, atom.params("quick", steps=60), (0, 1), store=Store(tmp_path),
                 device="cpu")
    assert ex.cached_seeds == ()


def test_a_failed_write_leaves_nothing(tmp_path):
    store = Store(tmp_path)
    good = ("a", "k", "v", "cpu", "float32", 0, "{}", "{}", 1.0, "2", 1, "now")
    bad = ("a", "k", "v", "cpu", "float32", 1, "{}", None, 1.0, "2", 1, "now")  # rows NOT NULL
    with pytest.raises(sqlite3.IntegrityError):
        store._write("INSERT INTO trials VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", [good, bad])
    assert store._conn.execute("SELECT COUNT(*) FROM trials").fetchone() == (0,)
    store.save_trials("a", "{}", "v", {0: _table(0)}, 1.0, "cpu")  # the connection still works
    assert Store(tmp_path).load_trials("a", "{}", "v", [0])


# --- crash and resume ----------------------------------------------------------------------------

CRASH_SCRIPT = textwrap.dedent("""
    import sys, deepatoms
    deepatoms.run("universal-approximation", preset="quick", seeds=4, device="cpu",
                  store=sys.argv[1], seeds_per_batch=1, steps=int(sys.argv[2]))
""")


def _stored_trials(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    except sqlite3.OperationalError:  # file or table not created yet
        return 0


class _CountBatches:
    """Progress sink counting how many batches of seeds were computed."""

    def __init__(self) -> None:
        self.batches = 0

    def begin(self, description: str, total: int) -> None:
        self.batches += 1

    def advance(self, n: int) -> None:
        pass

    def end(self) -> None:
        pass


def test_killed_run_resumes_from_its_committed_trials(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, str(tmp_path), str(CRASH_STEPS)],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db, deadline = tmp_path / DB_NAME, time.monotonic() + 120
    try:
        while _stored_trials(db) < 1:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no trial committed within 120 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    stored = _stored_trials(db)
    assert 1 <= stored < 4, f"kill came too late ({stored} trials stored)"
    counter = _CountBatches()
    resumed = deepatoms.run(ATOM, preset="quick", seeds=4, device="cpu", store=tmp_path,
                            seeds_per_batch=1, steps=CRASH_STEPS, progress=counter)
    assert len(resumed.cached_seeds) == stored
    assert counter.batches == 4 - stored  # only the missing seeds were computed
    whole = deepatoms.run(ATOM, preset="quick", seeds=4, device="cpu", seeds_per_batch=1,
                          steps=CRASH_STEPS)
    pd.testing.assert_frame_equal(resumed.table, whole.table)
    assert resumed.verdict == whole.verdict


# --- two writers ---------------------------------------------------------------------------------

WRITER_SCRIPT = textwrap.dedent("""
    import sys, time, pathlib
    import pandas as pd
    import deepatoms
    from deepatoms.store import Store
    root, tag = pathlib.Path(sys.argv[1]), sys.argv[2]
    (root.parent / f"ready-{tag}").touch()
    while len(list(root.parent.glob("ready-*"))) < 2:
        time.sleep(0.005)
    store = Store(root)  # both open a fresh store at once
    for i in range(60):
        table = pd.DataFrame({"seed": [i], "metric": ["m"], "value": [float(i)]})
        store.save_trials("writer", tag, "v", {i: table}, 0.0, "cpu")
    deepatoms.run("universal-approximation", preset="quick", seeds=2, device="cpu", store=store,
                  seeds_per_batch=1, steps=40)
""")


def test_two_processes_write_one_store_at_once(tmp_path):
    root = tmp_path / "store"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(root), tag], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for tag in "AB"]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, results):
        assert p.returncode == 0, err.decode()
        assert b"locked" not in err
    store = Store(root)
    for tag in "AB":
        assert len(store.load_trials("writer", tag, "v", range(60))) == 60
    assert store._conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)
    assert list(store.latest_runs()) == [ATOM]


def test_opening_a_store_leaves_other_processes_files_alone(tmp_path):
    """The writability probe must be private: a shared probe name lets one process delete the
    other's probe mid-check (seen as a random StoreError when two runs open a new store)."""
    for name in (".write-test", "notes.txt"):
        (tmp_path / name).write_text("another process's file")
    Store(tmp_path)
    for name in (".write-test", "notes.txt"):
        assert (tmp_path / name).read_text() == "another process's file"


# --- bad files, bad paths, export ---------------------------------------------------------------

def test_corrupted_store_file_is_a_store_error(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not a database" * 200)
    with pytest.raises(StoreError, match="not a readable deepatoms database"):
        Store(tmp_path)


def test_unwritable_path_is_a_store_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot write the store"):
        Store(blocker / "results")


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    outcome = deepatoms.run(ATOM, preset="quick", seeds=2, device="cpu", store=root, steps=60)
    return Store(root), outcome.table


def test_export_csv_round_trips(stored_run, tmp_path):
    store, expected = stored_run
    back = pd.read_csv(export_store(store, tmp_path / "all.csv"))
    pd.testing.assert_frame_equal(back[list(expected.columns)], expected)
    assert np.array_equal(back.value.to_numpy(), expected.value.to_numpy())  # exact floats
    assert set(back.atom) == {ATOM} and back.run_id.nunique() == 1


def test_export_parquet_round_trips(stored_run, tmp_path):
    pytest.importorskip("pyarrow")
    store, expected = stored_run
    back = pd.read_parquet(export_store(store, tmp_path / "all.parquet"))[list(expected.columns)]
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    assert list(back.dtypes) == [expected[c].dtype if expected[c].dtype != object else back[c].dtype
                                 for c in expected.columns]
    assert np.array_equal(back.value.to_numpy(), expected.value.to_numpy())


def test_export_rejects_other_suffixes(stored_run, tmp_path):
    with pytest.raises(StoreError, match=".csv or .parquet"):
        export_store(stored_run[0], tmp_path / "all.xlsx")


def test_run_table_rebuilt_from_the_store(stored_run):
    store, expected = stored_run
    run = store.latest_runs()[ATOM]
    assert run["seeds"] == [0, 1] and run["verdict"]["status"] in ("reproduced", "not reproduced",
                                                                   "inconclusive")
    pd.testing.assert_frame_equal(store.run_table(run), expected)
