"""Statistics for verdicts: bootstrap CIs across seeds and evidence builders.

Every function takes one documented array shape: `values` is (n_seeds,), one number per seed.
Bootstrap resampling uses its own fixed generator, so a verdict is a pure function of the table.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats as sps

from .verdict import Evidence

CONFIDENCE = 0.95
N_RESAMPLES = 2000


def bootstrap_ci(values: Sequence[float], statistic=np.mean, seed: int = 0,
                 confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(estimate, low, high): percentile bootstrap CI of `statistic` over seeds.

    One value: the CI is undefined (nan, nan). All values equal: the CI is that value.
    Non-finite values (diverged runs) make the estimate and CI non-finite.
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("no values")
    est = float(statistic(x))
    if not np.all(np.isfinite(x)):
        return est, math.nan, math.nan
    if x.size == 1:
        return est, math.nan, math.nan
    if np.ptp(x) == 0:
        return est, est, est
    res = sps.bootstrap((x,), statistic, n_resamples=N_RESAMPLES, confidence_level=confidence,
                        method="percentile", rng=np.random.default_rng(seed), vectorized=True)
    return est, float(res.confidence_interval.low), float(res.confidence_interval.high)


def _direction(lo: float, hi: float, threshold: float, greater: bool) -> bool | None:
    if math.isnan(lo) or math.isnan(hi):
        return None
    if greater:
        return True if lo > threshold else (False if hi < threshold else None)
    return True if hi < threshold else (False if lo > threshold else None)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def above(metric: str, values: Sequence[float], threshold: float, claim: str = "") -> Evidence:
    """Claim: the mean over seeds exceeds `threshold` (supported if the whole CI is above it)."""
    est, lo, hi = bootstrap_ci(values)
    return Evidence(metric, est, lo, hi, len(values), "bootstrap 95% CI of the mean",
                    claim or f"> {_fmt(threshold)}", _direction(lo, hi, threshold, True))


def below(metric: str, values: Sequence[float], threshold: float, claim: str = "") -> Evidence:
    """Claim: the mean over seeds is below `threshold` (supported if the whole CI is below it)."""
    est, lo, hi = bootstrap_ci(values)
    return Evidence(metric, est, lo, hi, len(values), "bootstrap 95% CI of the mean",
                    claim or f"< {_fmt(threshold)}", _direction(lo, hi, threshold, False))


def difference(metric: str, a: Sequence[float], b: Sequence[float], margin: float = 0.0,
               claim: str = "") -> Evidence:
    """Claim: mean(a − b) > margin, paired by seed (a and b aligned seed by seed)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    est, lo, hi = bootstrap_ci(d)
    return Evidence(metric, est, lo, hi, len(d), "paired bootstrap 95% CI of the mean difference",
                    claim or f"difference > {_fmt(margin)}", _direction(lo, hi, margin, True))


def trend(metric: str, settings: Sequence[float], values: np.ndarray, increasing: bool = True,
          claim: str = "") -> Evidence:
    """Claim: the metric rises (or falls) with the setting.

    values: (n_seeds, n_settings). Per seed, Spearman's ρ between setting and metric; the
    evidence is the bootstrap CI of the mean ρ over seeds (supported if it excludes 0 in the
    claimed direction).
    """
    v = np.asarray(values, dtype=float)
    x = np.asarray(settings, dtype=float)
    rhos = []
    for row in v:
        if np.ptp(row) == 0:
            rhos.append(0.0)
        else:
            rhos.append(float(sps.spearmanr(x, row).statistic))
    rhos_arr = np.asarray(rhos) if increasing else -np.asarray(rhos)
    est, lo, hi = bootstrap_ci(rhos_arr)
    sign = 1 if increasing else -1
    word = "increases" if increasing else "decreases"
    return Evidence(metric, sign * est, *(sorted((sign * lo, sign * hi))), len(rhos),
                    "per-seed Spearman ρ, bootstrap 95% CI of the mean",
                    claim or f"{word} with the setting (ρ CI excludes 0)",
                    _direction(lo, hi, 0.0, True))


def count_at_least(metric: str, hits: Sequence[bool], required: int, claim: str = "") -> Evidence:
    """Claim: an event happens in at least `required` of the seeds (exact count, Wilson CI)."""
    h = np.asarray(hits, dtype=bool)
    n, k = h.size, int(h.sum())
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson") if n else None
    lo, hi = (ci.low, ci.high) if ci else (math.nan, math.nan)
    return Evidence(metric, k / n if n else math.nan, lo, hi, n, "count over seeds (Wilson 95% CI)",
                    claim or f">= {required} of {n} seeds", k >= required)
