"""Judge and figures of test-set-reuse (from its table alone)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats as sps

from ... import stats
from ...figures import new_figure
from ...verdict import decide

ADAPTIVE_HALF_WIDTHS = 2.0  # "within a few CI widths": selected model's gap < 2 binomial half-widths
DROP_MIN = 0.02             # "every model drops": by more than 2 points on average ...
DROP_RATE = 0.9             # ... and at least 90 % of the models drop
TAU_MIN = 0.7               # "ranking preserved": Kendall τ old vs shifted above this
R2_MIN = 0.9                # "new ≈ linear in old": R² of the least-squares line above this


def wide(table: pd.DataFrame) -> pd.DataFrame:
    return table.pivot_table(index=["seed", "config"], columns="metric", values="value").reset_index()


def per_seed(table: pd.DataFrame) -> pd.DataFrame:
    """One row per seed with the quantities the claim is about."""
    w = wide(table)
    n = float(table.n_test.iloc[0])
    rows = []
    for s, g in w.groupby("seed"):
        best = g.loc[g.acc_old.idxmax()]
        half = 1.96 * np.sqrt(best.acc_old * (1 - best.acc_old) / n)
        drop = g.acc_old - g.acc_shift
        fit = sps.linregress(g.acc_old, g.acc_shift)
        rows.append(dict(seed=s, adaptive_gap=best.acc_old - best.acc_same,
                         gap_half_widths=(best.acc_old - best.acc_same) / max(half, 1e-12),
                         mean_gap_same=float((g.acc_old - g.acc_same).mean()),
                         mean_drop=float(drop.mean()), rate_drop=float((drop > 0).mean()),
                         tau=float(sps.kendalltau(g.acc_old, g.acc_shift).statistic),
                         tau_same=float(sps.kendalltau(g.acc_old, g.acc_same).statistic),
                         r2=float(fit.rvalue ** 2), slope=float(fit.slope),
                         best_old=best.acc_old, best_same=best.acc_same, best_shift=best.acc_shift))
    return pd.DataFrame(rows).set_index("seed")


def judge(table: pd.DataFrame):
    s = per_seed(table)
    ev = [stats.below("selected model: (old − fresh same-process) / 95% half-width",
                      s.gap_half_widths, ADAPTIVE_HALF_WIDTHS),
          stats.above("shifted process: mean accuracy drop over models", s.mean_drop, DROP_MIN),
          stats.above("shifted process: fraction of models that drop", s.rate_drop, DROP_RATE),
          stats.above("Kendall τ, old vs shifted accuracy", s.tau, TAU_MIN),
          stats.above("R² of shifted vs old accuracy (linear fit)", s.r2, R2_MIN)]
    return decide(ev, _finding(s))


def _finding(s: pd.DataFrame) -> str:
    return (f"Selected model: {s.best_old.mean():.3f} on the reused test set, "
            f"{s.best_same.mean():.3f} on a fresh same-process draw (gap "
            f"{s.adaptive_gap.mean():+.3f}, {s.gap_half_widths.mean():.2f} half-widths), "
            f"{s.best_shift.mean():.3f} under the shift; every model: drop {s.mean_drop.mean():.3f} "
            f"(in {s.rate_drop.mean():.0%} of models), Kendall τ {s.tau.mean():.2f}, linear R² "
            f"{s.r2.mean():.2f}, slope {s.slope.mean():.2f} (Recht et al. 2018: CIFAR-10.1 drops "
            "4–10%, ranking preserved, new ≈ linear in old).")


def figures(table: pd.DataFrame, axes=None):
    w = wide(table)
    fig, ax = new_figure(width=4.6, height=4.2, name="new-vs-old", axes=axes)
    lo = float(min(w.acc_old.min(), w.acc_shift.min())) - 0.02
    ax.plot([lo, 1], [lo, 1], color="k", lw=1, ls=":", label="y = x")
    for col, color, label in (("acc_same", "C0", "fresh, same process"),
                              ("acc_shift", "C3", "fresh, shifted process")):
        ax.scatter(w.acc_old, w[col], s=9, color=color, alpha=0.6, label=label)
        fit = sps.linregress(w.acc_old, w[col])
        xs = np.array([w.acc_old.min(), w.acc_old.max()])
        ax.plot(xs, fit.intercept + fit.slope * xs, color=color, lw=1)
    best = w.loc[w.groupby("seed").acc_old.idxmax()]
    ax.scatter(best.acc_old, best.acc_shift, s=40, facecolors="none", edgecolors="k",
               label="selected on old test")
    ax.scatter(best.acc_old, best.acc_same, s=40, facecolors="none", edgecolors="k")
    ax.set(xlabel="accuracy on the reused (old) test set", ylabel="accuracy on the new test set",
           title="every model, every seed", xlim=(lo, 1), ylim=(lo, 1))
    ax.legend(fontsize=7)
    return {"new-vs-old": fig}
