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

LEARNED = 0.5        # test error below this in every seed: the net learned (chance is 0.9)
BOOTSTRAP = 4000
BOOTSTRAP_SEED = 20100201


def selected(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the learning rate chosen per (depth, arm): lowest mean validation error
    (the smallest rate among ties)."""
    if "lr" not in table or table.lr.nunique() <= 1:
        return table
    val = table[table.metric == "val_error"].groupby(["depth", "arm", "lr"]).value.mean()
    best = val.reset_index().sort_values(["depth", "arm", "value", "lr"]).groupby(["depth", "arm"]).head(1)
    keep = set(zip(best.depth, best.arm, best.lr))
    return table[[k in keep for k in zip(table.depth, table.arm, table.lr)]]


def learned_depths(table, depths) -> list[int]:
    """Depths at which both arms learned in every seed (test error < LEARNED): spread and the
    train–test gap only mean something for nets that trained."""
    return [d for d in depths if all((errors(table, d, a) < LEARNED).all() for a in ("none", "dae"))]


def errors(table, depth, arm, metric="test_error") -> pd.Series:
    sel = table[(table.depth == depth) & (table.arm == arm) & (table.metric == metric)]
    return sel.set_index("seed").value.sort_index()


def _log_sd_ratio(table, depths) -> Evidence:
    n = table.seed.nunique()
    if n < 2 or not depths:
        return Evidence("log(sd of test error without / with pre-training), mean over depths "
                        "where both arms learned", 0.0, 0.0, 0.0, n,
                        "needs ≥ 2 seeds and a depth where both arms learned",
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
    return Evidence("log(sd of test error without / with pre-training), mean over depths "
                    f"where both arms learned ({', '.join(map(str, depths))})", mean,
                    lo, hi, n, f"percentile bootstrap over seeds ({BOOTSTRAP} resamples), "
                    f"{100 * stats.confidence():.4g}% CI", "> 0 (smaller spread with pre-training)",
                    True if lo > 0 else (False if hi < 0 else None),
                    note=f"sd ratios per depth: {', '.join(f'{np.exp(e):.2f}' for e in est)}",
                    setting=setting_label(depth="*", arm="*"))


def _gap(table, depth, arm) -> pd.Series:
    return errors(table, depth, arm) - errors(table, depth, arm, "train_error")


def judge(table: pd.DataFrame):
    table = selected(table)
    depths = sorted(int(d) for d in table.depth.unique())
    ev = [stats.difference(f"depth {d}: test error without − with pre-training",
                           errors(table, d, "none"), errors(table, d, "dae"),
                           setting=setting_label(depth=d, arm="*")) for d in depths]
    gain = np.stack([(errors(table, d, "none") - errors(table, d, "dae")).to_numpy()
                     for d in depths], axis=1)                       # (seeds, depths)
    ev.append(stats.trend("gain of pre-training (test error) vs depth", depths, gain,
                          setting=setting_label(depth="*", arm="*")))
    learned = learned_depths(table, depths)
    ev.append(_log_sd_ratio(table, learned))
    ev.append(_gap_row(table, learned))
    return decide(ev, _finding(table, depths))


def _gap_row(table, learned) -> Evidence:
    metric = ("test − train error gap, without − with pre-training (mean over depths where "
              f"both arms learned: {', '.join(map(str, learned)) or 'none'})")
    if not learned:
        return Evidence(metric, 0.0, 0.0, 0.0, table.seed.nunique(), "no depth where both arms "
                        "learned", "> 0 (pre-training regularises)", None,
                        setting=setting_label(depth="*", arm="*"))
    gaps = np.mean([(_gap(table, d, "none") - _gap(table, d, "dae")).to_numpy() for d in learned],
                   axis=0)
    return stats.difference(metric, gaps, np.zeros_like(gaps), claim="> 0 (pre-training regularises)",
                            setting=setting_label(depth="*", arm="*"))


def _finding(table, depths) -> str:
    parts = []
    for d in depths:
        a, b = errors(table, d, "none"), errors(table, d, "dae")
        ta, tb = errors(table, d, "none", "train_error"), errors(table, d, "dae", "train_error")
        parts.append(f"{d} layer{'s' if d > 1 else ''}: {100 * a.mean():.2f}±{100 * a.std():.2f}% "
                     f"→ {100 * b.mean():.2f}±{100 * b.std():.2f}% (train {100 * ta.mean():.2f} → "
                     f"{100 * tb.mean():.2f}%)")
    n = table.seed.nunique()
    stuck = {d: int((errors(table, d, "none") >= LEARNED).sum()) for d in depths}
    stuck_text = ", ".join(f"{d} layers in {k} of {n} seeds" for d, k in stuck.items() if k)
    return (f"Test error (mean±sd over {n} seeds) without → with pre-training: " + "; ".join(parts)
            + (f"; without pre-training the net did not learn (test error ≥ "
               f"{LEARNED:.0%}; chance 90 %) at {stuck_text}" if stuck_text else "")
            + " (Erhan et al. 2010, MNIST: pre-training helps at every depth, more for deeper "
            "nets, with a smaller spread).")


def figures(table: pd.DataFrame, axes=None):
    table = selected(table)
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
    ax.axhline(90, color="k", ls=":", lw=1, label="chance (90 %)")
    ax.set(xlabel="hidden layers", ylabel="test error (%)", title="test error over seeds",
           yscale="log")
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
    ax3.set_xscale("symlog", linthresh=1.0)
    ax3.set_yscale("log")
    ax3.set(xlabel="training error (%) at the early-stopping point", ylabel="test error (%)",
            title="regulariser: train vs test error")
    ax3.legend(fontsize=6, ncol=2)
    return {"test-error-vs-depth": fig, "histogram-deepest": fig2, "train-vs-test": fig3}
