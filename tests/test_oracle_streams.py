"""The Gaussian pair's closed-form Bayes ceiling against Monte Carlo, and per-atom random streams."""
from __future__ import annotations

import math

import numpy as np
import pytest

from deepatoms import registry
from deepatoms.data.gaussian import (bayes_accuracy, class_means, gaussian_pair,
                                     gaussian_pair_with_ceiling, mixing_matrix)
from deepatoms.lab import Lab


def _monte_carlo_bayes(c: np.ndarray, mu: np.ndarray, prior1: float, n: int, rng) -> float:
    """Accuracy of the likelihood-ratio rule with the true parameters on n fresh points."""
    sigma = c.T @ c
    w = np.linalg.solve(sigma, mu)
    y = rng.random(n) < prior1
    x = rng.standard_normal((n, len(mu))) @ c + np.where(y[:, None], mu, 0.0)
    score = x @ w - w @ mu / 2  # log-likelihood ratio of class 1 vs class 0
    guess = score > math.log((1 - prior1) / prior1)
    return float((guess == y).mean())


@pytest.mark.parametrize("seed,prior1", [(0, 0.5), (1, 0.5), (2, 0.5), (3, 0.2), (4, 0.01)])
def test_closed_form_ceiling_matches_monte_carlo(seed, prior1):
    rng = np.random.default_rng(seed)
    c, mu = mixing_matrix(rng, 12), class_means(12, "1/i")
    exact = bayes_accuracy(c, mu, prior1)
    n = 200_000
    mc = _monte_carlo_bayes(c, mu, prior1, n, rng)
    se = math.sqrt(exact * (1 - exact) / n)
    assert abs(mc - exact) < 4 * se + 1e-4
    assert max(prior1, 1 - prior1) <= exact <= 1.0


def test_ceiling_varies_by_seed_as_the_audit_found():
    lab = Lab([0], stream="probe")
    ceilings = [gaussian_pair_with_ceiling(lab.numpy_rng(s, "data"), 20, 12)[2] for s in range(40)]
    assert 0.7 < min(ceilings) < 0.85 and max(ceilings) > 0.99
    assert 0.1 < np.mean(np.asarray(ceilings) < 0.9) < 0.5


def test_gaussian_pair_is_unchanged_by_the_ceiling_variant():
    a = gaussian_pair(np.random.default_rng(3), 50, 6)
    b = gaussian_pair_with_ceiling(np.random.default_rng(3), 50, 6)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_labs_of_different_streams_draw_independent_data():
    a, b = Lab([0], stream="initialization"), Lab([0], stream="loss-functions")
    assert a.numpy_rng(0, "data").random() != b.numpy_rng(0, "data").random()
    same = Lab([0], stream="initialization")
    assert a.numpy_rng(0, "data").random() == same.numpy_rng(0, "data").random()
    ga, gs = a.torch_generator(0, "init"), same.torch_generator(0, "init")
    assert ga.initial_seed() == gs.initial_seed() != b.torch_generator(0, "init").initial_seed()


def test_every_atom_has_its_own_stream_unless_it_names_a_shared_protocol():
    atoms = registry.all_atoms().values()
    streams: dict[str, list[str]] = {}
    for atom in atoms:
        streams.setdefault(atom.stream, []).append(atom.name)
    for stream, names in streams.items():
        if len(names) > 1:  # shared on purpose ("same data as X"): X owns it, the others name it
            assert stream in names, (stream, names)
            assert all(registry.get(n).data_stream == stream for n in names if n != stream), names
    assert streams["loss-functions"] == ["initialization", "loss-functions"]  # CATALOG §10
    assert sorted(streams["layer-convergence"]) == ["layer-convergence", "weight-regularization"]
