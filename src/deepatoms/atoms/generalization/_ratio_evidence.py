"""Shared by random-labels and sharp-minima: evidence rows about ratios, judged on log ratios (the t
interval of the mean log ratio) and shown as the geometric-mean factor with its interval."""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ... import stats
from ...verdict import Evidence


def factor_row(metric: str, ratio: np.ndarray, factor: float, larger: bool = True, *,
               setting: str = "", censored: np.ndarray | None = None,
               bound_note: str = "") -> Evidence:
    """Claim: the geometric mean of `ratio` (per seed) is above (`larger`) or below `factor`.
    `censored`: per seed, True where the ratio is only a lower bound."""
    logs = np.log(np.asarray(ratio, dtype=float))
    judge = stats.above if larger else stats.below
    ev = judge(metric, logs, math.log(factor), censored=censored, setting=setting)
    exp = lambda v: math.exp(v) if math.isfinite(v) else v
    note = ev.note
    if censored is not None and np.any(censored):
        cens = np.asarray(censored, dtype=bool)
        bounds = np.asarray(ratio, dtype=float)[cens]
        low = f" (≥ {bounds[np.isfinite(bounds)].min():.3g}×)" if np.isfinite(bounds).any() else ""
        note = (f"{bound_note or 'a lower bound'} in {int(cens.sum())} of {cens.size} "
                f"seeds{low}; decided by the exact sign test")
    elif ev.note:
        note = ev.note
    return dataclasses.replace(ev, estimate=exp(ev.estimate), ci_low=exp(ev.ci_low),
                               ci_high=exp(ev.ci_high), note=note,
                               threshold=f"{'>' if larger else '<'} {factor:g}×",
                               test=ev.test + " of log(ratio), shown as a factor")
