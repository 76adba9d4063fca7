"""The store's schema and migration, foreign and read-only files, trials keyed by device and dtype,
measurements vs figure data, run history and diff, export (CSV, MLflow) and the store commands."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
import pandas as pd
import pytest

import deepatoms
from deepatoms import code_version
from deepatoms import registry
from deepatoms.execution import runner
from deepatoms.store import schema
from deepatoms.errors import StoreError
from deepatoms.store.database import DB_NAME, Store, _encode_rows, params_key
from deepatoms.store.export import export_store

from ..common import cli, one_error_line


ATOM = "universal-approximation"


FAST = dict(preset="quick", device="cpu", steps=60)


IMBALANCE = "class-imbalance"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sidecars(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


# ---------------------------------------------------------------- schema versions
def _v1_store(root: Path) -> Path:
    """A store as the first release wrote it: v1 DDL, one trial, one run (no user_version)."""
    root.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(root / DB_NAME)
    conn.executescript(schema.V1_DDL)
    table = pd.DataFrame({"seed": [3, 3], "metric": ["m", "n"], "value": [0.25, 1.5]})
    conn.execute("INSERT INTO trials VALUES (?,?,?,?,?,?,?,?,?)",
                 ("x", params_key("{}"), "0.0.9+old", 3, "{}", _encode_rows(table), 1.0, "cuda:0", "t0"))
    verdict = {"status": "inconclusive", "finding": "f", "evidence": []}
    conn.execute("INSERT INTO runs (atom, preset, params, params_key, code_version, seeds, status, "
                 "verdict, wall_s, computed_s, env, command, created) VALUES "
                 "(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                 ("x", "quick", "{}", params_key("{}"), "0.0.9+old", "[3]", "inconclusive",
                  json.dumps(verdict), 1.0, 1.0, json.dumps({"device": "cuda:0"}), "cmd", "t1"))
    conn.commit()
    conn.close()
    return root / DB_NAME


def _pragmas(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as conn:
        return (conn.execute("PRAGMA application_id").fetchone()[0],
                conn.execute("PRAGMA user_version").fetchone()[0])


def test_a_new_store_has_the_current_schema(tmp_path):
    Store(tmp_path).close()
    assert _pragmas(tmp_path / DB_NAME) == (schema.APPLICATION_ID, schema.CURRENT)
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        assert set(schema.V2_TABLES) <= set(schema.tables(conn))


def test_a_v1_store_is_migrated_and_keeps_its_runs(tmp_path):
    db = _v1_store(tmp_path / "old")
    store = Store(tmp_path / "old")
    assert _pragmas(db) == (schema.APPLICATION_ID, schema.CURRENT)
    run = store.latest_runs()["x"]
    assert (run["id"], run["device"], run["dtype"], run["seeds"]) == (1, "cuda:0", "float32", [3])
    assert store.run_table(run).value.tolist() == [0.25, 1.5]
    assert store.trial_records(run)[0]["torch"] is None  # not recorded by v1: unknown, not made up
    Store(tmp_path / "new").close()  # the migrated file has exactly a new store's layout
    with sqlite3.connect(db) as a, sqlite3.connect(tmp_path / "new" / DB_NAME) as b:
        assert schema.tables(a) == schema.tables(b)


def test_a_v1_store_opened_read_only_is_upgraded_in_memory_only(tmp_path):
    db = _v1_store(tmp_path)
    before = _digest(db)
    store = Store(tmp_path, readonly=True)
    assert store.runs("x")[0]["device"] == "cuda:0"
    assert store.store_id == Store(tmp_path, readonly=True).store_id  # stable across opens
    with pytest.raises(StoreError, match="read-only"):
        store.save_probe("x", "k", "quick", {})
    assert _digest(db) == before and _pragmas(db) == (0, 0)


def _foreign(kind: str, db: Path) -> None:
    if kind == "not sqlite":
        db.write_bytes(b"PK\x03\x04 certainly not a database " * 100)
        return
    conn = sqlite3.connect(db)
    if kind == "another application":
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users VALUES (1, 'ada')")
    elif kind == "newer schema":
        conn.execute("CREATE TABLE trials (x)")
        conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {schema.CURRENT + 1}")
    elif kind == "older unknown layout":  # v1's tables, but runs lacks a column
        conn.executescript(schema.V1_DDL.replace(",\n    cached_seeds TEXT NOT NULL DEFAULT '[]'", ""))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("kind,message", [
    ("not sqlite", "not a readable deepatoms database"),
    ("another application", "not a deepatoms store of a known schema"),
    ("newer schema", "newer than this deepatoms reads"),
    ("older unknown layout", "not a deepatoms store of a known schema")])
def test_a_foreign_file_is_refused_untouched(tmp_path, kind, message):
    db = tmp_path / DB_NAME
    _foreign(kind, db)
    before, header = _digest(db), db.read_bytes()[18:20]
    for readonly in (False, True):
        with pytest.raises(StoreError, match=message):
            Store(tmp_path, readonly=readonly)
    for args in (["run", ATOM, "--preset", "quick", "--seeds", "1", "--set", "steps=5"],
                 ["list"], ["history", ATOM], ["export", str(tmp_path / "x.csv")]):
        one_error_line(cli(*args, "--store", str(tmp_path)), message)
    assert _digest(db) == before and db.read_bytes()[18:20] == header  # not switched to WAL
    assert not (tmp_path / "x.csv").exists()


# ---------------------------------------------------------------- read-only stores
@pytest.fixture
def make_readonly():
    """Make a path unwritable: chattr +i where we may (root included), else chmod; undone at
    teardown. Skips where neither can stop this process from writing."""
    done: list[tuple[Path, str]] = []

    def apply(path: Path) -> None:
        if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(path)],
                                                     capture_output=True).returncode == 0:
            done.append((path, "chattr"))
        elif os.geteuid() != 0:
            path.chmod(0o555 if path.is_dir() else 0o444)
            done.append((path, "chmod"))
        else:
            pytest.skip("running as root without chattr: cannot make a file read-only")

    yield apply
    for path, how in reversed(done):
        if how == "chattr":
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("two-runs")
    deepatoms.run(ATOM, seeds=2, store=root, **FAST)
    deepatoms.run(ATOM, seeds=[100, 101], store=root, **{**FAST, "steps": 80})
    deepatoms.run(IMBALANCE, preset="quick", seeds=2, device="cpu", store=root)
    return root


def test_a_read_only_file_is_found_before_training(tmp_path, make_readonly, monkeypatch):
    deepatoms.run(ATOM, seeds=1, store=tmp_path, **FAST)
    make_readonly(tmp_path / DB_NAME)
    before = _digest(tmp_path / DB_NAME)
    trained = []
    monkeypatch.setattr(runner, "Lab", lambda *a, **k: trained.append(1) or pytest.fail("trained"))
    with pytest.raises(StoreError, match="cannot write the store"):
        deepatoms.run(ATOM, seeds=3, store=tmp_path, **FAST)
    one_error_line(cli("run", ATOM, "--preset", "quick", "--seeds", "3", "--set", "steps=60",
                         "--device", "cpu", "--store", str(tmp_path)), "cannot write the store")
    assert trained == [] and _digest(tmp_path / DB_NAME) == before


def test_a_read_only_directory_is_found_before_training(tmp_path, make_readonly):
    root = tmp_path / "results"
    root.mkdir()
    make_readonly(root)
    with pytest.raises(StoreError, match="cannot write the store"):
        deepatoms.run(ATOM, seeds=1, store=root, **FAST)
    assert not (root / DB_NAME).exists()


def test_list_export_report_history_work_on_a_read_only_store(two_runs, tmp_path,
                                                              make_readonly):
    root = tmp_path / "ro"
    shutil.copytree(two_runs, root)
    with sqlite3.connect(root / DB_NAME) as conn:  # a cleanly closed store: no -wal, no -shm
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert not [n for n in _sidecars(root / DB_NAME) if n.startswith(DB_NAME)]
    before = _digest(root / DB_NAME)
    make_readonly(root / DB_NAME)
    make_readonly(root)
    out = tmp_path / "out"
    out.mkdir()
    for args in (["list"], ["history", ATOM], ["diff", "1", "2"],
                 ["export", str(out / "all.csv")], ["report", "--out", str(out / "site")]):
        result = cli(*args, "--store", str(root))
        assert result.exit_code == 0, (args, result.output)
    assert (out / "site" / "index.html").is_file() and (out / "all.csv").is_file()
    assert _digest(root / DB_NAME) == before


# ---------------------------------------------------------------- trial key and code version
def test_trials_are_keyed_by_device_and_dtype(tmp_path):
    store = Store(tmp_path)
    table = pd.DataFrame({"seed": [0], "metric": ["m"], "value": [1.0]})
    store.save_trials("a", "{}", "v", {0: table}, 1.0, "cuda:0", "float32", "2.13.0", 4)
    assert store.load_trials("a", "{}", "v", [0], "cpu", "float32") == {}
    assert store.load_trials("a", "{}", "v", [0], "cuda:0", "float64") == {}
    assert set(store.load_trials("a", "{}", "v", [0], "cuda:0", "float32")) == {0}


def test_a_gpu_trial_is_not_reused_by_a_cpu_run(tmp_path, monkeypatch):
    import dataclasses
    from deepatoms.execution import executors
    monkeypatch.setattr(runner, "device_key", lambda device: "cuda:0")
    on_cpu = executors.run_trial  # a trial keyed cuda:0, computed here on the CPU
    monkeypatch.setattr(executors, "run_trial", lambda trial, *a, **k: on_cpu(
        dataclasses.replace(trial, device="cpu"), *a, **k))
    first = deepatoms.run(ATOM, seeds=2, store=tmp_path, **FAST)
    monkeypatch.undo()
    again = deepatoms.run(ATOM, seeds=2, store=tmp_path, **FAST)
    assert first.cached_seeds == () and again.cached_seeds == ()
    store = Store(tmp_path, readonly=True)
    devices = [r["device"] for r in store.runs(ATOM)]
    assert devices == ["cuda:0", "cpu"]
    records = store.trial_records(store.runs(ATOM)[1])
    assert {(r["torch"], r["threads"]) for r in records} == {
        (runner.torch.__version__, runner.torch.get_num_threads())}


# ---------------------------------------------------------------- measurements vs figure data
def test_measurements_and_figure_data_are_separate(two_runs, tmp_path):
    shutil.copytree(two_runs, tmp_path / "copy")  # its cached trials; the shared store stays as is
    out = deepatoms.run(IMBALANCE, preset="quick", seeds=2, device="cpu", store=tmp_path / "copy")
    atom = registry.get(IMBALANCE)
    assert out.cached_seeds == (0, 1)
    assert set(out.figure_data.metric) == {"grid_p1", "train_point", "test_point"}
    assert not set(out.table.metric) & set(atom.figure_metrics)
    assert (out.table.metric == "test_accuracy").sum() == 2 * 3 * 2  # seeds × ratios × variants
    assert len(out.table) + len(out.figure_data) == len(out.rows) > 10 * len(out.table)
    assert atom.judge(out.table).to_dict() == atom.judge(out.rows).to_dict()
    assert set(out.figures()) == {"accuracy-vs-ratio", "decision-boundaries"}


# ---------------------------------------------------------------- history and diff
def test_every_run_is_in_the_history(two_runs):
    history = deepatoms.history(ATOM, store=two_runs)
    assert history.id.tolist() == [1, 2]
    assert [list(s) for s in history.seeds] == [[0, 1], [100, 101]]
    assert set(history.device) == {"cpu"} and set(history.preset) == {"quick"}
    result = cli("history", ATOM, "--store", str(two_runs))
    assert result.exit_code == 0 and "100,101" in result.stdout, result.output
    one_error_line(cli("history", "parity", "--store", str(two_runs)), "no runs of 'parity'")


def test_diff_shows_two_runs_side_by_side(two_runs):
    diff = deepatoms.diff(1, 2, store=two_runs)
    assert [r["id"] for r in diff["runs"]] == [1, 2]
    assert diff["params"] == [{"name": "steps", "a": 60, "b": 80}]
    store = Store(two_runs, readonly=True)
    stored = [store.run(i)["verdict"]["evidence"] for i in (1, 2)]
    assert len(diff["evidence"]) == len(stored[0])
    first = diff["evidence"][0]
    assert first["delta"] == pytest.approx(stored[1][0]["estimate"] - stored[0][0]["estimate"])
    assert {n["metric"] for n in diff["numbers"]} == {"train_mse", "prediction"}  # no curves
    result = cli("diff", "1", "2", "--store", str(two_runs))
    assert result.exit_code == 0 and "run 1 vs run 2" in result.stdout, result.output
    one_error_line(cli("diff", "1", "99", "--store", str(two_runs)), "no run with id '99'")


# ---------------------------------------------------------------- export
def test_export_keeps_integers_and_adds_run_metadata(two_runs, tmp_path):
    pytest.importorskip("pyarrow")
    store = Store(two_runs, readonly=True)
    table = pd.read_parquet(export_store(store, tmp_path / "all.parquet", all_runs=True))
    assert sorted(table.run_id.unique()) == [1, 2, 3]
    assert str(table.seed.dtype) == "int64" and str(table.hidden_units.dtype) == "Int64"
    assert str(table.ratio.dtype) == "Int64" and table.ratio.isna().any()  # only imbalance has it
    assert table.value.dtype == float
    run = store.run(3)
    rows = table[table.run_id == 3]
    assert set(rows.metric).isdisjoint(registry.get(IMBALANCE).figure_metrics)
    assert json.loads(rows.params.iloc[0]) == run["params"]
    assert set(rows.code_version) == {run["code_version"]} and set(rows.created) == {run["created"]}
    latest = pd.read_csv(export_store(store, tmp_path / "latest.csv"), dtype=str)
    assert sorted(latest.run_id.unique()) == ["2", "3"]
    for column in ("seed", "ratio", "hidden_units"):  # written as 1, not 1.0
        assert not latest[column].dropna().str.contains(".", regex=False).any(), column


def test_export_with_figure_data_has_a_kind_column(two_runs, tmp_path):
    store = Store(two_runs, readonly=True)
    table = pd.read_csv(export_store(store, tmp_path / "f.csv", figure_data=True))
    imbalance = table[table.atom == IMBALANCE]
    assert set(imbalance[imbalance.kind == "figure"].metric) == {"grid_p1", "train_point",
                                                                  "test_point"}
    assert (imbalance[imbalance.kind == "measurement"].metric == "test_accuracy").sum() == 12


# ---------------------------------------------------------------- MLflow
def test_mlflow_export_read_back_with_search_runs(two_runs, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    from deepatoms.store.mlflow import export_mlflow
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = Store(two_runs, readonly=True)
    done = export_mlflow(store, str(tmp_path / "mlruns"), store.runs())
    assert (done["exported"], done["skipped"], done["seed_runs"]) == (3, 0, 6)
    again = cli("export", "--mlflow", str(tmp_path / "mlruns"), "--all-runs",
                 "--store", str(two_runs))
    assert again.exit_code == 0 and "0 run(s) logged with 0 seed run(s), 3 already there" in again.stdout
    client = mlflow.tracking.MlflowClient(tracking_uri=done["uri"])
    mlflow.set_tracking_uri(done["uri"])
    try:
        found = mlflow.search_runs(experiment_ids=[done["experiment_id"]])
    finally:
        mlflow.set_tracking_uri(None)
    assert len(found) == 9  # 3 runs, each with a child run per seed (2)
    row = found[(found["tags.deepatoms.run_id"] == "3")
                & found["tags.mlflow.parentRunId"].isna()].iloc[0]
    run = store.run(3)
    assert row["tags.verdict.status"] == run["verdict"]["status"]
    assert row["params.steps"] == str(run["params"]["steps"]) and row["params.device"] == "cpu"
    assert row["metrics.wall_s"] == pytest.approx(run["wall_s"])
    evidence = run["verdict"]["evidence"][0]
    assert row["metrics.ev00"] == pytest.approx(evidence["estimate"])
    artifacts = [a.path for a in client.list_artifacts(row["run_id"], "figures")]
    assert artifacts == ["figures/00-accuracy-vs-ratio.png", "figures/01-decision-boundaries.png"]


def test_mlflow_missing_is_one_line(two_runs, tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    result = cli("export", "--mlflow", str(tmp_path / "mlruns"), "--store", str(two_runs))
    one_error_line(result, "MLflow export needs mlflow")
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize("command", ["history", "diff", "export"])
def test_store_commands_have_help(command):
    result = cli(command, "--help")
    assert result.exit_code == 0 and "Usage" in result.stdout, result.output
    assert "--store" in result.stdout and len(result.stdout.split()) > 25


def test_export_needs_a_file_or_mlflow(two_runs):
    one_error_line(cli("export", "--store", str(two_runs)), "an output file")
