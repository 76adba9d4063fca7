"""Judge and figures of dataset-bias (from its table alone; the sample figure renders a few
illustrative images of each capture process with a constant stream)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ... import stats
from ...data.digits_tasks import digits
from ...figures import new_figure
from ...verdict import decide, setting_label
from . import _gen_c_glyphs as glyphs

ABOVE_CHANCE = 2.0  # "far above chance": more than twice the chance rate 1/k (paper 39% vs 8%)


def cross_table(table: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy over seeds, rows = training set, columns = test set."""
    sel = table[table.metric == "accuracy"]
    order = list(dict.fromkeys(sel.train_set))
    return sel.pivot_table(index="train_set", columns="test_set", values="value").loc[order, order]


def _own_minus_best_other(table, train_set) -> pd.Series:
    sel = table[(table.metric == "accuracy") & (table.train_set == train_set)]
    wide = sel.pivot(index="seed", columns="test_set", values="value").sort_index()
    others = wide.drop(columns=train_set)
    return wide[train_set] - others.max(axis=1)


def judge(table: pd.DataFrame):
    k = table[table.metric == "accuracy"].train_set.nunique()
    src = table[table.metric == "source_accuracy"].sort_values("seed").value
    ev = [stats.above(f"name that dataset: accuracy ({k} datasets, chance {1 / k:.2f})", src,
                      ABOVE_CHANCE / k, claim=f"> {ABOVE_CHANCE:g} × chance = {ABOVE_CHANCE / k:.2f}",
                      setting=setting_label(train_set="all"))]
    for d in dict.fromkeys(table[table.metric == "accuracy"].train_set):
        ev.append(stats.above(f"trained on {d}: own test − best other test", _own_minus_best_other(table, d),
                              0.0, claim="> 0 (best on its own dataset)",
                              setting=setting_label(train_set=d)))
    return decide(ev, _finding(table, src, k))


def _finding(table, src, k) -> str:
    cross = cross_table(table)
    diag = ", ".join(f"{d} {cross.loc[d, d]:.2f} (others {cross.loc[d].drop(d).mean():.2f})"
                     for d in cross.index)
    cols = [d for d in cross.index if cross[d].idxmax() == d]
    return (f"Name that dataset: {src.mean():.1%} with {k} datasets (chance {1 / k:.0%}; paper "
            f"39% vs 8% with 12). Digit accuracy on own vs other test sets: {diag}; "
            f"per test set, its own classifier is best for {len(cols)} of {len(cross)} (Torralba & "
            "Efros 2011: every classifier is best on its own dataset).")


def _samples(ax_grid, names):
    x, y = digits()
    rng = np.random.default_rng(0)
    for r, name in enumerate(names):
        ys = np.arange(10)
        if name == "sklearn":
            imgs = x[[np.flatnonzero(y == d)[0] for d in ys]]
        else:
            imgs = glyphs.render(name, ys, rng)
        for c in range(10):
            ax = ax_grid[r][c]
            ax.imshow(imgs[c].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
            ax.set_xticks([])
            ax.set_yticks([])
        ax_grid[r][0].set_ylabel(name, fontsize=8)


def figures(table: pd.DataFrame, axes=None):
    cross = cross_table(table)
    names = list(cross.index)
    fig, grid = new_figure(len(names), 10, width=0.8, height=0.9, squeeze=False,
                           name="samples", axes=axes)
    _samples(grid, names)
    fig2, (a1, a2) = new_figure(1, 2, width=4.2, height=3.8, name="cross-dataset", axes=axes)
    conf = table[table.metric == "confusion"].pivot_table(index="train_set", columns="test_set",
                                                          values="value").loc[names, names]
    for ax, mat, title in ((a1, cross, "digit accuracy (rows: trained on)"),
                           (a2, conf, "name that dataset: P(predicted | true)")):
        ax.imshow(mat.to_numpy(), vmin=0, vmax=1, cmap="viridis")
        for i in range(len(names)):
            for j in range(len(names)):
                v = mat.to_numpy()[i, j]
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color="w" if v < 0.6 else "k")
        ax.set_xticks(range(len(names)), names, rotation=30, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set_title(title, fontsize=9)
    a1.set_xlabel("tested on")
    a2.set_xlabel("predicted source")
    return {"samples": fig, "cross-dataset": fig2}
