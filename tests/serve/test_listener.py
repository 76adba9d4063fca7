"""The engine's training loop hands each step to the lab's listener (live curves in `serve`);
the tables stay bitwise the same with or without a listener, on two atoms."""
from __future__ import annotations

import queue

import pandas as pd
import pytest

from deepatoms.catalog import registry
from deepatoms.lab import Lab, set_record_listener
from deepatoms.serve.worker import Relay

ATOMS = [("layer-convergence", {"steps": 120}), ("universal-approximation", {"steps": 200})]


@pytest.mark.parametrize("name, overrides", ATOMS, ids=[a for a, _ in ATOMS])
def test_tables_bitwise_equal_with_and_without_listener(name, overrides):
    atom = registry.get(name)
    params = atom.params("quick", **overrides)
    without = atom.run(params, Lab((0, 1), stream=atom.stream))
    box: queue.SimpleQueue = queue.SimpleQueue()
    relay = Relay(box, "t")
    set_record_listener(relay.record)
    try:
        with_listener = atom.run(params, Lab((0, 1), progress=relay, stream=atom.stream))
    finally:
        set_record_listener(None)
    pd.testing.assert_frame_equal(with_listener, without, check_exact=True)
    messages = []
    while not box.empty():
        messages.append(box.get())
    points = [m[2] for m in messages if m[0] == "point"]
    assert len(points) >= 3
    # one number per model: 2 seeds × the atom's settings
    assert all(len(v) % 2 == 0 and len(v) >= 2 for p in points for v in p["series"].values())
    assert points[-1]["step"] == points[-1]["steps"]


def test_no_listener_sees_nothing():
    from deepatoms.lab import listening
    assert not listening()
    seen = []
    set_record_listener(lambda *a: seen.append(a))
    assert listening()
    set_record_listener(None)
    assert not listening()
