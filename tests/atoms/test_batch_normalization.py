"""The atom batch-normalization: its pieces against closed forms and references, and its claim test (slow tier)."""

import pandas as pd
import pytest

import deepatoms
from deepatoms import registry
from deepatoms.atoms.atoms import batch_normalization as bn_atom
from deepatoms.errors import ParamError


def test_batch_normalization_early_step_and_validation():
    t = pd.DataFrame(dict(metric="test_accuracy_curve", step=[25, 50, 75, 100, 300], value=0.5))
    assert bn_atom.early_step(t) == 75
    atom = registry.get("batch-normalization")
    with pytest.raises(ParamError, match="batch_size"):
        atom.params(batch_size=500)
    with pytest.raises(ParamError, match="repeat"):
        atom.params(lrs=(0.1, 0.1))
    with pytest.raises(ParamError):
        atom.params(batch_size=1)
    with pytest.raises(ParamError, match="sigmoid and relu"):
        atom.params(activations=("relu",))
    with pytest.raises(ParamError, match="0.001"):
        atom.params(lrs=(1e-2, 1e-1))
    with pytest.raises(ParamError, match="0.001"):
        atom.params(lrs=(1e-3,))


@pytest.mark.claim
def test_claim_batch_normalization():
    out = deepatoms.run("batch-normalization", device="cpu")
    assert out.verdict.status == "inconclusive"
    by = {e.metric.split(":")[0] + (" early" if "early" in e.metric else " lr"): e
          for e in out.verdict.evidence if not e.control}
    assert all(c.supports for c in out.verdict.controls)  # BN at lr .01: relu .82, sigmoid .84
    assert by["sigmoid early"].supports and by["sigmoid lr"].supports and by["relu lr"].supports
    assert by["relu early"].supports is None  # no speed-up for ReLU at lr 1e-3
    assert 0.083 <= by["sigmoid early"].estimate <= 0.477  # measured .28 [.083, .477]
