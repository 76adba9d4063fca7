"""Intervals stay inside the quantity's range, and a row's decision agrees with its printed
interval (issue 16 §1.6); exact rows and rows without a test stay outside Holm's correction."""
from __future__ import annotations

import numpy as np
import pytest

from deepatoms import stats
from deepatoms.verdict import decide, holm


def test_trend_rho_interval_stays_in_minus_one_one():
    # per-seed ρ −1, −1, −0.5: the plain t interval is [−1.55, −0.12]
    v = np.array([[3, 2, 1], [3, 2, 1], [2, 3, 1.0]])
    ev = stats.trend("t", [1, 2, 3], v, increasing=False)
    assert ev.ci_low == -1.0 and ev.ci_high == pytest.approx(-0.1162, abs=1e-4)
    wide = stats.trend("t", [1, 2], np.array([[1, 2], [2, 1], [1, 2.0]]))
    assert -1.0 <= wide.ci_low and wide.ci_high <= 1.0


def test_page_decision_that_its_rho_interval_does_not_back_is_undecided():
    """Page's test pools ranks and can reject while the mean ρ's interval straddles 0: the row
    then prints no decision its interval contradicts."""
    v = np.array([[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1.0]])
    ev = stats.trend("t", range(6), v)
    assert ev.ci_low < 0 < ev.ci_high
    assert ev.supports is None and "Page's test supports" in ev.note


def test_accuracy_bounds_cut_the_t_interval():
    est, lo, hi = stats.mean_ci([0.99, 1.0, 0.97, 1.0, 0.96], bounds=(0.0, 1.0))
    assert hi == 1.0 and lo == pytest.approx(stats.mean_ci([0.99, 1.0, 0.97, 1.0, 0.96])[1])
    ev = stats.above("acc", [0.99, 1.0, 0.97, 1.0, 0.96], 0.9, bounds=(0.0, 1.0))
    assert ev.ci_high == 1.0 and ev.supports is True


def test_accuracies_with_their_size_get_a_logit_interval_inside_zero_one():
    ev = stats.above("acc", [0.99, 1.0, 0.97, 1.0, 0.96], 0.9, n_points=100)
    assert 0.9 < ev.ci_low < ev.estimate < ev.ci_high < 1.0 and ev.supports is True
    assert "logit" in ev.test and ev.p_against > 0.9
    low = stats.below("acc", [0.02, 0.0, 0.01, 0.0, 0.03], 0.1, n_points=100)
    assert 0.0 < low.ci_low and low.ci_high < 0.1 and low.supports is True


def test_identical_accuracies_pool_their_points_exactly():
    ev = stats.above("acc", [1.0] * 5, 0.99, n_points=100)   # 500 of 500: lower bound .9926
    assert ev.ci_low == pytest.approx(0.025 ** (1 / 500)) and ev.ci_high == 1.0
    assert ev.supports is True and "500 of 500" in ev.note
    assert stats.above("acc", [1.0] * 5, 0.995, n_points=100).supports is None
    assert stats.above("acc", [0.9] * 5, 0.95, n_points=100).supports is False


def test_identical_differences_of_two_accuracies_use_newcombe():
    ev = stats.difference("a − b", [1.0] * 5, [1.0] * 5, -0.03, n_points=100)
    assert ev.supports is True and -0.03 < ev.ci_low < 0 < ev.ci_high and "Newcombe" in ev.test
    bad = stats.difference("a − b", [0.8] * 5, [1.0] * 5, -0.03, n_points=100)
    assert bad.supports is False and 0 < bad.p_against < 0.025


def test_exact_differences_are_compared_as_exact():
    assert stats.difference("psnr", [100.0] * 5, [100.0] * 5, -1.0).supports is None
    ev = stats.difference("psnr", [100.0] * 5, [100.0] * 5, -1.0, exact=True)
    assert ev.supports is True and ev.p_against is None


def test_rows_without_a_test_are_left_out_of_holm():
    count = stats.count_at_least("events", [True, False, False], 3)   # exact: 1 of 3 < 3
    tested = [stats.above(f"r{i}", [0.4, 0.45, 0.5, 0.42, 0.47], 0.6) for i in range(3)]
    rows = holm([count, *tested], alpha=0.025)
    assert rows[0].supports is False and rows[0].p_adjusted is None
    assert all(r.p_adjusted == pytest.approx(3 * t.p_against, rel=1e-9) or r.p_adjusted
               >= t.p_against for r, t in zip(rows[1:], tested))


def test_one_contradicting_row_alone_is_not_adjusted():
    ev = stats.above("m", [0.4, 0.45, 0.5, 0.42, 0.47], 0.6)
    v = decide([ev], "f")
    assert v.status == "not reproduced" and v.evidence[0].p_adjusted == ev.p_against


def test_holm_follows_the_confidence_in_force():
    """p = .0011 in each of 2 rows: adjusted .0021 < .025 refutes at 95%; at 99.7% (one-sided
    .0015) each row alone contradicts, but not after the correction."""
    rows = [stats.above(f"r{i}", [0.55, 0.56, 0.57, 0.56, 0.58], 0.6) for i in range(2)]
    assert rows[0].p_against == pytest.approx(0.001061, rel=1e-3)
    assert decide(rows, "f").status == "not reproduced"
    with stats.at_confidence(0.997):
        strict = [stats.above(f"r{i}", [0.55, 0.56, 0.57, 0.56, 0.58], 0.6) for i in range(2)]
        assert strict[0].supports is False and decide(strict, "f").status == "inconclusive"


def test_adjusted_p_survives_the_json_round_trip():
    v = decide([stats.above("m", [0.4, 0.45, 0.5, 0.42, 0.47], 0.6)], "f")
    from deepatoms.verdict import Verdict
    back = Verdict.from_dict(v.to_dict())
    assert back.evidence[0].p_adjusted == pytest.approx(v.evidence[0].p_adjusted)
