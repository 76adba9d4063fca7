"""Private helper of sharp-minima: its figures (Keskar's Fig. 3, the line from the small- to the
large-batch solution; the regimes' sharpness side by side) and the table's readers that the
judge shares with them."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.ticker import NullLocator

from ...figures import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REGIMES = ("small", "large")
SHARPNESS = (("sharpness_identity", "A = I"), ("sharpness_random", "random n×100 A"))


def per_seed(table: pd.DataFrame, regime: str, metric: str) -> np.ndarray:
    sel = table[(table.regime == regime) & (table.metric == metric)].sort_values("seed")
    return sel.value.to_numpy(float)


def by_batch(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The metric per seed (rows) and batch size (columns, ascending) over the small batch, the
    sweep and the large batch (Keskar's Fig. 4)."""
    sel = table[table.regime.isin((*REGIMES, "sweep")) & (table.metric == metric)]
    return sel.pivot_table(index="seed", columns="batch", values="value").sort_index(axis=1)


def _against_batch(ax, grid: pd.DataFrame, scale: float, label: str, log_y: bool):
    for k, (_, row) in enumerate(grid.iterrows()):
        ax.plot(grid.columns, scale * row.to_numpy(), color="0.6", lw=0.8, marker=".",
                label="one seed" if k == 0 else None)
    ax.plot(grid.columns, scale * grid.mean().to_numpy(), color="k", lw=2, marker="o",
            label="mean over seeds")
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xticks(list(grid.columns), [str(int(b)) for b in grid.columns])
    ax.xaxis.set_minor_locator(NullLocator())  # the batch sizes themselves label the axis
    ax.set(xlabel="batch size (log scale)", ylabel=label)
    ax.legend(fontsize=7)


def _batch_figure(table: pd.DataFrame, axes):
    fig, panels = new_figure(1, 2, width=4.2, height=3.2, squeeze=False,
                             name="sharpness-vs-batch-size", axes=axes)
    _against_batch(panels[0][0], by_batch(table, "sharpness_identity"), 1.0,
                   "sharpness φ (A = I, ε = 1e-3)", True)
    panels[0][0].set_title("sharpness vs batch size (Keskar Fig. 4)", fontsize=9)
    _against_batch(panels[0][1], by_batch(table, "test_accuracy"), 100.0, "test accuracy (%)",
                   False)
    panels[0][1].set_title("test accuracy vs batch size", fontsize=9)
    return fig


def _line_figure(table: pd.DataFrame, axes):
    line = table[table.regime == "line"]
    fig, ax = new_figure(width=5.0, height=3.4, name="small-to-large-line", axes=axes)
    twin = ax.twinx()
    for part, ls in (("train", "-"), ("test", "--")):
        loss = line[line.metric == f"line_{part}_loss"].groupby("alpha").value.mean()
        acc = line[line.metric == f"line_{part}_accuracy"].groupby("alpha").value.mean()
        ax.semilogy(loss.index, loss, color="C0", ls=ls, label=f"{part} loss")
        twin.plot(acc.index, 100 * acc, color="C3", ls=ls, label=f"{part} accuracy")
    for a in (0, 1):
        ax.axvline(a, color="k", lw=0.6, ls=":")
    ax.set(xlabel="α  (0: small-batch solution, 1: large-batch solution)",
           ylabel="cross-entropy (mean over seeds)", title="θ(α) = (1 − α)θ_small + αθ_large")
    twin.set_ylabel("accuracy (%)")
    ax.legend(loc="upper left", fontsize=7)
    twin.legend(loc="upper right", fontsize=7)
    return fig


def _bars(table: pd.DataFrame, axes):
    metrics = [(m, f"φ, {label}") for m, label in SHARPNESS if m in set(table.metric)]
    metrics += [("top_eigenvalue", "top Hessian eigenvalue"), ("test_accuracy", "test accuracy")]
    fig, panels = new_figure(1, len(metrics), width=2.8, height=2.9, squeeze=False,
                             name="sharpness", axes=axes)
    for ax, (metric, label) in zip(panels[0], metrics):
        for k, regime in enumerate(REGIMES):
            v = per_seed(table, regime, metric)
            ax.scatter(np.full(v.size, k) + np.linspace(-0.1, 0.1, v.size), v, s=14,
                       color=f"C{k}")
            ax.hlines(v.mean(), k - 0.25, k + 0.25, color="k")
        ax.set_xticks([0, 1], ["small batch", "large batch"])
        if metric != "test_accuracy":
            ax.set_yscale("log")
        ax.set_title(label, fontsize=9)
    return fig


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    out = {"small-to-large-line": _line_figure(table, axes), "sharpness": _bars(table, axes)}
    if (table.regime == "sweep").any():
        out["sharpness-vs-batch-size"] = _batch_figure(table, axes)
    return out
