"""Private helper of random-labels: the figures of Zhang et al. (2017) Fig. 1 —
learning curves per condition, steps to fit vs label corruption, test error vs corruption."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...figures import new_figure
from ._random_labels_conditions import REGULARISED

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _panels(table: pd.DataFrame, name: str, axes, height: float = 3.0):
    depths = sorted(table.hidden_layers.unique())
    fig, panels = new_figure(1, len(depths), width=4.4, height=height, squeeze=False,
                             name=name, axes=axes)
    return fig, list(zip(panels[0], depths))


def _curves(table: pd.DataFrame, axes) -> object:
    curve = table[table.metric == "train_accuracy_curve"]
    fig, panels = _panels(table, "learning-curves", axes)
    for ax, depth in panels:
        t = curve[curve.hidden_layers == depth]
        for k, (c, g) in enumerate(t.groupby("condition", sort=False)):
            grid = g.pivot_table(index="step", columns="seed", values="value").ffill()
            ax.plot(grid.index, grid.mean(axis=1), color=f"C{k % 10}", lw=1.3, label=c,
                    ls="--" if c in REGULARISED else "-")   # regularised: dashed
        ax.set(title=f"{depth} hidden layer(s)", xlabel="SGD step",
               ylabel="train accuracy (own labels)", ylim=(0, 1.02))
        ax.legend(fontsize=6, ncol=2)
    return fig


def _by_p(table: pd.DataFrame, metric: str, name: str, ylabel: str, axes, transform=None):
    fig, panels = _panels(table, name, axes, height=2.9)
    for ax, depth in panels:
        t = table[(table.hidden_layers == depth) & (table.metric == metric)]
        labels = t[t.condition.str.startswith(("true labels", "corrupted", "random labels"))
                   & ~t.condition.isin(REGULARISED)]
        g = labels.groupby("p").value
        mean, sd = g.mean(), g.std().fillna(0)
        if transform is not None:
            mean = transform(mean)
        ax.errorbar(mean.index, mean, yerr=sd, fmt="o-", color="C0", capsize=3,
                    label="label corruption p")
        others = t[~t.index.isin(labels.index)].groupby("condition", sort=False).value.mean()
        for k, (c, v) in enumerate(others.items()):
            v = transform(v) if transform is not None else v
            ax.axhline(v, color=f"C{k + 1}", ls="--", lw=1, label=c)
        ax.set(title=f"{depth} hidden layer(s)", xlabel="label corruption p", ylabel=ylabel)
        ax.legend(fontsize=6)
    return fig


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    return {"learning-curves": _curves(table, axes),
            "steps-to-fit": _by_p(table, "steps_to_fit", "steps-to-fit", "SGD steps to 100 % "
                                  "train accuracy", axes),
            "test-error": _by_p(table, "test_accuracy", "test-error", "test error (clean "
                                "labels)", axes, transform=lambda a: 1 - a)}
