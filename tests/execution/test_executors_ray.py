"""`--backend ray` against a real cluster this module starts on loopback (token auth on) and
stops by its own PIDs (never `ray stop`: that stops every Ray process on the machine).

Drivers run as `deepatoms run ... --backend ray --address` subprocesses: tables bitwise equal
to in-process runs (seed batches and setting groups), two atoms in flight, a worker killed
mid-task retried, a driver killed mid-run resumed from the store, a wrong token and a refused
address one line with exit code 2, a trial of other code refused by the worker."""
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'deepatoms[ray]'")

import deepatoms  # noqa: E402
from deepatoms import registry  # noqa: E402
from deepatoms.store import Store  # noqa: E402

SPLIT, OTHER = "universal-approximation", "depth-separation"
SRC = str(Path(deepatoms.__file__).parent.parent)
START_S = 240  # a loaded 2-core machine: the head and the first torch worker take a while


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (Ray workers run in process groups of their own)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1]
                                               .split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, parent in parents.items() if parent == p]
        out += kids
        todo += kids
    return out


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture(scope="module")
def cluster():
    port, token = _free_port(), secrets.token_hex(32)
    temp = tempfile.mkdtemp(prefix="da-ray-")
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": token, "PYTHONPATH": SRC}
    ray_cli = str(Path(sys.executable).parent / "ray")
    log = open(Path(temp) / "head.log", "wb")
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={temp}",
         "--disable-usage-stats"], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline and head.poll() is None:
            if b"--block" in (Path(temp) / "head.log").read_bytes():
                break
            time.sleep(0.5)
        assert head.poll() is None, (Path(temp) / "head.log").read_text()[-2000:]
        yield dict(address=f"127.0.0.1:{port}", env=env, pid=head.pid)
    finally:  # this cluster's processes only, by PID (`ray start --block` outlives SIGTERM)
        pids = _children(head.pid)
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for pid in [*pids, *_children(head.pid), head.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        head.wait()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _cmd(name, store, *extra):
    return [sys.executable, "-m", "deepatoms", "run", name, "--preset", "quick", "--device",
            "cpu", "--store", str(store), "--backend", "ray", *extra, "--json"]


def _run(cluster, name, store, *extra, check=True, env=None):
    cmd = _cmd(name, store, "--address", cluster["address"], *extra)
    out = subprocess.run(cmd, env=env or cluster["env"], capture_output=True, text=True,
                         timeout=START_S + 120)
    if check:
        assert out.returncode == 0, out.stderr[-2000:]
    return out


def _table(store, run_id=None, atom=None):
    st = Store(store, readonly=True)
    run = st.run(run_id) if run_id is not None else st.runs(atom)[-1]
    return st.run_table(run)


def _local(tmp_path, name, seeds):
    store = tmp_path / f"local-{name}-{seeds}"
    deepatoms.run(name, preset="quick", seeds=seeds, device="cpu", workers=1, store=store)
    return _table(store, atom=name)


def _equal(a, b):
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def _close(a, b):
    pd.testing.assert_frame_equal(a.drop(columns="value"), b.drop(columns="value"), check_exact=True)
    np.testing.assert_allclose(a.value.to_numpy(), b.value.to_numpy(), rtol=1e-4, atol=1e-4)


def test_two_atoms_in_flight_equal_to_in_process(cluster, tmp_path):
    store = tmp_path / "ray"
    drivers = [subprocess.Popen(_cmd(n, store, "--address", cluster["address"], *extra),
                                env=cluster["env"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for n, extra in ((SPLIT, ("--seeds", "2", "--workers", "2")),
                                (OTHER, ("--seeds", "1", "--workers", "3")))]
    outs = [d.communicate(timeout=START_S + 120) for d in drivers]
    assert [d.returncode for d in drivers] == [0, 0], [e[-1500:] for _, e in outs]
    _equal(_table(store, atom=SPLIT), _local(tmp_path, SPLIT, 2))  # two seed batches
    # three setting groups: depths that share one population in-process run apart here, so the
    # batched kernels see other sizes: equal to float rounding (7.6e-6 measured), not bitwise
    _close(_table(store, atom=OTHER), _local(tmp_path, OTHER, 1))
    groups = {r[0] for r in sqlite3.connect(store / "deepatoms.sqlite").execute(
        "SELECT params FROM trials WHERE atom=?", (OTHER,))}
    assert len(groups) == 4


def test_a_two_atom_run_is_dispatched_across_atoms_as_ray_tasks(cluster, tmp_path):
    store = tmp_path / "ray"
    cmd = _cmd(SPLIT, store, "--address", cluster["address"], "--seeds", "2", "--workers", "2")
    cmd.insert(cmd.index(SPLIT) + 1, OTHER)
    out = subprocess.run(cmd, env=cluster["env"], capture_output=True, text=True,
                         timeout=START_S + 120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"computed {SPLIT} (seeds 0,1)" in out.stderr and f"computed {OTHER}" in out.stderr
    for row in json.loads(out.stdout):
        assert row["cached_seeds"] == [] and row["computed_s"] > 0
    _equal(_table(store, atom=SPLIT), _local(tmp_path, SPLIT, 2))  # whole atoms: bitwise
    _equal(_table(store, atom=OTHER), _local(tmp_path, OTHER, 2))


def test_a_worker_killed_mid_task_is_retried(cluster, tmp_path):
    store = tmp_path / "ray"
    cmd = _cmd(SPLIT, store, "--address", cluster["address"], "--seeds", "1", "--set",
               "steps=6000", "--set", "record_every=100")
    driver = subprocess.Popen(cmd, env=cluster["env"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    killed, deadline = None, time.monotonic() + START_S
    while killed is None and time.monotonic() < deadline and driver.poll() is None:
        for pid in _children(cluster["pid"]):
            if _title(pid).startswith("ray::deepatoms:universal-approximation"):
                time.sleep(1.0)
                os.kill(pid, signal.SIGKILL)
                killed = pid
                break
        time.sleep(0.3)
    out, err = driver.communicate(timeout=START_S + 120)
    assert killed is not None and driver.returncode == 0, err[-1500:]
    assert json.loads(out)[0]["seeds"] == [0]
    assert len(_table(store, atom=SPLIT)) > 0


def _stored(store: Path) -> int:
    try:
        with sqlite3.connect(store / "deepatoms.sqlite", timeout=30) as conn:
            return conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_a_driver_killed_mid_run_resumes_from_the_store(cluster, tmp_path):
    store = tmp_path / "ray"
    cmd = _cmd(SPLIT, store, "--address", cluster["address"], "--seeds", "4",
               "--seeds-per-batch", "1", "--workers", "1", "--set", "steps=3000")
    driver = subprocess.Popen(cmd, env=cluster["env"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + START_S
    while _stored(store) < 1 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    driver.kill()
    driver.wait()
    assert 1 <= _stored(store) < 4
    out = _run(cluster, SPLIT, store, "--seeds", "4", "--seeds-per-batch", "1", "--set",
               "steps=3000")
    result = json.loads(out.stdout)[0]
    assert len(result["cached_seeds"]) >= 1
    assert sorted(set(_table(store, result["run_id"]).seed)) == [0, 1, 2, 3]


def test_a_trial_of_other_code_is_refused(cluster, monkeypatch):
    from deepatoms.execution.executors import ExecOptions, ExecutorError
    from deepatoms.execution.ray_backend import ray_executor, shutdown
    from deepatoms.execution.trials import Trial
    for key in ("RAY_AUTH_TOKEN", "RAY_AUTH_MODE", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"):
        monkeypatch.setenv(key, cluster["env"][key])
    atom = registry.get(SPLIT)
    trial = Trial(SPLIT, atom.params("quick", steps=10), (0,), "cpu", "float32", "0+other")
    try:
        executor = ray_executor(ExecOptions("ray", 1, 1, cluster["address"]))
        with pytest.raises(ExecutorError, match="code version mismatch"):
            list(executor.map([trial]))
    finally:
        shutdown()


def test_wrong_token_and_refused_address_are_one_line_exit_2(cluster, tmp_path):
    env = {**cluster["env"], "RAY_AUTH_TOKEN": "0" * 64}
    out = _run(cluster, SPLIT, tmp_path / "s", check=False, env=env)
    last = out.stderr.strip().splitlines()[-1]
    assert out.returncode == 2 and last.startswith("error: cannot connect to the Ray cluster")
    assert "token" in last
    cmd = _cmd(SPLIT, tmp_path / "s", "--address", f"127.0.0.1:{_free_port()}")
    out = subprocess.run(cmd, env=cluster["env"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("error: cannot connect to the Ray")
    assert not (tmp_path / "s").exists()  # nothing was written
