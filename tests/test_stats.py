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


# --- bootstrap_ci ---------------------------------------------------------------------------

def test_constant_values_give_a_ci_equal_to_the_value():
    assert stats.bootstrap_ci([0.25, 0.25, 0.25, 0.25]) == (0.25, 0.25, 0.25)


def test_one_value_gives_nan_ci():
    est, lo, hi = stats.bootstrap_ci([3.5])
    assert est == 3.5 and math.isnan(lo) and math.isnan(hi)


def test_no_values_rejected():
    with pytest.raises(ValueError):
        stats.bootstrap_ci([])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_make_the_ci_undefined(bad):
    est, lo, hi = stats.bootstrap_ci([1.0, 2.0, bad])
    assert not math.isfinite(est) and math.isnan(lo) and math.isnan(hi)


def test_ci_contains_the_mean_and_is_ordered():
    est, lo, hi = stats.bootstrap_ci(VALUES)
    assert est == pytest.approx(np.mean(VALUES))
    assert min(VALUES) <= lo < est < hi <= max(VALUES)


def test_bootstrap_equals_scipy_called_directly_with_the_same_generator():
    est, lo, hi = stats.bootstrap_ci(VALUES, seed=7)
    res = sps.bootstrap((np.asarray(VALUES),), np.mean, n_resamples=stats.N_RESAMPLES,
                        confidence_level=stats.CONFIDENCE, method="percentile",
                        rng=np.random.default_rng(7), vectorized=True)
    assert (lo, hi) == (float(res.confidence_interval.low), float(res.confidence_interval.high))
    assert est == float(np.mean(VALUES))


def test_same_input_same_ci_different_seed_different_ci():
    assert stats.bootstrap_ci(VALUES) == stats.bootstrap_ci(VALUES)
    assert stats.bootstrap_ci(VALUES, seed=0) != stats.bootstrap_ci(VALUES, seed=1)


def test_other_statistics_are_used():
    est, lo, hi = stats.bootstrap_ci(VALUES, statistic=np.median)
    assert est == float(np.median(VALUES)) and lo <= est <= hi


def test_global_numpy_rng_untouched():
    np.random.seed(123)
    before = np.random.get_state()
    stats.bootstrap_ci(VALUES)
    stats.above("m", VALUES, 0.1)
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]


# --- evidence builders -------------------------------------------------------------------------

@pytest.mark.parametrize("values,threshold,expected", [
    ([1.0, 1.0, 1.0], 0.5, True),       # CI (1, 1) above 0.5
    ([0.1, 0.1], 0.5, False),           # CI (0.1, 0.1) below
    ([0.0, 1.0, 0.0, 1.0], 0.5, None),  # CI straddles 0.5
    ([2.0], 0.5, None),                 # one seed: CI undefined
    ([1.0, math.nan], 0.5, None),       # diverged seed: CI undefined
])
def test_above(values, threshold, expected):
    ev = stats.above("acc", values, threshold)
    assert ev.supports is expected
    assert ev.n == len(values) and ev.metric == "acc" and ev.threshold == "> 0.5"


@pytest.mark.parametrize("values,threshold,expected", [
    ([0.1, 0.1, 0.1], 0.5, True),
    ([0.9, 0.9], 0.5, False),
    ([0.0, 1.0, 0.0, 1.0], 0.5, None),
])
def test_below(values, threshold, expected):
    ev = stats.below("loss", values, threshold, claim="loss < 0.5")
    assert ev.supports is expected and ev.threshold == "loss < 0.5"


def test_difference_is_paired_by_seed():
    a, b = [1.0, 2.0, 3.0, 4.0], [0.9, 1.9, 2.9, 3.9]  # a − b = 0.1 for every seed
    ev = stats.difference("a-b", a, b)
    assert ev.supports is True
    assert (ev.estimate, ev.ci_low, ev.ci_high) == pytest.approx((0.1, 0.1, 0.1))
    assert stats.difference("a-b", a, b, margin=0.2).supports is False
    # the same numbers unpaired (b reversed) vary in sign across seeds: undecided
    assert stats.difference("a-b", a, b[::-1]).supports is None


def test_trend_supports_contradicts_or_cannot_tell():
    settings = [1, 2, 4]
    rising = np.array([[0.1, 0.2, 0.3], [0.2, 0.5, 0.9], [0.0, 0.1, 0.15]])  # (seeds, settings)
    up = stats.trend("acc vs width", settings, rising)
    assert up.supports is True and (up.estimate, up.ci_low, up.ci_high) == (1.0, 1.0, 1.0)
    down = stats.trend("acc vs width", settings, rising, increasing=False)
    assert down.supports is False and down.estimate == 1.0
    falling = stats.trend("loss vs width", settings, rising[:, ::-1], increasing=False)
    assert falling.supports is True and falling.estimate == -1.0 and falling.ci_high == -1.0
    flat = stats.trend("flat", settings, np.ones((3, 3)))
    assert flat.supports is None and flat.estimate == 0.0
    mixed = stats.trend("mixed", settings, np.array([[1, 2, 3], [3, 2, 1], [1, 2, 3], [3, 2, 1.0]]))
    assert mixed.supports is None and mixed.estimate == 0.0


def test_count_at_least_is_exact_with_a_wilson_ci():
    ev = stats.count_at_least("solved", [True, True, False], required=2)
    assert ev.supports is True and ev.estimate == pytest.approx(2 / 3) and ev.n == 3
    ci = sps.binomtest(2, 3).proportion_ci(confidence_level=0.95, method="wilson")
    assert (ev.ci_low, ev.ci_high) == (ci.low, ci.high)
    assert stats.count_at_least("solved", [True, True, False], required=3).supports is False
    assert stats.count_at_least("solved", [False] * 5, required=1).estimate == 0.0


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
