"""`deepatoms export --mlflow`: into a real SQLite store and a live tracking server (started and
stopped here), read back with `mlflow.search_runs`; failed exports; bad targets as one line."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import deepatoms
from deepatoms.errors import StoreError
from deepatoms.store import Store

from ..common import cli, one_error_line

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")

UA, LC = "universal-approximation", "layer-convergence"


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory) -> Path:
    """Two runs of universal-approximation (different seeds and steps), one of
    layer-convergence: 3 parent runs, 6 seed runs."""
    root = tmp_path_factory.mktemp("mlflow-runs")
    fast = dict(preset="quick", device="cpu", store=root)
    deepatoms.run(UA, seeds=2, steps=60, **fast)
    deepatoms.run(UA, seeds=[100, 101], steps=80, **fast)
    deepatoms.run(LC, seeds=2, **fast)
    return root


def _search(uri: str):
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.search_runs(experiment_names=["deepatoms"])
    finally:
        mlflow.set_tracking_uri(None)


def _check_side_by_side(uri: str, store_root: Path) -> None:
    """3 parents, a child per seed, the same keys across the runs of an atom, step curves."""
    found = _search(uri)
    assert len(found) == 9 and set(found["status"]) == {"FINISHED"}
    parents = found[found["tags.mlflow.parentRunId"].isna()]
    children = found[found["tags.mlflow.parentRunId"].notna()]
    assert len(parents) == 3 and len(children) == 6
    assert sorted(children["tags.mlflow.parentRunId"].value_counts()) == [2, 2, 2]
    assert set(children["tags.mlflow.parentRunId"]) == set(parents["run_id"])
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    keys = {}
    for _, row in found.iterrows():
        have = frozenset(client.get_run(row["run_id"]).data.metrics)
        keys.setdefault((row["tags.deepatoms.atom"], pd_isna(row["tags.mlflow.parentRunId"])),
                        set()).add(have)
    assert all(len(sets) == 1 for sets in keys.values()), "an atom's runs differ in metric keys"
    parent_keys = next(iter(keys[(LC, True)])) | next(iter(keys[(UA, True)]))
    assert all(len(k) <= len("ev00.supports") for k in parent_keys), parent_keys
    store = Store(store_root, readonly=True)
    ua = parents[parents["tags.deepatoms.run_id"] == "2"].iloc[0]
    evidence = store.run(2)["verdict"]["evidence"]
    assert ua["metrics.ev00"] == pytest.approx(evidence[0]["estimate"])
    assert ua["tags.evidence.ev00"] == f"{evidence[0]['setting']} {evidence[0]['metric']}".strip()
    child = children[(children["tags.deepatoms.run_id"] == "3")
                     & (children["tags.deepatoms.seed"] == "1")].iloc[0]
    curve = client.get_metric_history(child["run_id"], "weight_change/layer_1/weight_index_-1")
    steps = [m.step for m in curve]
    assert len(steps) >= 20 and steps == sorted(steps) and len(set(steps)) == len(steps)
    figures = [a.path for a in client.list_artifacts(ua["run_id"], "figures")]
    assert figures and all(f.startswith("figures/0") and f.endswith(".png") for f in figures)


def pd_isna(value) -> bool:
    return value is None or value != value


def test_sqlite_store_export_compares_side_by_side(three_runs, tmp_path, monkeypatch):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # artifacts go beside the database, not to ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = cli("export", "--mlflow", uri, "--all-runs", "--store", str(three_runs))
    assert first.exit_code == 0, first.output
    assert "3 run(s) logged with 6 seed run(s), 0 already there" in first.stdout
    assert first.stderr.strip() == ""
    again = cli("export", "--mlflow", uri, "--all-runs", "--store", str(three_runs))
    assert again.exit_code == 0 and "0 run(s) logged with 0 seed run(s), 3 already there" in \
        again.stdout, again.output
    _check_side_by_side(uri, three_runs)
    assert list((tmp_path / "cwd").iterdir()) == []
    assert len(list((tmp_path / "mlflow-artifacts").glob("*/artifacts/table.csv"))) == 3


def test_a_failed_export_is_marked_failed_and_redone(three_runs, tmp_path, monkeypatch):
    from deepatoms.store import mlflow as export
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    real, calls = export._log_seed, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the first seed of the second run
            raise RuntimeError("the tracking store went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(export, "_log_seed", flaky)
    store = Store(three_runs, readonly=True)
    with pytest.raises(StoreError, match="run 2 .* marked FAILED and the next export redoes it"):
        export.export_mlflow(store, uri, store.runs())
    failed = _search(uri)
    assert sorted(failed["status"]) == ["FAILED", "FINISHED", "FINISHED", "FINISHED"]
    monkeypatch.setattr(export, "_log_seed", real)
    done = export.export_mlflow(store, uri, store.runs())
    assert (done["exported"], done["redone"], done["skipped"], done["seed_runs"]) == (2, 1, 1, 4)
    _check_side_by_side(uri, three_runs)  # the failed run is gone, none is doubled


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow server did not answer {url} within {seconds} s")


@pytest.fixture
def tracking_server(tmp_path):
    """`mlflow server` on a free loopback port (SQLite backend, artifacts proxied), stopped by
    its process group id."""
    port = _free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
           "--artifacts-destination", str(tmp_path / "artifacts")]
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{uri}/health", proc, 180)
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
        log.close()


def test_tracking_server_export_compares_side_by_side(three_runs, tracking_server, tmp_path):
    csv = tmp_path / "out.csv"
    done = cli("export", str(csv), "--mlflow", tracking_server, "--all-runs",
                "--store", str(three_runs))
    assert done.exit_code == 0, done.output
    assert "3 run(s) logged with 6 seed run(s)" in done.stdout and "View run" not in done.output
    assert csv.is_file()
    _check_side_by_side(tracking_server, three_runs)


def _not_a_store(path: Path) -> Path:
    path.write_bytes(b"this is not a database" * 100)
    return path


@pytest.mark.parametrize("target, message", [
    ("http://127.0.0.1:1", "cannot reach the MLflow tracking server"),
    ("ftp://example.org/x", "unsupported tracking URI scheme 'ftp:'"),
    ("sqlite:///:memory:", "names no database file"),
    ("sqlite:///{tmp}/no/such/dir/m.db", "does not exist"),
    ("sqlite:///{tmp}/garbage.db", "is not an SQLite database"),
    ("sqlite:///{store}/deepatoms.sqlite", "not an MLflow store"),
    ("{tmp}/garbage.db", "is a file, not a directory"),
    ("/proc/mlruns", "cannot write in '/proc'"),
    ("/proc", "cannot write in '/proc'"),
    ("{tmp}/damaged", "cannot use the MLflow tracking store"),
])
def test_bad_targets_are_one_line_before_anything_is_written(three_runs, tmp_path, target,
                                                             message):
    _not_a_store(tmp_path / "garbage.db")
    (tmp_path / "damaged" / "0").mkdir(parents=True)  # a file store with a corrupt experiment
    (tmp_path / "damaged" / "0" / "meta.yaml").write_text("name: [unclosed\n")
    uri = target.format(tmp=tmp_path, store=three_runs)
    csv = tmp_path / "out.csv"
    started = time.monotonic()
    one_error_line(cli("export", str(csv), "--mlflow", uri, "--store", str(three_runs)), message, quiet_stdout=True)
    assert time.monotonic() - started < 30 and not csv.exists()
    assert not (tmp_path / "no").exists()


def test_an_empty_experiment_name_is_one_line(three_runs, tmp_path):
    one_error_line(cli("export", "--mlflow", f"sqlite:///{tmp_path / 'm.db'}",
                       "--experiment", " ", "--store", str(three_runs)),
                   "--experiment needs a name", quiet_stdout=True)
    assert not (tmp_path / "m.db").exists()
