"""The atom layer-convergence: its pieces against closed forms and references, and its claim test (slow tier)."""

import numpy as np
import pandas as pd
import pytest

import deepatoms
from deepatoms import registry
from deepatoms.atoms.atoms import layer_convergence as lc
from deepatoms.errors import ParamError
from deepatoms.lab import Lab
from .grid_atom_helpers import _evidence


# ---------------------------------------------------------------- layer-convergence
def test_settle_step_half_life_on_a_hand_made_curve():
    # 10-record running mean: first window = 1.0; the curve drops to 0.1 at record 20
    change = np.r_[np.ones(20), np.full(30, 0.1)]
    steps = np.arange(1, 51) * 2
    ratio = lc.smoothed_ratio(change)
    assert ratio[0] == 1.0 and ratio[-1] == pytest.approx(0.1)
    # windows ending at records 9..28 contain ≥ 5 ones until the window ending at record 24
    # (records 15..24: five ones, five 0.1 → 0.55); the next one (16..25) is 0.46 < 0.5
    assert lc.settle_step(change, steps) == steps[25]


def test_settle_step_never_settling_and_diverged():
    steps = np.arange(1, 31)
    assert lc.settle_step(np.ones(30), steps) == 30.0
    assert lc.settle_record(np.ones(30), steps) == (30.0, True)  # censored: ≥ the last step
    assert lc.settle_record(np.r_[np.ones(10), np.full(20, 0.1)], steps)[1] is False
    assert np.isnan(lc.settle_step(np.r_[np.ones(20), np.full(10, np.nan)], steps))


def _lc_table(curves: dict[tuple[int, int], np.ndarray]) -> pd.DataFrame:
    """Hand-made weight_change rows: curves[(seed, layer)] per record (steps 2, 4, ...)."""
    rows = [dict(seed=s, layer=l, weight_index=-1, step=2 * (r + 1), metric="weight_change", value=v)
            for (s, l), c in curves.items() for r, v in enumerate(c)]
    rows += [dict(seed=s, layer=0, weight_index=-1, step=2 * len(c), metric=m, value=0.9)
             for (s, _), c in curves.items() for m in ("test_accuracy", "bayes_ceiling")]
    return pd.DataFrame(rows)


def _drop_at(record: int, n: int = 60) -> np.ndarray:
    return np.r_[np.ones(record), np.full(n - record, 0.1)]


def test_layer_convergence_judge_reads_censored_layers():
    seeds = range(6)
    # layer 1 settles late (or never: seed 0), layer 2 early: supported despite the bound
    early = {**{(s, 1): _drop_at(40 + s) for s in seeds}, **{(s, 2): _drop_at(12 + s) for s in seeds}}
    early[(0, 1)] = np.ones(60)
    ev = lc.judge(_lc_table(early)).evidence[0]
    assert ev.supports is True and "censored in 1 of 6" in ev.note
    # a later layer that never settles in one seed: the difference there is an upper bound
    late = dict(early)
    late[(3, 2)] = np.ones(60)
    ev = lc.judge(_lc_table(late)).evidence[0]
    assert ev.supports is None and "layer 2 never settled in 1 of 6" in ev.note


def test_layer_convergence_rejects_impossible_values():
    atom = registry.get("layer-convergence")
    with pytest.raises(ParamError, match="batch_size"):
        atom.params(batch_size=401)
    with pytest.raises(ParamError, match="records"):
        atom.params(steps=20, record_every=2)
    with pytest.raises(ParamError):
        atom.params(hidden=(50, -1))


def test_layer_convergence_table_shapes():
    atom = registry.get("layer-convergence")
    table = atom.run(atom.params("quick", steps=40, tracked_weights=3), Lab([0]))
    change = table[table.metric == "weight_change"]
    assert sorted(change.layer.unique()) == [1, 2, 3, 4] and len(change) == 4 * 20
    w = table[table.metric == "weight"]
    assert w.weight_index.nunique() == 3 and sorted(w.step.unique()) == [0, 10, 20, 30, 40]
    assert np.isfinite(change.value).all() and (change.value > 0).all()


@pytest.mark.claim
def test_claim_layer_convergence():
    out = deepatoms.run("layer-convergence", device="cpu")  # 10 seeds, μ_i = 1/i
    assert out.seeds == tuple(range(10)) and out.verdict.status == "reproduced"
    settle = lc.settle_steps(out.table)
    assert settle[1].median() > 600 and settle[[3, 4]].median().max() < 60  # measured 730; 29, 29
    e = _evidence(out, "settle step: layer 1 − layer 4")
    assert 237 <= e.estimate <= 627  # measured 432 [237, 627]; layer 1 censored in 2 seeds
    assert "censored in 2 of 10" in e.note


def test_a_network_that_does_not_learn_fails_the_control():
    """Settling weights of a network at chance say nothing about how a trained one converges."""
    atom = registry.get("layer-convergence")
    t = atom.run(atom.params("quick", steps=40, tracked_weights=3), Lab([0, 1])).copy()
    t.loc[t.metric == "test_accuracy", "value"] = 0.5
    v = lc.judge(t)
    assert v.status == "inconclusive" and v.parts[0].reason.startswith("control failed")
    assert "final test accuracy" in v.parts[0].reason
