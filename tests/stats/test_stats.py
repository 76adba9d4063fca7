"""Exact-value tests of deepatoms.stats and deepatoms.verdict on tiny hand-made inputs."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from deepatoms import stats
from deepatoms.verdict import Evidence, Verdict, combine, decide

VALUES = [0.31, 0.42, 0.29, 0.55, 0.38, 0.47]


# --- mean_ci: Student-t interval --------------------------------------------------------------

def test_constant_values_give_a_zero_width_interval():
    assert stats.mean_ci([0.25, 0.25, 0.25, 0.25]) == (0.25, 0.25, 0.25)


def test_one_value_gives_nan_ci():
    est, lo, hi = stats.mean_ci([3.5])
    assert est == 3.5 and math.isnan(lo) and math.isnan(hi)


def test_no_values_rejected():
    with pytest.raises(ValueError):
        stats.mean_ci([])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_make_the_ci_undefined(bad):
    est, lo, hi = stats.mean_ci([1.0, 2.0, bad])
    assert not math.isfinite(est) and math.isnan(lo) and math.isnan(hi)


def test_t_interval_equals_scipy_by_hand():
    est, lo, hi = stats.mean_ci(VALUES)
    x = np.asarray(VALUES)
    half = sps.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    assert est == pytest.approx(x.mean())
    assert (lo, hi) == pytest.approx((x.mean() - half, x.mean() + half), rel=1e-12)
    ref = sps.ttest_1samp(x, 0).confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ref.low, ref.high), rel=1e-12)


def test_a_higher_level_gives_a_wider_interval():
    _, lo, hi = stats.mean_ci(VALUES)
    with stats.at_confidence(0.99):
        _, lo99, hi99 = stats.mean_ci(VALUES)
        assert stats.confidence() == 0.99
    assert stats.confidence() == stats.CONFIDENCE
    assert lo99 < lo and hi99 > hi


@pytest.mark.parametrize("n", [3, 5, 10])
def test_coverage_of_the_mean_interval_is_honest_at_few_seeds(n):
    """2,000 small experiments with a known mean: the 95% interval covers it 93–97% of the time."""
    rng = np.random.default_rng(12345 + n)
    draws = rng.normal(0.8, 0.05, size=(2000, n))
    covered = [lo <= 0.8 <= hi for lo, hi in (stats.mean_ci(row)[1:] for row in draws)]
    assert 0.93 <= np.mean(covered) <= 0.97


def test_support_rate_at_the_threshold_is_at_most_alpha():
    """When the true mean equals the threshold, 'supports' is a false positive: ≤ 2.5% + noise."""
    rng = np.random.default_rng(7)
    draws = rng.normal(0.5, 0.1, size=(2000, 5))
    false_support = np.mean([stats.above("m", row, 0.5).supports is True for row in draws])
    assert false_support <= 0.035


def test_global_numpy_rng_untouched():
    np.random.seed(123)
    before = np.random.get_state()
    stats.mean_ci(VALUES)
    stats.above("m", VALUES, 0.1)
    stats.trend("t", [1, 2, 3], np.array([[1, 2, 3], [1, 3, 2.0]]))
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]


# --- zero-width intervals never support by themselves -------------------------------------------

def test_zero_width_interval_defers_to_the_exact_sign_test():
    ev3 = stats.below("slope", [-0.866] * 3, -0.5)  # the audit's [-0.866, -0.866] on 3 seeds
    assert (ev3.ci_low, ev3.ci_high) == (-0.866, -0.866) and ev3.supports is None
    assert "sign test" in ev3.note
    assert stats.above("acc", [1.0] * 5, 0.9).supports is None   # p = 1/32 > 0.025
    assert stats.above("acc", [1.0] * 6, 0.9).supports is True   # p = 1/64 < 0.025
    assert stats.above("acc", [0.1] * 6, 0.9).supports is False


def test_values_equal_up_to_rounding_are_a_zero_width_interval():
    a, b = [0.995 - 0.905, 0.93 - 0.84], 0.05  # both 0.09, but not bitwise
    assert a[0] != a[1]
    est, lo, hi = stats.mean_ci(a)
    assert lo == hi == est and stats.above("gap", a, b).supports is None


def test_sign_test_values():
    assert stats.sign_test([1, 1, 1, 1, 1], 0) == pytest.approx(1 / 32)
    assert stats.sign_test([1, 1, -1], 0) == pytest.approx(0.5)
    assert stats.sign_test([0, 0], 0) == 1.0  # ties dropped: nothing to test


# --- evidence builders -------------------------------------------------------------------------

@pytest.mark.parametrize("values,threshold,expected", [
    ([0.9, 1.0, 0.95], 0.5, True),      # CI above 0.5
    ([1.0] * 7, 0.5, True),             # zero width, but 7 of 7 above: sign test p < 0.025
    ([0.1, 0.12], 0.5, False),          # CI below
    ([0.0, 1.0, 0.0, 1.0], 0.5, None),  # CI straddles 0.5
    ([2.0], 0.5, None),                 # one seed: CI undefined
    ([1.0, math.nan], 0.5, None),       # diverged seed: CI undefined
])
def test_above(values, threshold, expected):
    ev = stats.above("acc", values, threshold)
    assert ev.supports is expected
    assert ev.n == len(values) and ev.metric == "acc" and ev.threshold == "> 0.5"


@pytest.mark.parametrize("values,threshold,expected", [
    ([0.1, 0.11, 0.12], 0.5, True),
    ([0.9, 0.91], 0.5, False),
    ([0.0, 1.0, 0.0, 1.0], 0.5, None),
])
def test_below(values, threshold, expected):
    ev = stats.below("loss", values, threshold, claim="loss < 0.5")
    assert ev.supports is expected and ev.threshold == "loss < 0.5"


def test_difference_is_paired_by_seed():
    a, b = [1.0, 2.0, 3.0, 4.0], [0.9, 1.88, 2.91, 3.89]  # a − b ≈ 0.1 for every seed
    ev = stats.difference("a-b", a, b)
    assert ev.supports is True
    assert ev.estimate == pytest.approx(0.105) and ev.ci_low < ev.estimate < ev.ci_high
    assert stats.difference("a-b", a, b, margin=0.2).supports is False
    assert stats.difference("a-b", a, b, margin=-0.05).supports is True  # non-inferiority
    # the same numbers unpaired (b reversed) vary in sign across seeds: undecided
    assert stats.difference("a-b", a, b[::-1]).supports is None


def test_trend_supports_contradicts_or_cannot_tell():
    settings = [1, 2, 4]
    rising = np.array([[0.1, 0.2, 0.3], [0.2, 0.5, 0.9], [0.0, 0.1, 0.15]])  # (seeds, settings)
    up = stats.trend("acc vs width", settings, rising)
    # 3 seeds, perfectly ordered: Page's exact p = (1/6)^3 < 0.025
    assert up.supports is True and up.estimate == 1.0 and "Page" in up.test
    down = stats.trend("acc vs width", settings, rising, increasing=False)
    assert down.supports is False and down.estimate == 1.0
    falling = stats.trend("loss vs width", settings, rising[:, ::-1], increasing=False)
    assert falling.supports is True and falling.estimate == -1.0
    flat = stats.trend("flat", settings, np.ones((3, 3)))
    assert flat.supports is None and flat.estimate == 0.0
    mixed = stats.trend("mixed", settings, np.array([[1, 2, 3], [3, 2, 1], [1, 2, 3], [3, 2, 1.0]]))
    assert mixed.supports is None and mixed.estimate == 0.0


def test_trend_orders_settings_given_out_of_order():
    v = np.array([[0.3, 0.1, 0.2], [0.9, 0.2, 0.5], [0.15, 0.0, 0.1]])  # columns: settings 4, 1, 2
    assert stats.trend("t", [4, 1, 2], v).supports is True


def test_trend_p_value_matches_scipy_page():
    v = np.array([[0.1, 0.3, 0.2], [0.2, 0.5, 0.9], [0.0, 0.1, 0.15], [0.3, 0.2, 0.4]])
    ev = stats.trend("t", [1, 2, 3], v)
    p = sps.page_trend_test(v).pvalue
    assert f"{p:.2g}" in ev.test


def test_two_settings_trend_uses_the_sign_of_rho():
    v = np.array([[0.1, 0.2]] * 7)
    assert stats.trend("t", [1, 2], v).supports is True  # 7 of 7 rise: sign test
    assert stats.trend("t", [1, 2], v[:5]).supports is None  # 5 of 5: p = 1/32, undecided


def test_count_at_least_is_exact_with_a_clopper_pearson_ci():
    ev = stats.count_at_least("solved", [True, True, False], required=2)
    assert ev.supports is True and ev.estimate == pytest.approx(2 / 3) and ev.n == 3
    ci = sps.binomtest(2, 3).proportion_ci(confidence_level=0.95, method="exact")
    assert (ev.ci_low, ev.ci_high) == (ci.low, ci.high)
    assert ev.note == "2 of 3 seeds"
    assert stats.count_at_least("solved", [True, True, False], required=3).supports is False
    assert stats.count_at_least("solved", [False] * 5, required=1).estimate == 0.0


def test_rate_above_and_below_are_inference_on_the_rate():
    assert stats.rate_above("escapes", [True] * 5, 0.5).supports is None  # CP low .478
    assert stats.rate_above("escapes", [True] * 6, 0.5).supports is True
    assert stats.rate_above("escapes", [False] * 6, 0.5).supports is False
    ev = stats.rate_above("escapes", [True] * 14 + [False] * 6, 0.3)
    assert ev.supports is True and ev.note == "in 14 of 20 seeds"
    assert stats.rate_below("stuck", [False] * 6, 0.5).supports is True
    assert stats.rate_below("stuck", [True] * 6, 0.5).supports is False
    assert stats.rate_below("stuck", [True, False, True], 0.5).supports is None


# --- censored measurements ---------------------------------------------------------------------

def test_censored_values_never_contradict_an_above_claim():
    # the audit: time-to-75% is the last step (1,500) when never reached; claim > 2,000 steps
    reach, censored = [1500.0, 1500.0, 1500.0], [True, True, True]
    ev = stats.above("steps to 75%", reach, 2000, censored=censored)
    assert ev.supports is None and "≥ 1.5e+03" in ev.note and "3 of 3" in ev.note
    uncensored = stats.above("steps to 75%", [1500.0, 1490.0, 1510.0], 2000)
    assert uncensored.supports is False


def test_censored_values_can_still_support_an_above_claim():
    ev = stats.above("steps", [6000.0, 6500.0, 20000.0, 7000.0, 5000.0, 9000.0], 2000,
                     censored=[False, False, True, False, False, False])
    assert ev.supports is True and "1 of 6" in ev.note
    # a bound below the threshold is on an unknown side: it cannot count for the claim
    ev = stats.above("steps", [6000.0, 6500.0, 1500.0, 7000.0, 5000.0, 9000.0], 2000,
                     censored=[False, False, True, False, False, False])
    assert ev.supports is None


def test_censored_values_can_only_undecide_a_below_claim():
    ev = stats.below("steps", [100.0, 110.0, 120.0], 1000, censored=[False, True, False])
    assert ev.supports is None
    ev = stats.below("steps", [5000.0, 5100.0, 5200.0, 5300, 5400, 5500], 1000,
                     censored=[False, True, False, False, False, False])
    assert ev.supports is False


def test_setting_is_carried_on_the_row():
    ev = stats.above("d=28: acc", [0.5, 0.52, 0.51], 0.9, setting="d=28")
    assert ev.setting == "d=28"


# --- verdicts ----------------------------------------------------------------------------------

def _ev(supports: bool | None, estimate: float = 1.0) -> Evidence:
    return Evidence("m", estimate, 0.5, 1.5, 5, "test", "> 0", supports)


@pytest.mark.parametrize("flags,status", [
    ([True], "reproduced"),
    ([True, True, True], "reproduced"),
    ([True, None], "inconclusive"),
    ([None], "inconclusive"),
    ([True, False], "not reproduced"),
    ([None, False, True], "not reproduced"),
    ([False], "not reproduced"),
])
def test_combine_rules(flags, status):
    assert combine([_ev(f) for f in flags]) == status
    assert decide([_ev(f) for f in flags], "finding").status == status


def test_verdict_needs_evidence_and_a_known_status():
    with pytest.raises(ValueError):
        decide([], "no evidence")
    with pytest.raises(ValueError):
        Verdict("maybe", "x", (_ev(True),))


def test_evidence_and_verdict_round_trip_with_nan():
    evs = (Evidence("m", math.nan, math.nan, math.nan, 1, "t", "> 0", None),
           Evidence("k", 0.75, 0.5, 0.9, 4, "t", ">= 3 of 4", True),
           Evidence("d", -0.1, -0.2, -0.05, 5, "t", "difference > 0", False))
    verdict = decide(list(evs), "one sentence.")
    d = verdict.to_dict()
    assert d["evidence"][0]["estimate"] is None and d["evidence"][0]["ci_low"] is None
    text = json.dumps(d, allow_nan=False)  # valid JSON: no NaN literals
    back = Verdict.from_dict(json.loads(text))
    assert back.status == "not reproduced" and back.finding == "one sentence."
    assert math.isnan(back.evidence[0].estimate) and math.isnan(back.evidence[0].ci_high)
    assert back.evidence[1:] == evs[1:]
    assert back.evidence[0].supports is None and back.evidence[0].n == 1


def test_infinite_estimate_is_stored_as_null():
    d = Evidence("loss", math.inf, math.nan, math.nan, 3, "t", "< 1", None).to_dict()
    assert d["estimate"] is None
    assert math.isnan(Evidence.from_dict(d).estimate)
