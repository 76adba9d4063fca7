"""The atom depth-separation: its pieces against closed forms and references, and its claim test (slow tier)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import deepatoms
from deepatoms import registry
from deepatoms.atoms.atoms import depth_separation as ds
from deepatoms.errors import ParamError


# --- depth-separation -----------------------------------------------------------------------------
def test_alternating_points_exact():
    x, y = ds.alternating_points(4)
    np.testing.assert_array_equal(x[:, 0], [0.0, 0.25, 0.5, 0.75])
    np.testing.assert_array_equal(y, [1, 0, 1, 0])


def test_depth_separation_bad_inputs():
    atom = registry.get("depth-separation")
    with pytest.raises(ParamError, match="batch_size"):
        atom.params(batch_size=17)
    with pytest.raises(ParamError, match="depths"):
        atom.params(depths=())
    with pytest.raises(ParamError, match="depths"):
        atom.params(depths=(0, 1))
    with pytest.raises(ParamError, match="width"):
        atom.params(width=-3)
    with pytest.raises(ParamError, match="depths.*at least two"):  # no trend from one depth
        atom.params(depths=(3,))
    with pytest.raises(ParamError, match="repeat"):
        atom.params(depths=(1, 1, 2))


def test_depth_separation_judge_covers_every_depth_run():
    rows = [dict(seed=s, depth=L, metric="train_accuracy", value=0.5 + 0.05 * L + 0.01 * (s % 3))
            for s in range(10) for L in (1, 2, 5)]
    verdict = ds.judge(pd.DataFrame(rows))
    assert verdict.status == "reproduced"
    assert [e.setting for e in verdict.evidence] == ["depth=*", "depth=5"]  # trend, control
    assert verdict.evidence[1].control and verdict.evidence[1].supports


def test_depth_separation_minibatch_mode_runs():
    out = deepatoms.run("depth-separation", preset="quick", seeds=1, device="cpu", steps=20,
                        batch_size=8, record_every=10)
    acc = out.table[out.table.metric == "train_accuracy"]
    assert len(acc) == 3 and acc.value.between(0, 1).all()


# --- claim tier: default configurations (measured verdicts) ---------------------------------------
@pytest.mark.claim
def test_claim_depth_separation():
    """Measured at the default 20 seeds: 62.2 / 72.5 / 75.3 % for L = 1 / 2 / 3; per-seed ρ .51
    [.23, .79], Page's trend test decides: reproduced. (At 10 seeds, Page's one-sided p was .028,
    short of .025, on seeds 0–9 but not on seeds 100–109 or 200–209: issue 16 §3's power
    calculation gave the default 20.)"""
    out = deepatoms.run("depth-separation", device="cpu")
    assert out.seeds == tuple(range(20))
    assert out.verdict.status == "reproduced"
    row, control = out.verdict.evidence
    assert control.control and control.supports  # L = 3 fits above chance: .75 [.69, .81]
    assert row.supports is True and row.setting == "depth=*" and row.estimate > 0.3
    acc = out.table[out.table.metric == "train_accuracy"].groupby("depth").value.mean()
    assert acc[3] - acc[1] > 0.1  # measured 0.131 (62.2 → 75.3 %)
