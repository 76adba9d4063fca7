"""Exact intervals and tests for accuracies: a proportion of n test points per seed.

An accuracy has a resolution (1/n) that a spread over seeds cannot show when every seed scores
the same: five seeds at 1.000 on 100 points are 500 of 500 correct, which bounds the accuracy
below by .9926 (one-sided 97.5%), while the seeds alone (a zero-width interval) bound nothing.
These helpers pool the seeds' counts into one exact binomial interval.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats as sps


def pooled_counts(values: Sequence[float], n_points: int) -> tuple[int, int]:
    """(correct, total) over seeds of accuracies that are each a proportion of `n_points`."""
    if n_points < 1:
        raise ValueError(f"n_points must be ≥ 1, got {n_points}")
    x = np.asarray(values, dtype=float)
    return int(np.rint(x * n_points).sum()), int(x.size * n_points)


def clopper_pearson(k: int, n: int, level: float) -> tuple[float, float]:
    """Two-sided exact (Clopper–Pearson) interval of a rate at `level`; (nan, nan) for n = 0."""
    if n == 0:
        return math.nan, math.nan
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def binomial_p(k: int, n: int, rate: float, above: bool) -> float:
    """One-sided exact p of "the rate is above (below) `rate`" being wrong, i.e. of the data
    against it: the inversion of the Clopper–Pearson bound (p < α ⇔ the bound clears `rate`)."""
    if rate <= 0:
        return 1.0 if above else 0.0
    if rate >= 1:
        return 0.0 if above else 1.0
    alternative = "less" if above else "greater"
    return float(sps.binomtest(k, n, rate, alternative=alternative).pvalue)


def newcombe(ka: int, kb: int, n: int, level: float) -> tuple[float, float]:
    """Interval of the difference of two pooled rates (ka/n − kb/n) from each rate's exact
    interval (Newcombe's square-and-add). It treats the rates as independent; the arms of a seed
    share its test points, which correlates them positively, so the interval is conservative."""
    pa, pb = ka / n, kb / n
    la, ua = clopper_pearson(ka, n, level)
    lb, ub = clopper_pearson(kb, n, level)
    d = pa - pb
    return d - math.hypot(pa - la, ub - pb), d + math.hypot(ua - pa, pb - lb)


def newcombe_p(ka: int, kb: int, n: int, margin: float) -> float:
    """One-sided p of the data against "ka/n − kb/n > margin": the smallest one-sided error rate
    at which Newcombe's interval lies wholly below the margin (found by bisection)."""
    if ka / n - kb / n >= margin:
        return 1.0
    lo_a, hi_a = 1e-12, 0.5   # one-sided α; the interval's upper end falls as α rises
    if newcombe(ka, kb, n, 1 - 2 * lo_a)[1] < margin:
        return lo_a
    for _ in range(40):
        mid = (lo_a + hi_a) / 2
        if newcombe(ka, kb, n, 1 - 2 * mid)[1] < margin:
            hi_a = mid
        else:
            lo_a = mid
    return hi_a


def _empirical_logits(values: Sequence[float], n_points: int) -> np.ndarray:
    """Each seed's log((k + ½) / (n − k + ½)): finite at 0 and 1, and near symmetric where the
    accuracies crowd against a bound (the t interval of raw accuracies there is skewed and
    supports too often: 4–8% at a true mean of .97–.99 on 100 points, simulated)."""
    k = np.rint(np.asarray(values, dtype=float) * n_points)
    return np.log((k + 0.5) / (n_points - k + 0.5))


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))


def logit_t(values: Sequence[float], n_points: int, threshold: float, above: bool, level: float
            ) -> tuple[float, float, float]:
    """(low, high, p against): the Student-t interval of the seeds' empirical logits mapped back
    to accuracies (inside (0, 1)), and the one-sided p of the t test of the data against "the
    accuracy is above (below) `threshold`" on the same scale. Needs ≥ 2 seeds that differ."""
    z = _empirical_logits(values, n_points)
    mean, se = float(z.mean()), float(z.std(ddof=1)) / math.sqrt(z.size)
    half = float(sps.t.ppf(0.5 + level / 2, z.size - 1)) * se
    expit = lambda v: 1 / (1 + math.exp(-v))
    t = (mean - _logit(threshold)) / se
    p = sps.t.cdf(t, z.size - 1) if above else sps.t.sf(t, z.size - 1)
    return expit(mean - half), expit(mean + half), float(p)
