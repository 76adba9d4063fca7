"""Judging timings by rounds (the architecture atoms that measure speed).

A timing run alternates the methods in rounds: each round times every method once, back to
back, so whatever the machine does during a round (load, clock, cache) scales both methods'
times alike and cancels in the round's ratio. The replicate is the round, not the data seed
(the seed does not move a timing). Evidence over rounds:

- `faster_in_rounds`: "method A is faster than B" by the exact sign test over the rounds'
  ratios against 1; the factor is the median ratio with its distribution-free interval
  (order statistics), reported, not gated;
- `beyond_in_rounds`: a per-round quantity (lightweight-convolution's time-vs-length slope)
  above or below a threshold, by the same sign test;
- `grows_with_n`: "the speed-up grows with n" by the sign test over the rounds' slopes of
  log speed-up against log n (a factor of the machine, constant over n, cancels in the slope);
- `enough_rounds`: a positive control — a sign test over fewer rounds than `rounds_needed()`
  cannot decide even when every round agrees.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats as sps

from ...verdict import Evidence, confidence, one_sided_alpha
from ... import stats


def rounds_needed(alpha: float | None = None) -> int:
    """The fewest rounds whose unanimous sign test is significant at one-sided `alpha`."""
    alpha = one_sided_alpha() if alpha is None else alpha
    return max(1, math.ceil(math.log2(1 / alpha) + 1e-12))


def median_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, low, high): the distribution-free interval of the median from order statistics
    (the widest symmetric pair whose binomial coverage reaches the confidence level; the range
    when there are too few values for that, nan for fewer than two)."""
    x = np.sort(np.asarray(values, dtype=float))
    med = float(np.median(x)) if x.size else math.nan
    if x.size < 2:
        return med, math.nan, math.nan
    tail = (1 - confidence()) / 2
    k = 0  # x[k] … x[n−1−k] covers the median with probability 1 − 2·P(Binom(n, ½) ≤ k)
    while k + 1 < x.size - 2 - k and sps.binom.cdf(k + 1, x.size, 0.5) <= tail:
        k += 1
    return med, float(x[k]), float(x[x.size - 1 - k])


def _sign_row(metric: str, values: Sequence[float], threshold: float, claim: str,
              setting: str, what: str, greater: bool = True) -> Evidence:
    x = np.asarray(values, dtype=float)
    med, lo, hi = median_interval(x)
    p_for, p_against = (stats.sign_test(x, threshold, greater),
                        stats.sign_test(x, threshold, not greater))
    decision = True if p_for < one_sided_alpha() else False if p_against < one_sided_alpha() else None
    agree = int((x > threshold).sum()) if greater else int((x < threshold).sum())
    note = (f"{what} in {agree} of {x.size} rounds (range {x.min():.3g} – {x.max():.3g}); "
            f"a unanimous sign test needs ≥ {rounds_needed()} rounds")
    return Evidence(metric, med, lo, hi, int(x.size),
                    f"exact sign test over rounds (one-sided p {p_for:.2g}); median with its "
                    "order-statistic interval", claim, decision, note=note, setting=setting,
                    p_against=p_against)


def faster_in_rounds(metric: str, ratios: Sequence[float], *, setting: str = "",
                     claim: str = "faster in every round (ratio > 1, sign test over rounds)"
                     ) -> Evidence:
    """Claim: the per-round ratio slow method's time / fast method's time exceeds 1."""
    return _sign_row(metric, ratios, 1.0, claim, setting, "faster")


def beyond_in_rounds(metric: str, values: Sequence[float], threshold: float, *,
                     greater: bool, claim: str, what: str, setting: str = "") -> Evidence:
    """Claim: the per-round values lie above (`greater`) or below `threshold`, by the exact sign
    test over rounds."""
    return _sign_row(metric, values, threshold, claim, setting, what, greater)


def log_slopes(ns: Sequence[float], speedups: np.ndarray) -> np.ndarray:
    """Per round (row of `speedups`, one column per n), the least-squares slope of log speed-up
    against log n."""
    x = np.log(np.asarray(ns, dtype=float))
    y = np.log(np.asarray(speedups, dtype=float))
    xc = x - x.mean()
    return (y - y.mean(axis=1, keepdims=True)) @ xc / float(xc @ xc)


def grows_with_n(metric: str, ns: Sequence[float], speedups: np.ndarray, *, setting: str = ""
                 ) -> Evidence:
    """Claim: the speed-up grows with n (the per-round slope of log speed-up on log n > 0)."""
    return _sign_row(metric, log_slopes(ns, speedups), 0.0,
                     "slope > 0 (sign test over rounds)", setting, "growing")


def enough_rounds(metric: str, rounds: int, *, setting: str = "") -> Evidence:
    """The control: were enough rounds measured for the sign test to be able to decide?"""
    need = rounds_needed()
    return Evidence(metric, float(rounds), math.nan, math.nan, rounds, "count of rounds",
                    f">= {need} rounds", rounds >= need, setting=setting, part="*", control=True,
                    note=f"{rounds} rounds measured; passes at ≥ {need} (seeds × rounds per seed)")
