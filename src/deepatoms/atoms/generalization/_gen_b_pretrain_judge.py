"""Judge and figures of pretraining (the thresholds of its claim live here).

The spread claim compares standard deviations across seeds of two independent groups of nets (the
arms share seeds but not their errors' noise): the evidence is the mean over depths of
log(sd without / sd with pre-training), with a percentile bootstrap interval that resamples the
seeds of each arm independently (a fixed, explicit generator: the judge is deterministic).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ... import stats
from ...figures import new_figure
from ...verdict import Evidence, decide, setting_label

BOOTSTRAP = 4000
BOOTSTRAP_SEED = 20100201


def errors(table, depth, arm, metric="test_error") -> pd.Series:
    sel = table[(table.depth == depth) & (table.arm == arm) & (table.metric == metric)]
    return sel.set_index("seed").value.sort_index()


def _log_sd_ratio(table, depths) -> Evidence:
    n = len(errors(table, depths[0], "none"))
    if n < 3:
        return Evidence("log(sd of test error without / with pre-training), mean over depths",
                        float("nan"), float("nan"), float("nan"), n, "needs ≥ 3 seeds",
                        "> 0 (smaller spread with pre-training)", None,
                        setting=setting_label(depth="*", arm="*"))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    est, boots = [], []
    for d in depths:
        a, b = errors(table, d, "none").to_numpy(), errors(table, d, "dae").to_numpy()
        sd = lambda v: np.maximum(v.std(ddof=1, axis=-1), 1e-12)
        est.append(np.log(sd(a) / sd(b)))
        ia, ib = rng.integers(0, a.size, (BOOTSTRAP, a.size)), rng.integers(0, b.size, (BOOTSTRAP, b.size))
        boots.append(np.log(sd(a[ia]) / sd(b[ib])))
    mean, dist = float(np.mean(est)), np.mean(boots, axis=0)
    alpha = 1 - stats.confidence()
    lo, hi = (float(q) for q in np.quantile(dist, [alpha / 2, 1 - alpha / 2]))
    return Evidence("log(sd of test error without / with pre-training), mean over depths", mean,
                    lo, hi, n, f"percentile bootstrap over seeds ({BOOTSTRAP} resamples), "
                    f"{100 * stats.confidence():.4g}% CI", "> 0 (smaller spread with pre-training)",
                    True if lo > 0 else (False if hi < 0 else None),
                    note=f"sd ratios per depth: {', '.join(f'{np.exp(e):.2f}' for e in est)}",
                    setting=setting_label(depth="*", arm="*"))


def _gap(table, depth, arm) -> pd.Series:
    return errors(table, depth, arm) - errors(table, depth, arm, "train_error")


def judge(table: pd.DataFrame):
    depths = sorted(int(d) for d in table.depth.unique())
    ev = [stats.difference(f"depth {d}: test error without − with pre-training",
                           errors(table, d, "none"), errors(table, d, "dae"),
                           setting=setting_label(depth=d, arm="*")) for d in depths]
    gain = np.stack([(errors(table, d, "none") - errors(table, d, "dae")).to_numpy()
                     for d in depths], axis=1)                       # (seeds, depths)
    ev.append(stats.trend("gain of pre-training (test error) vs depth", depths, gain,
                          setting=setting_label(depth="*", arm="*")))
    ev.append(_log_sd_ratio(table, depths))
    gaps = np.mean([(_gap(table, d, "none") - _gap(table, d, "dae")).to_numpy() for d in depths],
                   axis=0)
    ev.append(stats.difference("test − train error gap, without − with pre-training (mean over "
                               "depths)", gaps, np.zeros_like(gaps),
                               claim="> 0 (pre-training regularises)",
                               setting=setting_label(depth="*", arm="*")))
    return decide(ev, _finding(table, depths))


def _finding(table, depths) -> str:
    parts = []
    for d in depths:
        a, b = errors(table, d, "none"), errors(table, d, "dae")
        ta, tb = errors(table, d, "none", "train_error"), errors(table, d, "dae", "train_error")
        parts.append(f"{d} layer{'s' if d > 1 else ''}: {100 * a.mean():.2f}±{100 * a.std():.2f}% "
                     f"→ {100 * b.mean():.2f}±{100 * b.std():.2f}% (train {100 * ta.mean():.2f} → "
                     f"{100 * tb.mean():.2f}%)")
    n = table.seed.nunique()
    return (f"Test error (mean±sd over {n} seeds) without → with pre-training: " + "; ".join(parts)
            + " (Erhan et al. 2010, MNIST: pre-training helps at every depth, more for deeper "
            "nets, with a smaller spread).")


def figures(table: pd.DataFrame, axes=None):
    depths = sorted(int(d) for d in table.depth.unique())
    fig, ax = new_figure(width=4.8, height=3.4, name="test-error-vs-depth", axes=axes)
    for k, (arm, color) in enumerate((("none", "C3"), ("dae", "C0"))):
        vals = [100 * errors(table, d, arm).to_numpy() for d in depths]
        pos = np.arange(len(depths)) + (k - 0.5) * 0.3
        parts = ax.boxplot(vals, positions=pos, widths=0.25, patch_artist=True, manage_ticks=False)
        for box in parts["boxes"]:
            box.set(facecolor=color, alpha=0.5)
        ax.plot([], [], color=color, lw=6, alpha=0.5,
                label="pre-trained (DAE)" if arm == "dae" else "no pre-training")
    ax.set_xticks(range(len(depths)), [str(d) for d in depths])
    ax.set(xlabel="hidden layers", ylabel="test error (%)", title="test error over seeds")
    ax.legend(fontsize=8)
    deepest = depths[-1]
    fig2, ax2 = new_figure(width=4.4, height=3.2, name="histogram-deepest", axes=axes)
    for arm, color in (("none", "C3"), ("dae", "C0")):
        ax2.hist(100 * errors(table, deepest, arm).to_numpy(), bins=12, alpha=0.5, color=color,
                 label="pre-trained" if arm == "dae" else "no pre-training")
    ax2.set(xlabel="test error (%)", ylabel="seeds", title=f"{deepest} hidden layers")
    ax2.legend(fontsize=8)
    fig3, ax3 = new_figure(width=4.4, height=3.4, name="train-vs-test", axes=axes)
    for arm, marker in (("none", "x"), ("dae", "o")):
        for k, d in enumerate(depths):
            ax3.scatter(100 * errors(table, d, arm, "train_error"), 100 * errors(table, d, arm),
                        marker=marker, s=14, color=f"C{k}", alpha=0.7,
                        label=f"{d} layers, {arm}")
    ax3.set(xlabel="training error (%) at the early-stopping point", ylabel="test error (%)",
            title="regulariser: train vs test error")
    ax3.legend(fontsize=6, ncol=2)
    return {"test-error-vs-depth": fig, "histogram-deepest": fig2, "train-vs-test": fig3}
