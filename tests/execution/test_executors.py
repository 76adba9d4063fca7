"""Trials and the local executor: setting groups × seed batches, worker processes (spawn) whose
tables are bitwise equal to the in-process run, a killed worker retried, a killed driver resumed
from the store, two atoms in flight, a code-version mismatch refused."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import deepatoms
from deepatoms import registry
from deepatoms.errors import DeepatomsError
from deepatoms.execution.executors import (ExecOptions, ExecutorError, LocalPool, checked_trial, local_pool)
from deepatoms.lab import Lab
from deepatoms.store import Store
from deepatoms.execution.trials import Trial, combine, seed_batches, setting_groups

SPLIT = "universal-approximation"  # split_by=("functions",)
OTHER = "depth-separation"  # split_by=("depths",)
SRC = str(Path(deepatoms.__file__).parent.parent)


def _equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True),
                                  check_exact=True)


def _trial(name, seeds, version=None, **overrides):
    atom = registry.get(name)
    return Trial(name, atom.params("quick", **overrides), tuple(seeds), "cpu", "float32",
                 version or atom.code_version)


@pytest.mark.parametrize("name", [SPLIT, OTHER])
def test_a_split_atoms_groups_combine_to_the_unsplit_table(name):
    atom = registry.get(name)
    params, seeds = atom.params("quick"), (0, 1)
    groups = setting_groups(atom, params)
    field = atom.split_by[0]
    assert [getattr(g, field) for g in groups] == [(v,) for v in getattr(params, field)]
    whole = atom.run(params, Lab(seeds, "cpu", stream=atom.stream))
    parts = []
    for group in groups:
        table = atom.run(group, Lab(seeds, "cpu", stream=atom.stream))
        parts.append({s: table[table.seed == s].reset_index(drop=True) for s in seeds})
    combined = combine(parts, seeds)
    for s in seeds:
        _equal(combined[s], whole[whole.seed == s])


def test_atoms_without_split_are_one_group_and_batches_cover_the_seeds():
    atom = registry.get("parity")
    params = atom.params("quick")
    assert setting_groups(atom, params) == [params]
    assert seed_batches((3, 4, 5, 6, 7), 2) == [(3, 4), (5, 6), (7,)]
    assert seed_batches((3, 4), None) == [(3, 4)]


def test_layout_stays_in_process_for_small_runs_and_splits_for_workers(monkeypatch):
    atom = registry.get(SPLIT)
    quick = atom.params("quick")
    monkeypatch.setenv("DEEPATOMS_WORKERS", "2")
    assert ExecOptions().layout(atom, quick, 2, None) == ([quick], None, 1)  # estimate < 60 s
    heavy = registry.get("memorization-capacity")  # ≈ 196 s at default
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert ExecOptions().slots(heavy, heavy.params(), 5) == 2
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0))  # busy: stay in-process
    assert ExecOptions().slots(heavy, heavy.params(), 5) == 1
    groups, size, slots = ExecOptions(workers=2).layout(atom, quick, 5, None)
    assert (groups, size, slots) == ([quick], 3, 2)  # seeds split: batches of 3 and 2
    groups, size, slots = ExecOptions(workers=2).layout(atom, quick, 1, None)
    assert len(groups) == 3 and size == 1 and slots == 2  # fewer seeds than slots: groups
    assert ExecOptions(workers=1).layout(atom, quick, 5, None) == ([quick], None, 1)
    assert ExecOptions(workers=4).layout(atom, quick, 5, 2)[1] == 2  # --seeds-per-batch wins
    unregistered = atom.__class__(**{**atom.__dict__})  # same fields, another object
    assert ExecOptions(workers=2).slots(unregistered, quick, 5) == 1


@pytest.mark.parametrize("kwargs, text", [
    (dict(backend="slurm"), "unknown backend"), (dict(workers=0), "workers"),
    (dict(threads=1.5), "threads"), (dict(address="h:1"), "--address goes with --backend ray")])
def test_bad_options_are_one_line_errors(kwargs, text):
    with pytest.raises(DeepatomsError, match=text):
        ExecOptions(**kwargs)
    with pytest.raises(DeepatomsError, match=text):
        deepatoms.run(SPLIT, preset="quick", seeds=1, device="cpu", **kwargs)


def test_a_worker_refuses_a_trial_of_other_code():
    with pytest.raises(ExecutorError, match="code version mismatch for universal-approximation"):
        checked_trial(_trial(SPLIT, (0,), version="0.0.0+other", steps=10))
    with pytest.raises(ExecutorError, match="mismatch"):
        list(local_pool(2, 1).map([_trial(SPLIT, (0,), version="0.0.0+other", steps=10),
                                   _trial(SPLIT, (1,), steps=10)]))


def test_workers_tables_are_bitwise_equal_to_in_process_and_groups_are_stored(tmp_path):
    alone = deepatoms.run(SPLIT, preset="quick", seeds=3, device="cpu", workers=1)
    spread = deepatoms.run(SPLIT, preset="quick", seeds=3, device="cpu", workers=2)
    _equal(spread.rows, alone.rows)
    one = deepatoms.run(SPLIT, preset="quick", seeds=[2], device="cpu", workers=2,
                        store=tmp_path)  # one seed, two slots: the three setting groups
    _equal(one.rows, alone.rows[alone.rows.seed == 2])
    store = Store(tmp_path)
    keys = {r[0] for r in store._conn.execute("SELECT params FROM trials")}
    assert len(keys) == 4  # three groups and the run's own parameters
    assert store.run_table(store.runs(SPLIT)[-1]).shape == one.rows.shape
    again = deepatoms.run(SPLIT, preset="quick", seeds=[2], device="cpu", workers=1,
                          store=tmp_path)
    assert again.cached_seeds == (2,)
    _equal(again.rows, one.rows)


def test_a_partly_computed_split_run_resumes_from_its_groups(tmp_path):
    atom = registry.get(SPLIT)
    params = atom.params("quick")
    first = setting_groups(atom, params)[0]
    ex = deepatoms.run(SPLIT, preset="quick", seeds=[0], device="cpu", workers=1,
                       store=tmp_path, functions=first.functions)  # one group, stored alone
    store = Store(tmp_path)
    ex_all = deepatoms.run(SPLIT, preset="quick", seeds=[0], device="cpu", workers=1,
                           store=store)  # in-process, but the finished group is reused
    alone = deepatoms.run(SPLIT, preset="quick", seeds=[0], device="cpu", workers=1)
    _equal(ex_all.rows, alone.rows)
    head = ex_all.rows[ex_all.rows.function == first.functions[0]]
    _equal(head, ex.rows)


def _pids(pool: LocalPool) -> list[int]:
    return list(pool._pool._processes) if pool._pool is not None else []


def test_a_worker_killed_mid_trial_is_retried():
    pool = LocalPool(2, 1)
    trials = [_trial(SPLIT, (s,), steps=1500) for s in (0, 1)]
    results = pool.map(trials)
    killed = []

    def kill_one():
        deadline = time.monotonic() + 120
        while not _pids(pool) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # the worker has started its trial (or is importing: either way)
        pid = _pids(pool)[0]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_one)
    killer.start()
    got = {r.trial.seeds: r for r in results}
    killer.join()
    pool.close()
    assert killed and set(got) == {(0,), (1,)}
    for s in (0, 1):
        want = checked_trial(trials[s]).tables[s]
        _equal(got[(s,)].tables[s], want)


def test_a_worker_lost_twice_fails_with_one_line():
    pool = LocalPool(1, 1, retries=0)
    results = pool.map([_trial(SPLIT, (0,), steps=20000)])

    def kill():
        deadline = time.monotonic() + 120
        while not _pids(pool) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        os.kill(_pids(pool)[0], signal.SIGKILL)

    threading.Thread(target=kill).start()
    with pytest.raises(ExecutorError, match="a worker process died while computing "
                                            "universal-approximation group 0, seeds 0"):
        list(results)
    pool.close()


def test_two_atoms_in_flight_share_the_workers():
    want = {n: deepatoms.run(n, preset="quick", seeds=2, device="cpu", workers=1).rows
            for n in (SPLIT, OTHER)}
    got = {}

    def one(name):
        got[name] = deepatoms.run(name, preset="quick", seeds=2, device="cpu", workers=2).rows

    threads = [threading.Thread(target=one, args=(n,)) for n in want]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in want:
        _equal(got[name], want[name])


def _stored_trials(store: Path) -> int:
    try:
        with sqlite3.connect(store / "deepatoms.sqlite", timeout=30) as conn:
            return conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_a_driver_killed_mid_run_resumes_from_the_store(tmp_path):
    store = tmp_path / "runs"
    cmd = [sys.executable, "-m", "deepatoms", "run", OTHER, "--preset", "quick", "--seeds",
           "4", "--seeds-per-batch", "1", "--workers", "2", "--device", "cpu", "--store",
           str(store), "--json"]
    env = {**os.environ, "PYTHONPATH": SRC, "DEEPATOMS_WORKERS": "2"}
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.monotonic() + 240
    while _stored_trials(store) < 1 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and its workers, mid-run
    driver.wait()
    done = _stored_trials(store)
    assert 1 <= done
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(out.stdout)[0]
    assert len(result["cached_seeds"]) >= 1
    alone = deepatoms.run(OTHER, preset="quick", seeds=4, device="cpu", workers=1,
                          store=tmp_path / "alone")
    st, ref = Store(store, readonly=True), Store(tmp_path / "alone", readonly=True)
    _equal(st.run_table(st.run(result["run_id"])), ref.run_table(ref.run(alone.run_id)))


def test_without_ray_the_ray_backend_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(ExecutorError, match=r"needs Ray: pip install 'deepatoms\[ray\]'"):
        deepatoms.run(SPLIT, preset="quick", seeds=1, device="cpu", backend="ray")
    from typer.testing import CliRunner
    from deepatoms.cli import app
    out = CliRunner().invoke(app, ["run", SPLIT, "--preset", "quick", "--backend", "ray",
                                   "--store", str(tmp_path / "s")])
    assert out.exit_code == 2 and "needs Ray" in out.output
    assert not (tmp_path / "s").exists()


def test_an_atom_outside_the_catalog_is_not_sent_to_ray():
    import dataclasses
    from deepatoms.execution.runner import execute
    edited = dataclasses.replace(registry.get(SPLIT))
    with pytest.raises(ExecutorError, match="not the catalog's own object"):
        execute(edited, edited.params("quick"), (0,), device="cpu", options=ExecOptions("ray"))
