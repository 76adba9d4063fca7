"""The atom pretraining: its pieces against closed forms and references, and its claim test (slow tier)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import deepatoms
from deepatoms.atoms.generalization import _pretraining_autoencoders as dae
from deepatoms.atoms.generalization import pretraining as pjudge


def test_dae_loss_matches_the_formula_and_pretraining_lowers_it():
    g = torch.Generator().manual_seed(0)
    w, b, c = torch.randn(2, 5, 3, generator=g), torch.randn(2, 1, 3, generator=g), torch.randn(2, 1, 5, generator=g)
    x = torch.rand(2, 4, 5, generator=g)
    keep = (torch.rand(2, 4, 5, generator=g) > 0.3).float()
    h = torch.sigmoid((x * keep) @ w + b)
    r = torch.sigmoid(h @ w.transpose(1, 2) + c)
    manual = -(x * torch.log(r) + (1 - x) * torch.log(1 - r)).sum(-1)
    torch.testing.assert_close(dae.reconstruction_loss(w, b, c, x, keep), manual, rtol=1e-5, atol=1e-5)
    from deepatoms.lab import Lab
    lab = Lab([0, 1])
    xs = torch.rand(64, 8, generator=g)
    before = dae.pretrain_stack(lab, lab.seeds, xs, [6, 4], 0.2, 0.05, 1, 16)
    after = dae.pretrain_stack(lab, lab.seeds, xs, [6, 4], 0.2, 0.05, 300, 16)
    assert [t.shape for t in after[1]] == [(2, 6, 4), (2, 1, 4)]
    assert dae.encode(after, xs).shape == (2, 64, 4)
    loss = lambda st: dae.reconstruction_loss(st[0][0], st[0][1], torch.zeros(2, 1, 8),
                                              xs.expand(2, -1, -1), torch.ones(2, 64, 8)).mean()
    assert loss(after) < loss(before)   # (decoder bias left at 0 for both)


def _pretrain_table(effect: float, spread: float, n=20):
    """A synthetic pretraining table: test errors 0.1 + noise; the pre-trained arm `effect`·depth
    lower with `spread` times the noise; training errors 0.02 lower than test errors for both
    arms, minus an extra 0.01 for the non-pre-trained arm (a larger gap)."""
    rng = np.random.default_rng(0)
    rows = []
    for d in (1, 2, 3):
        for s in range(n):
            for arm, shift, sd, extra in (("none", 0.0, 0.02, 0.01), ("dae", effect * d, 0.02 * spread, 0.0)):
                test = 0.1 - shift + sd * rng.standard_normal()
                for metric, v in (("test_error", test), ("train_error", test - 0.02 - extra)):
                    rows.append(dict(seed=s, depth=d, arm=arm, step=np.nan, metric=metric, value=v))
    return pd.DataFrame(rows)


def test_pretraining_judge_on_known_tables():
    yes = pjudge.judge(_pretrain_table(0.02, 0.3))
    assert yes.status == "reproduced", [e for e in yes.evidence if e.supports is not True]
    no = pjudge.judge(_pretrain_table(-0.02, 3.0))
    flags = {e.metric.split(":")[0]: e.supports for e in no.evidence}
    assert no.status == "not reproduced"
    assert flags["depth 3"] is False
    assert [e for e in no.evidence if e.metric.startswith("log(sd")][0].supports is False


@pytest.mark.claim
def test_claim_pretraining():
    out = deepatoms.run("pretraining", seeds=20, device="cpu")
    assert out.verdict.status == "inconclusive"
    rows = {e.metric.split(":")[0]: e for e in out.verdict.evidence}
    assert rows["depth 5"].supports is True and rows["depth 4"].supports is True
    assert rows["gain of pre-training (test error) vs depth"].supports is True
