"""Private helper of loss-interpolation (gen-a): Goodfellow et al. (2015) Fig. 1-style curves —
training loss (and accuracy) along θ(α), per network, for both lines."""
from __future__ import annotations

import pandas as pd

from ...figures import new_figure

PATHS = ("init→solution", "solution→solution")


def _mean_curve(t: pd.DataFrame, metric: str) -> pd.Series:
    return t[t.metric == metric].groupby("alpha").value.mean()


def figures(table: pd.DataFrame, axes=None):
    archs = list(dict.fromkeys(table.arch))
    fig, panels = new_figure(2, len(archs), width=4.2, height=2.9, squeeze=False,
                             name="loss-along-line", axes=axes)
    for col, arch in enumerate(archs):
        for row, path in enumerate(PATHS):
            ax = panels[row][col]
            t = table[(table.arch == arch) & (table.path == path)]
            for _, g in t[t.metric == "train_loss_curve"].groupby("seed"):
                ax.semilogy(g.alpha, g.value, color="C0", alpha=0.3, lw=0.8)
            ax.semilogy(*_series(_mean_curve(t, "train_loss_curve")), color="C0", lw=1.8,
                        label="train loss (mean)")
            stale = _mean_curve(t, "stale_statistics_loss_curve")
            if len(stale):
                ax.semilogy(*_series(stale), color="C3", ls="--", lw=1.2,
                            label="BN statistics not interpolated")
            twin = ax.twinx()
            twin.plot(*_series(_mean_curve(t, "train_accuracy_curve")), color="C2", lw=1,
                      label="train accuracy")
            twin.set_ylim(0, 1.02)
            twin.set_ylabel("train accuracy", color="C2")
            for a in (0, 1):
                ax.axvline(a, color="k", lw=0.6, ls=":")
            start, end = path.split("→")
            ax.set(title=f"{arch}: {path}", xlabel=f"α  (0: {start}, 1: {end})",
                   ylabel="training loss")
            ax.legend(fontsize=6, loc="upper center")
    return {"loss-along-line": fig}


def _series(s: pd.Series):
    return s.index.to_numpy(float), s.to_numpy(float)
