"""Figures of end-to-end-images, as in the paper's Fig. 2 (samples), 3 (accuracy) and 5 (SNR)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ...data.line_images import line_images
from ...figures import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLORS = {"end-to-end": "tab:red", "decomposition": "tab:blue"}
PAPER_CEILING = {1: 0.95, 2: 0.92, 3: 0.87, 4: 0.84}  # the paper's decomposition accuracy (Fig. 3)


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    return {"sample-images": _fig_samples(axes=axes), "accuracy": _fig_accuracy(table, axes=axes),
            "snr": _fig_snr(table, axes=axes)}


def _fig_samples(per_row: int = 6, axes=None):
    """Fig. 2: images with label +1 (top) and −1 (bottom), from a fixed illustration stream."""
    x, y, _ = line_images(torch.Generator().manual_seed(2017), 64)
    fig, axes = new_figure(2, per_row, width=1.3, height=1.45, squeeze=False,
                           name="sample-images", axes=axes)
    for r, label in enumerate((1.0, -1.0)):
        idx = (y == label).nonzero()[:per_row, 0].tolist()
        for c, i in enumerate(idx):
            ax = axes[r][c]
            ax.imshow(x[i].numpy(), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"y = {int(label):+d}")
    return fig


def _fig_accuracy(table: pd.DataFrame, axes=None):
    """Fig. 3: primary (parity) 0-1 accuracy on the fixed test set vs step, one panel per k;
    dashed: the paper's decomposition ceiling."""
    sub = table[table.metric == "test_accuracy"]
    ks = sorted(sub.k.unique())
    fig, axes = new_figure(1, len(ks), width=3.0, height=2.6, squeeze=False,
                           name="accuracy", axes=axes)
    for ax, k in zip(axes[0], ks):
        for method, g in sub[sub.k == k].groupby("method"):
            piv = g.pivot_table(index="step", columns="seed", values="value")
            ax.plot(piv.index, piv.to_numpy(), color=COLORS[method], lw=0.6, alpha=0.35)
            ax.plot(piv.index, piv.median(axis=1), color=COLORS[method], lw=2, label=method)
        ax.axhline(0.5, color="gray", ls=":", lw=1)
        ax.axhline(PAPER_CEILING.get(int(k), (1 + 0.9 ** k) / 2), color="k", ls="--", lw=0.8)
        ax.set(title=f"k = {k}", xlabel="step", ylim=(0.3, 1.02))
    axes[0][0].set_ylabel("accuracy (fixed test set)")
    axes[0][0].legend(fontsize=7, loc="lower right")
    return fig


def _fig_snr(table: pd.DataFrame, axes=None):
    """Fig. 5: SNR vs k (log scale); unresolved values drawn as upper bounds (▽)."""
    fig, ax = new_figure(1, 1, width=5.0, height=4.0, name="snr", axes=axes)
    piv = table[table.metric.str.startswith("snr_")].pivot_table(
        index=["method", "k", "seed"], columns="metric", values="value").reset_index()
    for j, (method, g) in enumerate(piv.groupby("method")):
        xs = g.k.to_numpy() + (j - 0.5) * 0.12 + (g.seed.rank(method="dense").to_numpy() - 1) * 0.03
        ok = (g.snr_estimate - 1.96 * g.snr_se > 0).to_numpy()
        lo = np.maximum(g.snr_estimate - 1.96 * g.snr_se, g.snr_estimate * 0.1)
        ax.errorbar(xs[ok], g.snr_estimate[ok], yerr=[(g.snr_estimate - lo)[ok],
                    (1.96 * g.snr_se)[ok]], fmt="o", color=COLORS[method], ms=4, label=method)
        ax.scatter(xs[~ok], g.snr_upper[~ok], marker="v", color=COLORS[method], s=28,
                   label=f"{method}: upper bound (unresolved)" if (~ok).any() else None)
    floor = piv.groupby("k").snr_floor.median()
    ax.plot(floor.index, floor.values, color="gray", ls=":", lw=1,
            label="1/T: the code's plug-in estimator cannot go below")
    ax.set_yscale("log")
    ax.set(xlabel="k (images per tuple)", ylabel="SNR of the stochastic gradient at init",
           xticks=sorted(piv.k.unique()))
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    return fig
