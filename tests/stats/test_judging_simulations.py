"""Simulations of the judging's error rates (issue 16 §1): the 5-seed floor of accuracies that
all agree, and false refutations of an atom with many rows. Fixed generators, a few seconds each."""
from __future__ import annotations

import numpy as np
import pytest

from deepatoms import stats
from deepatoms.verdict import combine, decide

N_POINTS = 100


# --- 1. the 5-seed floor ------------------------------------------------------------------------

@pytest.mark.parametrize("value,threshold", [(1.0, 0.95), (0.99, 0.95), (1.0, 0.98)])
def test_five_identical_accuracies_clearly_past_the_threshold_support(value, threshold):
    """5 seeds at 1.000 on 100 points are 500 of 500 correct: the exact lower bound .9926 clears
    .98; without the resolution the sign test's floor (1/32 > .025) leaves it undecided."""
    assert stats.above("acc", [value] * 5, threshold).supports is None
    ev = stats.above("acc", [value] * 5, threshold, n_points=N_POINTS)
    assert ev.supports is True and threshold < ev.ci_low <= value == ev.ci_high or ev.ci_high <= 1
    assert stats.below("err", [1 - value] * 5, 1 - threshold, n_points=N_POINTS).supports is True


def test_five_identical_differences_to_an_exact_ceiling_support():
    ev = stats.near_ceiling("acc − ceiling", [1.0] * 5, [1.0] * 5, 0.03, n_points=N_POINTS)
    assert ev.supports is True and -0.03 < ev.ci_low < 0 and ev.ci_high == 0


def test_an_exact_quantity_that_all_seeds_reach_is_compared_as_exact():
    assert stats.above("psnr", [100.0] * 5, 40.0).supports is None
    ev = stats.above("psnr", [100.0] * 5, 40.0, exact=True)
    assert ev.supports is True and ev.p_against is None and "exact" in ev.note
    assert stats.above("psnr", [30.0] * 5, 40.0, exact=True).supports is False


def _accuracies(rng: np.random.Generator, mean: float, sims: int, seeds: int) -> np.ndarray:
    """(sims, seeds) accuracies on N_POINTS test points whose population mean is `mean`: each
    seed's true accuracy is Beta(mean·200, (1 − mean)·200) (training noise), then binomial."""
    p = rng.beta(mean * 200, (1 - mean) * 200, size=(sims, seeds))
    return rng.binomial(N_POINTS, p) / N_POINTS


@pytest.mark.parametrize("threshold", [0.9, 0.97, 0.99])
def test_false_support_at_the_threshold_stays_at_most_alpha(threshold):
    """True mean accuracy on the threshold: 'supports' is a false positive. 4,000 experiments of
    5 seeds: ≤ 2.5% (+ 2 standard errors of the simulation)."""
    draws = _accuracies(np.random.default_rng(int(threshold * 1000)), threshold, 4000, 5)
    rate = np.mean([stats.above("acc", row, threshold, n_points=N_POINTS).supports is True
                    for row in draws])
    assert rate <= 0.025 + 2 * np.sqrt(0.025 * 0.975 / 4000)


# --- 2. multiplicity ----------------------------------------------------------------------------

ROWS, SIMS = 12, 1200


def _margin_atom(rng: np.random.Generator):
    """A 12-row atom whose claim holds at the margin: every row's true mean sits on its
    threshold, so each row alone contradicts in 2.5% of experiments."""
    return [stats.above(f"row {i}", rng.normal(0.5, 0.1, 5), 0.5, setting=f"r={i}")
            for i in range(ROWS)]


def test_false_refutation_of_a_twelve_row_atom_is_at_most_five_percent_with_holm():
    rng = np.random.default_rng(16)
    raw, holm = 0, 0
    for _ in range(SIMS):
        rows = _margin_atom(rng)
        raw += combine(rows) == "not reproduced"
        holm += decide(rows, "f").status == "not reproduced"
    # without the correction: 1 − .975¹² ≈ 26% of such atoms were refuted
    assert 0.20 <= raw / SIMS <= 0.32
    assert holm / SIMS <= 0.05


def test_a_contradiction_that_survives_holm_keeps_its_adjusted_p():
    strong = stats.above("bad", [0.1, 0.12, 0.09, 0.11, 0.1], 0.5)
    weak = stats.above("marginal", [0.45, 0.48, 0.47, 0.49, 0.46], 0.5)
    fine = [stats.above(f"ok {i}", [0.9, 0.91, 0.92, 0.9, 0.93], 0.5) for i in range(10)]
    assert weak.supports is False and weak.p_against > 0.0025
    v = decide([strong, weak, *fine], "f")
    assert v.status == "not reproduced"
    kept, dropped = v.evidence[0], v.evidence[1]
    assert kept.supports is False and kept.p_adjusted == pytest.approx(12 * strong.p_against)
    assert dropped.supports is None and "Holm" in dropped.note and dropped.p_adjusted >= 0.025
