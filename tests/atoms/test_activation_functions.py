"""The atom activation-functions: its pieces against closed forms and references, and its claim test (slow tier)."""
from __future__ import annotations

import numpy as np
import pytest

from deepatoms.atoms.atoms import activation_functions
from deepatoms.data.two_moons import two_moons
from deepatoms.errors import ParamError
from .classifier_helpers import _evidence, _near, _run


def test_two_moons_lie_on_their_arcs_without_noise():
    x, y = two_moons(np.random.default_rng(0), 11, noise=0.0)
    assert x.shape == (11, 2) and x.dtype == np.float32 and y.dtype == np.int64
    assert (y == 0).sum() == 5 and (y == 1).sum() == 6
    np.testing.assert_allclose(np.hypot(*x[y == 0].T), 1, atol=1e-6)
    np.testing.assert_allclose(np.hypot(x[y == 1, 0] - 1, x[y == 1, 1] - 0.5), 1, atol=1e-6)
    a, _ = two_moons(np.random.default_rng(1), 11, noise=0.1)
    b, _ = two_moons(np.random.default_rng(2), 11, noise=0.1)
    assert not np.allclose(a, b)
    with pytest.raises(ParamError, match="noise"):
        two_moons(np.random.default_rng(0), 10, noise=-1)


def test_two_moons_oracle_separates_small_noise_and_not_huge_noise():
    rng = np.random.default_rng(0)
    x, y = two_moons(rng, 4000, noise=0.1)
    assert activation_functions.oracle_accuracy(x, y, 4000, 0.1) > 0.995
    x, y = two_moons(rng, 4000, noise=3.0)
    assert 0.5 < activation_functions.oracle_accuracy(x, y, 4000, 3.0) < 0.6
    assert activation_functions.oracle_accuracy(x, y, 4000, 0.0) == 1.0


def test_two_moons_oracle_beats_a_trained_rule_on_the_same_points():
    """The Bayes rule is the best rule in expectation: on 20,000 points at noise 0.3 it is at
    least as accurate as a nearest-arc-point rule (the noiseless limit of the same model)."""
    rng = np.random.default_rng(1)
    n = 20_000
    x, y = two_moons(rng, n, noise=0.3)
    bayes = activation_functions.oracle_accuracy(x, y, n, 0.3)
    arcs = activation_functions._arcs(n)
    dist = [np.min(((x[:, None, :] - a[None, ::50]) ** 2).sum(-1), axis=1) for a in arcs]
    nearest = float(((dist[1] < dist[0]).astype(np.int64) == y).mean())
    assert bayes >= nearest - 0.002 and 0.8 < bayes < 0.99


@pytest.mark.claim
def test_claim_activation_functions():
    out = _run("activation-functions")
    assert out.verdict.status == "reproduced"
    assert sorted(out.table.seed.unique()) == list(range(12))  # issue 16 §3: a power calculation
    _near(out, "seed's oracle − identity", 0.104, (0.089, 0.120))  # identity .895, source ≈ .89
    _near(out, "smooth non-linearities − sign", 0.054, (0.027, 0.081))  # sign .94, source .97
    for act in ("relu", "tanh", "square", "sin"):
        assert _evidence(out, act).estimate >= -0.016  # accuracy − oracle (oracle ≈ .998)


def test_a_linear_classifier_that_does_not_learn_fails_the_control():
    """An identity network at chance is a failed run, not linearity: the claim is then
    inconclusive (control failed), whatever the other rows say."""
    t = _run("activation-functions", "quick", seeds=(0, 1)).table.copy()
    t.loc[(t.metric == "test_accuracy") & (t.activation == "identity"), "value"] = 0.5
    v = activation_functions.judge(t)
    assert v.status == "inconclusive" and "control failed" in v.parts[0].reason
    assert "identity" in v.parts[0].reason
    t.loc[t.metric == "bayes_ceiling", "value"] = 0.9  # the moons no longer allow ≈ 1.0
    assert "Bayes ceiling" in activation_functions.judge(t).parts[0].reason
