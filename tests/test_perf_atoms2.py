"""Speed-ups of the biggest `atoms`-family atoms that must not change their tables: each atom's
table with the faster path equals its table with that path switched off, to the bit."""
from __future__ import annotations

import pandas as pd

from deepatoms.atoms.atoms import more_data
from deepatoms.engine import mlp_grads
from deepatoms.runner import execute


def _table(atom, over: dict, seeds=(0, 1)) -> pd.DataFrame:
    return execute(atom, atom.params("quick", **over), seeds, preset="quick", overrides=over,
                   device="cpu").rows


def _more_data_table(monkeypatch, hand: bool) -> tuple[pd.DataFrame, int]:
    calls = []
    grads = mlp_grads.cross_entropy_grads
    monkeypatch.setattr(more_data, "HAND_BACKWARD", hand)
    monkeypatch.setattr(mlp_grads, "cross_entropy_grads",
                        lambda *a: calls.append(1) or grads(*a))
    over = dict(sizes=(20, 500), net_epochs=3, learners=("shallow", "deep"))
    return _table(more_data.ATOM, over), len(calls)


def test_more_data_nets_with_hand_written_grads_equal_autograd_bitwise(monkeypatch):
    """The nets (relu MLPs, per-example cross-entropy averaged by `engine.train`) trained with
    `engine.mlp_grads` give the very accuracies autograd's gradients give."""
    hand, hand_calls = _more_data_table(monkeypatch, True)
    auto, auto_calls = _more_data_table(monkeypatch, False)
    # steps: 3 epochs × (16 // 16 + 400 // 200) per architecture, 2 architectures
    assert hand_calls == 2 * 3 * (1 + 2) and auto_calls == 0
    acc = hand[hand.metric == "test_accuracy"]
    assert len(acc) == 2 * 2 * 2 and acc.value.between(0, 1).all()
    assert set(acc.learner) == {"shallow", "deep"} and acc.value.nunique() > 1
    pd.testing.assert_frame_equal(hand, auto, check_exact=True)
