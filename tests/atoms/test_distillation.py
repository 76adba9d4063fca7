"""The atom distillation: its pieces against closed forms and references, and its claim test (slow tier)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import deepatoms
from deepatoms.atoms.generalization import _stacked_mlp as nets
from deepatoms.atoms.generalization.distillation import bias_corrected


def test_soft_cross_entropy_gradient_is_q_minus_p_over_t():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 3, 10, generator=g, requires_grad=True)
    targets = torch.softmax(torch.randn(2, 3, 10, generator=g), -1)
    t = 20.0
    nets.soft_cross_entropy(z, targets, t).sum().backward()
    expected = (torch.softmax(z.detach() / t, -1) - targets) / t
    torch.testing.assert_close(z.grad, expected, rtol=1e-5, atol=1e-8)


def test_bias_correction_and_max_norm():
    logits = np.array([[2.0, 0.0], [2.0, 1.5], [0.0, 3.0]])   # class 1 is under-predicted
    y = np.array([0, 1, 1])
    assert bias_corrected(logits, y, 1, np.arange(0, 3.01, 0.5)) == 1.0   # 0.5 < shift ≤ 1 fixes row 2
    w = torch.tensor([[[3.0, 0.1], [4.0, 0.1]]]).requires_grad_()      # column norms 5 and ~0.14
    opt = nets.MaxNorm(torch.optim.SGD([w], lr=0.0), [w], 1.0)
    w.grad = torch.zeros_like(w)
    opt.step()
    torch.testing.assert_close(w.detach().norm(dim=1), torch.tensor([[1.0, 0.02 ** 0.5]]))


def test_teacher_control_guards_every_part():
    """A teacher no better than its student fails the control: every part inconclusive, and a
    distilled student that does not beat the hard-label one is then no refutation."""
    import pandas as pd
    from deepatoms.atoms.generalization import distillation as dist
    rows = []
    for s in range(6):
        for model, err in (("teacher", 14 + s % 2), ("hard", 15), ("soft", 18 + s % 2),
                           ("logits", 15 + s % 3), ("omit", 15)):
            rows.append(dict(seed=s, model=model, n_test=539, metric="test_errors", value=err))
        for metric, v in (("omitted_correct_raw", 0.5), ("omitted_correct_corrected", 0.95 + 0.001 * s),
                          ("bias_shift", 2.0)):
            rows.append(dict(seed=s, model="omit", n_test=539, metric=metric, value=v))
    v = dist.judge(pd.DataFrame(rows))
    control = [e for e in v.evidence if e.control]
    assert len(control) == 1 and control[0].supports is not True and control[0].part == "*"
    assert {p.status for p in v.parts} == {"inconclusive"} and v.status == "inconclusive"


def test_teacher_jitter_moves_whole_images():
    """The teacher's jitter shifts every image by whole pixels (blank pixels shifted in)."""
    from deepatoms.atoms.generalization import _random_labels_regularisers as aug
    img = torch.arange(1.0, 65.0).view(1, 1, 64)
    right = aug.shift_images(img, torch.tensor([[[0, 1]]])).view(8, 8)
    assert torch.equal(right[:, 1:], img.view(8, 8)[:, :-1]) and (right[:, 0] == 0).all()


@pytest.mark.claim
def test_claim_distillation():
    """Measured at the default (20 seeds): test errors of 539 — teacher 10.1, hard-label
    student 13.6, distilled 14.1 (the paper: 67, 146, 74 of 10,000), logit regression 15.7;
    the omitted digit 96.0 % right after the bias shift. The control — the teacher makes < 80 %
    of the student's errors — is undecided (ratio .754 [.647, .861]), so every part is
    inconclusive: there is too little to distil to judge distillation at this scale."""
    out = deepatoms.run("distillation", device="cpu")
    assert out.verdict.status == "inconclusive"
    rows = {e.metric: e for e in out.verdict.evidence}
    control = rows["teacher's test errors / hard-label student's (per seed)"]
    assert control.control and control.supports is not True
    assert all(p.reason.startswith("control failed") for p in out.verdict.parts)
