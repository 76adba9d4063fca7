"""Worker processes die with their driver (real processes, Linux /proc).

A `--workers 2` run is killed (kill -9), signalled (SIGTERM, SIGINT to the driver alone) or
interrupted from a terminal (SIGINT to the whole process group, as Ctrl-C sends it). Five
seconds later no process it started — the two workers, the resource tracker — is alive, and a
signalled run printed exactly one line on stderr: `interrupted: N of M batches stored — rerun
to resume`, with exit code 130 / 143.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import deepatoms

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

# long enough that the workers are still computing when the signal comes
RUN = ["run", "layer-convergence", "--preset", "quick", "--seeds", "2", "--workers", "2",
       "--set", "steps=400000", "--json"]
LINE = re.compile(r"^interrupted: \d+ of \d+ batches stored — rerun to resume$")


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its parent, does not count)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start(store: Path, new_group: bool = False) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(deepatoms.__file__).parents[1]),
           "OMP_NUM_THREADS": "1"}
    for name in ("DEEPATOMS_STORE", "DEEPATOMS_WORKERS"):
        env.pop(name, None)
    return subprocess.Popen([sys.executable, "-m", "deepatoms", *RUN, "--store", str(store)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=new_group)


def _workers_running(proc: subprocess.Popen) -> list[int]:
    """Wait until both workers have started computing (torch loaded); return every process
    the driver started (workers and resource tracker)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        kids = _children(proc.pid)
        workers = [k for k in kids if "spawn_main" in _cmdline(k)]
        if len(workers) == 2 and all(_loaded_torch(w) for w in workers):
            time.sleep(1.0)
            return _children(proc.pid)
        time.sleep(0.1)
    raise AssertionError("the workers did not start in time")


def _loaded_torch(pid: int) -> bool:
    try:
        return "libtorch" in (Path("/proc") / str(pid) / "maps").read_text()
    except OSError:
        return False


def _left_after(pids: list[int], seconds: float = 5.0) -> list[int]:
    time.sleep(seconds)
    return [p for p in pids if alive(p)]


def _close(proc: subprocess.Popen) -> tuple[str, str]:
    """The driver's stdout and stderr (a worker still alive holds the pipes open: then what
    was written so far)."""
    try:
        return proc.communicate(timeout=5)
    except subprocess.TimeoutExpired as exc:
        text = lambda b: (b or b"").decode() if isinstance(b, bytes) else (b or "")
        return text(exc.stdout), text(exc.stderr) + "\n(pipes still held open)"


def _cleanup(pids: list[int]) -> None:
    for pid in pids:  # only the processes this test started
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_kill_9_of_the_driver_takes_its_workers(tmp_path):
    proc = _start(tmp_path / "runs")
    started = _workers_running(proc)
    try:
        assert len(started) >= 2
        proc.kill()
        proc.wait(timeout=30)
        assert _left_after(started) == []
        _close(proc)
    finally:
        _cleanup(started)


@pytest.mark.parametrize("sig, code, group", [(signal.SIGTERM, 143, False),
                                              (signal.SIGINT, 130, False),
                                              (signal.SIGINT, 130, True)],
                         ids=["SIGTERM", "SIGINT", "ctrl-c-to-the-group"])
def test_a_signal_stops_driver_and_workers_with_one_line(tmp_path, sig, code, group):
    proc = _start(tmp_path / "runs", new_group=group)
    started = _workers_running(proc)
    try:
        sent = time.monotonic()
        os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
        proc.wait(timeout=60)
        took = time.monotonic() - sent
        left = _left_after(started)
        out, err = _close(proc)
        assert proc.returncode == code, err
        after = [line for line in err.splitlines() if not line.startswith("running ")]
        assert [LINE.match(line) is not None for line in after] == [True], err
        assert out == ""
        assert took < 4, took  # about a second; generous for a busy machine
        assert left == []
    finally:
        _cleanup(started)
