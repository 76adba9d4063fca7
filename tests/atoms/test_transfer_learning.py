"""The atom transfer-learning: its pieces against closed forms and references, and its claim test (slow tier)."""

import pytest
import torch

import deepatoms
from deepatoms import registry
from deepatoms.atoms.atoms import transfer_learning as tl
from deepatoms.errors import ParamError
from deepatoms.lab import Lab
from .grid_atom_helpers import _evidence


def test_transfer_learning_validation():
    atom = registry.get("transfer-learning")
    with pytest.raises(ParamError, match="overlap"):
        atom.params(source_classes=(0, 1, 5), target_classes=(5, 6))
    with pytest.raises(ParamError, match="arms"):
        atom.params(arms=("probe", "scratch"))
    with pytest.raises(ParamError):
        atom.params(shots=(1, 200))
    with pytest.raises(ParamError, match="two distinct"):
        atom.params(target_classes=(5,))
    with pytest.raises(ParamError, match="shots"):
        atom.params(shots=(5,))


def test_transfer_arms_copy_and_freeze_the_pretrained_layers():
    atom = registry.get("transfer-learning")
    p = atom.params("quick", shots=(1, 2), pretrain_steps=5, finetune_steps=5)
    lab = Lab([0])
    data = [tl._seed_data(p, lab, 0)]
    source, _ = tl._pretrain(p, lab, data)
    pop, combos, mask = tl._target_models(p, lab, source)
    arms = [c[2] for c in combos]
    fine, probe, scratch = (arms.index(a) for a in ("fine-tuned", "probe", "scratch"))
    assert torch.equal(pop.weights[0][probe], source.weights[0][0])
    assert not torch.equal(pop.weights[0][scratch], source.weights[0][0])
    assert torch.equal(pop.weights[-1][probe], pop.weights[-1][scratch])  # shared fresh head
    head_before = pop.weights[-1][probe].clone()
    tl._finetune(p, lab, data, pop, combos, mask)
    assert torch.equal(pop.weights[0][probe], source.weights[0][0])  # frozen
    assert not torch.equal(pop.weights[0][fine], source.weights[0][0])  # fine-tuned
    assert not torch.equal(pop.weights[-1][probe], head_before)  # the probe's head learns


@pytest.mark.claim
def test_claim_transfer_learning():
    out = deepatoms.run("transfer-learning", device="cpu")
    assert out.verdict.status == "not reproduced"
    gain = _evidence(out, "accuracy gain")
    assert gain.supports is False and -0.109 <= gain.estimate <= -0.036  # measured −.073
    assert [p.status for p in out.verdict.parts] == ["not reproduced", "not reproduced"]
    assert all(c.supports for c in out.verdict.controls)  # source .98, scratch .96, probe .55
    assert _evidence(out, "probe accuracy").control


def test_a_source_network_that_did_not_learn_fails_the_control():
    """The controls guard every part: a pre-trained network at chance on its own task leaves
    nothing to transfer, so no gain or loss is a refutation."""
    out = deepatoms.run("transfer-learning", preset="quick", seeds=2, device="cpu")
    table = out.table.copy()
    table.loc[table.metric == "source_test_accuracy", "value"] = 0.3
    v = registry.get("transfer-learning").judge(table)
    assert v.status == "inconclusive" and v.parts[0].reason.startswith("control failed")
    assert all(p.status == "inconclusive" for p in v.parts)
