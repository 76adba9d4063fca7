"""The engine's training loop hands each step to the lab's listener (live curves in `serve`);
the tables stay bitwise the same with or without a listener (and the names of the models that
`Lab.name_models` hands it), on two atoms."""
from __future__ import annotations

import queue

import pandas as pd
import pytest
import torch

from deepatoms import registry
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
    set_record_listener(relay.record, relay.names)
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
    # one number per model: 2 seeds × the atom's settings, each model named (setting, seed)
    assert all(len(v) % 2 == 0 and len(v) >= 2 for p in points for v in p["series"].values())
    assert points[-1]["step"] == points[-1]["steps"]
    models = points[0]["models"]
    assert all(p["models"] == models for p in points)
    assert sorted(set(models["seeds"])) == [0, 1]
    assert all(len(v) == len(models["settings"]) for p in points for v in p["series"].values())
    assert len(set(models["settings"])) == len(models["settings"]) // 2


def test_name_models_without_listener_does_nothing_but_checks_lengths():
    lab = Lab((0, 1))
    lab.name_models(["a", "b"], [0, 1])  # nobody listens: nothing happens
    with pytest.raises(ValueError, match="2 settings for 3 seeds"):
        lab.name_models(["a", "b"], [0, 1, 2])
    heard = []
    set_record_listener(lambda *a: None, lambda *a: heard.append(a))
    try:
        lab.name_models(("sin", 4), (0, 1))
    finally:
        set_record_listener(None)
    assert heard == [(["sin", "4"], [0, 1])]
    lab.name_models(["a"], [0])
    assert len(heard) == 1


def _points(box) -> list[dict]:
    out = []
    while not box.empty():
        kind, _, data = box.get()
        if kind == "point":
            out.append(data)
    return out


def test_relay_sends_the_names_with_the_points_of_the_named_loop_only():
    box: queue.SimpleQueue = queue.SimpleQueue()
    relay = Relay(box, "t")
    loss = torch.tensor([1.0, 2.0, 3.0, 4.0])
    relay.names(["sin", "sin", "abs", "abs"], [0, 1, 0, 1])
    relay.record(1, 2, loss, None)
    relay.record(2, 2, loss, torch.stack([loss, 2 * loss]))  # a (2, M) record: two curves
    relay.record(1, 2, loss, None)                            # a new loop, not named
    relay.names(["a", "b", "c", "d"], [5, 5, 5, 5])
    relay.record(2, 2, loss, None)                            # named again: a new segment too
    first, last, plain, named = _points(box)
    models = {"settings": ["sin", "sin", "abs", "abs"], "seeds": [0, 1, 0, 1]}
    assert first["models"] == models and last["models"] == models
    assert first["segment"] == last["segment"] == 0
    assert set(last["series"]) == {"loss", "record 1", "record 2"}
    assert last["series"]["record 2"] == [2.0, 4.0, 6.0, 8.0]
    assert "models" not in plain and plain["segment"] == 1
    assert named["segment"] == 2 and named["models"]["seeds"] == [5, 5, 5, 5]


def test_no_listener_sees_nothing():
    from deepatoms.lab import listening
    assert not listening()
    seen = []
    set_record_listener(lambda *a: seen.append(a))
    assert listening()
    set_record_listener(None)
    assert not listening()
