"""The Gaussian pair's Bayes ceiling: closed form against Monte Carlo, per-seed variation."""
from __future__ import annotations

import math
import numpy as np
import pytest

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
