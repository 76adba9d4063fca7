"""The atom fooling-images: its pieces against closed forms and references, and its claim test (slow tier)."""

import numpy as np
import pandas as pd
import pytest
import torch

import deepatoms
from deepatoms import registry
from deepatoms.atoms.robustness import _fooling_images_search as FO


def test_fooling_searches_raise_confidence_and_evolution_never_regresses():
    pop = deepatoms.engine.MLPPop([(16, 10)], [torch.Generator().manual_seed(0)], init="xavier_uniform")
    with torch.no_grad():
        pop.weights[0].mul_(20)
    x0 = torch.rand(1, 10, 16, generator=torch.Generator().manual_seed(2))
    start = FO.target_confidence(pop, x0)
    up = FO.gradient_ascent(pop, x0, 30, 0.05, 0.99, [10, 20, 30])
    assert (up.confidence >= start.numpy() - 1e-6).all() and up.confidence.mean() > start.mean().item()
    assert up.images.min() >= 0 and up.images.max() <= 1
    ev = FO.evolve(pop, x0, [torch.Generator().manual_seed(3)], 20, 4, 0.2, 0.3, 0.99, [5, 10, 20])
    assert (np.diff(ev.curve, axis=0) >= 0).all()  # elitist: the parent is kept unless beaten
    reached = ev.reached[np.isfinite(ev.reached)]
    assert (reached >= 1).all() and (reached <= 20).all()


def test_correlations_match_numpy():
    rng = np.random.default_rng(0)
    a, m = rng.random((4, 9)), rng.random((3, 9))
    got = FO.correlations(torch.tensor(a), torch.tensor(m)).numpy()
    want = np.corrcoef(np.vstack([a, m]))[:4, 4:]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def _table(accuracy: float) -> pd.DataFrame:
    rows = []
    for seed in range(5):
        for c in range(10):
            for m in ("gradient", "evolution"):
                base = dict(seed=seed, method=m, target=c)
                rows += [dict(base, metric="confidence", value=0.995),
                         dict(base, metric="reached_at", value=20.0),
                         dict(base, metric="mean_correlation", value=0.2 + 0.03 * seed),
                         dict(base, metric="nearest_mean_is_target", value=0.0)]
            base = dict(seed=seed, method="real", target=c)
            rows += [dict(base, metric="mean_correlation", value=0.84),
                     dict(base, metric="confidence", value=0.9),
                     dict(base, metric="accuracy", value=accuracy + 0.001 * seed)]
    return pd.DataFrame(rows)


def test_fooling_an_inaccurate_classifier_proves_nothing():
    atom = registry.get("fooling-images")
    good = atom.judge(_table(0.95))
    assert good.status == "reproduced" and [p.status for p in good.parts] == ["reproduced"] * 2
    bad = atom.judge(_table(0.5))  # the positive control fails: every part is undecided
    assert bad.status == "inconclusive"
    assert all(p.status == "inconclusive" and "control failed" in p.reason for p in bad.parts)


@pytest.mark.claim
def test_claim_fooling_images():
    out = deepatoms.run("fooling-images", seeds=5, device="cpu")
    assert out.verdict.status == "reproduced"
    assert [p.status for p in out.verdict.parts] == ["reproduced", "reproduced"]
    assert all(e.supports for e in out.verdict.controls)
