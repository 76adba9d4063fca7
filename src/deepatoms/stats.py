"""Statistics for verdicts: intervals with honest coverage at 3–10 seeds, and evidence builders.

Every function takes one documented array shape: `values` is (n_seeds,), one number per seed.

- Means and paired differences: Student-t interval (exact coverage for normal seed noise; a
  simulation in the tests checks 0.93–0.97 at n = 5). An interval of zero width (every seed gave
  the same number) is never support on its own: the decision then falls back to the exact sign
  test over seeds, which needs ≥ 6 seeds on one side of the threshold at the 95% level.
- Trends: Page's L test on the within-seed ranks (≥ 3 settings), per-seed Spearman ρ reported.
- Counts "in ≥ m of N seeds": exact, with a Clopper–Pearson interval for the rate.
- Censored values (a level never reached within the run) are bounds, not measurements: a row
  whose decision could flip if the bound were the true value is undecided.

The confidence level is 95% unless a caller (the adaptive-seeds procedure) sets another with
`at_confidence(level)`; judges pick it up without being told.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Iterator, Sequence

import numpy as np
from scipy import stats as sps

from .verdict import Evidence

CONFIDENCE = 0.95
_LEVEL: contextvars.ContextVar[float] = contextvars.ContextVar("confidence", default=CONFIDENCE)


def confidence() -> float:
    """The two-sided confidence level in force (0.95 unless `at_confidence` says otherwise)."""
    return _LEVEL.get()


@contextlib.contextmanager
def at_confidence(level: float) -> Iterator[None]:
    """Judge at another two-sided confidence level inside the block (e.g. a Bonferroni-adjusted
    level for one look of a sequential procedure)."""
    if not 0.5 <= level < 1:
        raise ValueError(f"confidence level must be in [0.5, 1), got {level}")
    token = _LEVEL.set(level)
    try:
        yield
    finally:
        _LEVEL.reset(token)


def _pct() -> str:
    return f"{100 * confidence():.4g}"


def mean_ci(values: Sequence[float], level: float | None = None) -> tuple[float, float, float]:
    """(mean, low, high): two-sided Student-t interval of the mean over seeds.

    One value or non-finite values (diverged runs): the interval is undefined (nan, nan).
    All values equal: the interval has zero width (reported, but never support by itself).
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("no values")
    est = float(x.mean())
    if x.size == 1 or not np.all(np.isfinite(x)):
        return est, math.nan, math.nan
    sd = float(x.std(ddof=1))
    if sd <= 1e-9 * max(1.0, abs(est)):  # equal up to float rounding (0.995 − 0.905 vs 0.99 − 0.9)
        return est, est, est
    half = float(sps.t.ppf(0.5 + (level or confidence()) / 2, x.size - 1)) * sd / math.sqrt(x.size)
    return est, est - half, est + half


def sign_test(values: Sequence[float], threshold: float, greater: bool = True) -> float:
    """One-sided exact sign test: p-value for "values are above (below) `threshold`" against
    "as likely on either side"; seeds exactly at the threshold are dropped."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x) & (x != threshold)]
    if x.size == 0:
        return 1.0
    k = int((x > threshold).sum()) if greater else int((x < threshold).sum())
    return float(sps.binomtest(k, x.size, 0.5, alternative="greater").pvalue)


def _alpha() -> float:
    """One-sided error rate of each direction of a two-sided interval at the level in force."""
    return (1 - confidence()) / 2


def _direction(values: np.ndarray, lo: float, hi: float, threshold: float, greater: bool
               ) -> bool | None:
    """Support when the interval clears the threshold in the claimed direction, contradiction
    when it clears it in the other; a zero-width interval defers to the exact sign test."""
    if math.isnan(lo) or math.isnan(hi):
        return None
    if lo == hi:
        if sign_test(values, threshold, greater) < _alpha():
            return True
        return False if sign_test(values, threshold, not greater) < _alpha() else None
    if greater:
        return True if lo > threshold else (False if hi < threshold else None)
    return True if hi < threshold else (False if lo > threshold else None)


def _censored_sign(x: np.ndarray, censored: np.ndarray, threshold: float, greater: bool
                   ) -> bool | None:
    """The decision when some values are only lower bounds (the true value is at least the number
    given). An interval over bounds is no interval of the values (raising a bound widens it), so
    the exact sign test decides, each seed on the side it is known to be on: a bound above the
    threshold is above; a bound below it is on an unknown side and counts against both claims."""
    known_above = x > threshold
    known_below = ~censored & (x < threshold)
    n = int((censored | (x != threshold)).sum())
    ahead, behind = (known_above, known_below) if greater else (known_below, known_above)
    p = lambda k: float(sps.binomtest(int(k), n, 0.5, alternative="greater").pvalue) if n else 1.0
    return True if p(ahead.sum()) < _alpha() else (False if p(behind.sum()) < _alpha() else None)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _threshold_row(metric: str, values: Sequence[float], threshold: float, greater: bool,
                   claim: str, censored: Sequence[bool] | None, setting: str) -> Evidence:
    x = np.asarray(values, dtype=float)
    cens = None if censored is None else np.asarray(censored, dtype=bool)
    est, lo, hi = mean_ci(x)
    decision, note = _direction(x, lo, hi, threshold, greater), ""
    if cens is not None and cens.any():
        decision = _censored_sign(x, cens, threshold, greater)
        note = (f"censored in {int(cens.sum())} of {cens.size} seeds: the level was not reached, "
                f"so those values are lower bounds (≥ {_fmt(float(x[cens].min()))}); the mean is "
                f"≥ {_fmt(est)}; decided by the exact sign test")
    elif lo == hi and not math.isnan(lo):
        note = "every seed gave the same value: decided by the exact sign test, not the interval"
    word = ">" if greater else "<"
    return Evidence(metric, est, lo, hi, len(x), f"t {_pct()}% CI of the mean",
                    claim or f"{word} {_fmt(threshold)}", decision, note=note, setting=setting)


def above(metric: str, values: Sequence[float], threshold: float, claim: str = "", *,
          censored: Sequence[bool] | None = None, setting: str = "") -> Evidence:
    """Claim: the mean over seeds exceeds `threshold` (supported if the whole CI is above it).
    `censored`: per seed, True where the value is only a lower bound."""
    return _threshold_row(metric, values, threshold, True, claim, censored, setting)


def below(metric: str, values: Sequence[float], threshold: float, claim: str = "", *,
          censored: Sequence[bool] | None = None, setting: str = "") -> Evidence:
    """Claim: the mean over seeds is below `threshold` (supported if the whole CI is below it)."""
    return _threshold_row(metric, values, threshold, False, claim, censored, setting)


def difference(metric: str, a: Sequence[float], b: Sequence[float], margin: float = 0.0,
               claim: str = "", *, setting: str = "") -> Evidence:
    """Claim: mean(a − b) > margin, paired by seed (a and b aligned seed by seed). A negative
    margin makes it a non-inferiority claim ("a is at most |margin| worse than b")."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    est, lo, hi = mean_ci(d)
    return Evidence(metric, est, lo, hi, len(d), f"paired t {_pct()}% CI of the mean difference",
                    claim or f"difference > {_fmt(margin)}", _direction(d, lo, hi, margin, True),
                    setting=setting)


def near_ceiling(metric: str, values: Sequence[float], ceiling: Sequence[float], gap: float,
                 claim: str = "", *, setting: str = "") -> Evidence:
    """Claim: each seed's accuracy is within `gap` of that seed's best possible accuracy (its
    oracle), on average: mean(value − ceiling) > −gap, paired by seed."""
    return difference(metric, values, ceiling, -gap,
                      claim or f"within {_fmt(gap)} of the seed's ceiling", setting=setting)


def _page_p(v: np.ndarray) -> float:
    """One-sided p of Page's L test that columns rise within rows; 1 where rows are all ties."""
    if v.shape[0] < 2 or v.shape[1] < 3 or np.all(np.ptp(v, axis=1) == 0):
        return 1.0
    return float(sps.page_trend_test(v).pvalue)


def trend(metric: str, settings: Sequence[float], values: np.ndarray, increasing: bool = True,
          claim: str = "", *, setting: str = "") -> Evidence:
    """Claim: the metric rises (or falls) with the setting.

    values: (n_seeds, n_settings). The estimate is the mean over seeds of the per-seed Spearman
    ρ between setting and metric, with its t interval. With ≥ 3 settings and ≥ 2 seeds the
    decision is Page's L test of ordered alternatives on the within-seed ranks (one-sided, in
    each direction); with 2 settings, the interval of ρ (sign test when it has zero width).
    """
    v = np.asarray(values, dtype=float)
    x = np.asarray(settings, dtype=float)
    v = v[:, np.argsort(x, kind="stable")]
    rhos = np.array([0.0 if np.ptp(row) == 0 else float(sps.spearmanr(np.arange(row.size), row).statistic)
                     for row in v])
    est, lo, hi = mean_ci(rhos)
    word = "increases" if increasing else "decreases"
    if v.shape[1] >= 3 and v.shape[0] >= 2 and np.all(np.isfinite(v)):
        up, down = _page_p(v), _page_p(-v)
        p_claim, p_other = (up, down) if increasing else (down, up)
        decision = True if p_claim < _alpha() else (False if p_other < _alpha() else None)
        test = f"Page's L trend test (one-sided p {p_claim:.2g}); per-seed Spearman ρ, t {_pct()}% CI"
    else:
        signed = rhos if increasing else -rhos
        _, s_lo, s_hi = mean_ci(signed)
        decision = _direction(signed, s_lo, s_hi, 0.0, True)
        test = f"per-seed Spearman ρ, t {_pct()}% CI of the mean"
    return Evidence(metric, est, lo, hi, len(rhos), test,
                    claim or f"{word} with the setting", decision, setting=setting)


def _clopper_pearson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=confidence(), method="exact")
    return float(ci.low), float(ci.high)


def count_at_least(metric: str, hits: Sequence[bool], required: int, claim: str = "", *,
                   setting: str = "") -> Evidence:
    """Claim: an event happened in at least `required` of the seeds run (an exact count of what
    was observed; the Clopper–Pearson interval of its rate is reported beside it)."""
    h = np.asarray(hits, dtype=bool)
    n, k = h.size, int(h.sum())
    lo, hi = _clopper_pearson(k, n)
    return Evidence(metric, k / n if n else math.nan, lo, hi, n,
                    f"count over seeds (Clopper–Pearson {_pct()}% CI of the rate)",
                    claim or f">= {required} of {n} seeds", k >= required if n else None,
                    note=f"{k} of {n} seeds", setting=setting)


def rate_above(metric: str, hits: Sequence[bool], rate: float, claim: str = "", *,
               setting: str = "") -> Evidence:
    """Claim: the event happens in more than a fraction `rate` of seeds (inference about the
    process, not the seeds run): supported if the Clopper–Pearson interval is above `rate`,
    contradicted if it is below."""
    h = np.asarray(hits, dtype=bool)
    n, k = h.size, int(h.sum())
    lo, hi = _clopper_pearson(k, n)
    decision = None if n == 0 else (True if lo > rate else (False if hi < rate else None))
    return Evidence(metric, k / n if n else math.nan, lo, hi, n,
                    f"exact binomial (Clopper–Pearson {_pct()}% CI of the rate)",
                    claim or f"rate > {_fmt(rate)}", decision, note=f"in {k} of {n} seeds",
                    setting=setting)


def rate_below(metric: str, hits: Sequence[bool], rate: float, claim: str = "", *,
               setting: str = "") -> Evidence:
    """Claim: the event happens in fewer than a fraction `rate` of seeds."""
    ev = rate_above(metric, hits, rate, claim or f"rate < {_fmt(rate)}", setting=setting)
    flipped = None if ev.supports is None else (not ev.supports)
    return Evidence(ev.metric, ev.estimate, ev.ci_low, ev.ci_high, ev.n, ev.test, ev.threshold,
                    flipped, note=ev.note, setting=ev.setting)
