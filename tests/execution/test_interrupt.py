"""Ctrl-C and SIGTERM during `deepatoms run`: within a second or two the run stops with
"interrupted: N of M batches stored — rerun to resume" and exit code 130 / 143; the stored
batches are complete trials, and a rerun computes only the rest."""
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
from deepatoms.cli.interrupts import BatchTally, Terminated, batches, catch_signals, exit_code

from ..common import stored_trials

ATOM = "parity"
RUN = ["run", ATOM, "--preset", "quick", "--seeds", "4", "--seeds-per-batch", "1",
       "--set", "steps=4000", "--json"]


def _start(store: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(deepatoms.__file__).parents[1]),
           "DEEPATOMS_TEST_THREADS": "1", "OMP_NUM_THREADS": "1"}
    env.pop("DEEPATOMS_STORE", None)
    return subprocess.Popen([sys.executable, "-m", "deepatoms", *RUN, "--store", str(store)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _interrupt_after_first_batch(store: Path, sig: int) -> tuple[int, str, float]:
    proc = _start(store)
    db, deadline = store / "deepatoms.sqlite", time.monotonic() + 240
    while stored_trials(db) < 1:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no batch was stored in time"
        time.sleep(0.05)
    sent = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err, time.monotonic() - sent


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_says_what_was_stored_and_resumes(tmp_path, sig, code):
    store = tmp_path / "runs"
    rc, err, took = _interrupt_after_first_batch(store, sig)
    assert rc == code, err
    assert "Traceback" not in err
    found = re.search(r"interrupted: (\d+) of (\d+) batches stored — rerun to resume", err)
    assert found, err
    stored, planned = map(int, found.groups())
    assert planned == 4 and 1 <= stored < 4
    assert took < 10  # a second or two on an idle machine; generous for a busy one
    assert stored_trials(store / "deepatoms.sqlite") == stored  # whole batches only
    rerun = _start(store)
    out, err2 = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err2
    import json
    result = json.loads(out)[0]
    assert len(result["cached_seeds"]) == stored and result["seeds"] == [0, 1, 2, 3]


def test_batch_arithmetic():
    assert batches(0, 1) == 0 and batches(5, None) == 1 and batches(5, 2) == 3 and batches(4, 2) == 2


def test_tally_message_counts_and_names_rerun():
    tally = BatchTally(store=None, planned=6, force=True)
    tally.saved = 2
    assert tally.message() == "interrupted: 2 of 6 batches stored — rerun to resume"


def test_sigterm_raises_a_keyboard_interrupt_in_the_block():
    before = signal.getsignal(signal.SIGTERM)  # not always SIG_DFL: ray.init installs its own
    with catch_signals() as state:
        with pytest.raises(KeyboardInterrupt) as info:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        assert isinstance(info.value, Terminated) and exit_code(info.value) == 143
        assert state.signal == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before  # the previous handler is restored


def test_a_store_opened_by_run_is_closed_also_on_an_interrupt(tmp_path, monkeypatch):
    """`api.run(store=path)` closes the connection it opened, on success and on Ctrl-C (a
    `serve` worker runs job after job in one process: a connection left to the garbage
    collector would keep any lock it held)."""
    from deepatoms import api
    from deepatoms.store.database import Store
    closed = []
    real_close = Store.close
    monkeypatch.setattr(Store, "close", lambda self: (closed.append(self), real_close(self)))
    deepatoms.run("layer-convergence", preset="quick", seeds=[0], store=tmp_path / "s")
    assert len(closed) == 1
    given = Store(tmp_path / "s")  # a Store passed in stays open: its owner closes it
    deepatoms.run("layer-convergence", preset="quick", seeds=[0], store=given)
    assert len(closed) == 1 and given.store_id

    class Cancel(BaseException):  # as KeyboardInterrupt unwinds, without alarming pytest
        pass

    def interrupted(*args, **kwargs):
        raise Cancel
    monkeypatch.setattr(api, "execute", interrupted)
    try:
        deepatoms.run("layer-convergence", preset="quick", seeds=[1], store=tmp_path / "s")
    except Cancel:
        pass
    assert len(closed) == 2
