"""Figures of catastrophic-forgetting: accuracy on both tasks while task B is trained (as
Kirkpatrick et al. 2017, Fig. 2A) and the λ sensitivity of EWC and of the squared-mean bug."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...figures import mean_sd_line, new_figure

COLORS = {"sgd": "C3", "ewc": "C0", "ewc-sqmean": "C1", "joint": "C2", "dropout": "C4"}


def _modal_lam(table, sc):
    fin = table[(table.scenario == sc) & (table.method == "ewc") & (table.metric.isin(["val_A", "val_B"]))]
    score = fin.groupby(["seed", "lam"]).value.mean().reset_index()
    best = score.loc[score.groupby("seed").value.idxmax()].lam
    return float(best.mode().iloc[0])


def _curves(ax, table, sc):
    cur = table[(table.scenario == sc) & table.metric.isin(["acc_A_curve", "acc_B_curve"])]
    lam = _modal_lam(table, sc)
    for meth in ("sgd", "ewc", "joint", "dropout"):
        sel = cur[cur.method == meth]
        if meth == "ewc":
            sel = sel[np.isclose(sel.lam, lam)]
        label = f"EWC λ={lam:g}" if meth == "ewc" else meth
        for metric, ls in (("acc_A_curve", "-"), ("acc_B_curve", ":")):
            g = sel[sel.metric == metric].pivot_table(index="seed", columns="step", values="value")
            mean_sd_line(ax, g.columns.to_numpy(), g.to_numpy(), color=COLORS[meth], ls=ls,
                         label=label if ls == "-" else None)
    ax.set(title=f"{sc} digits (— task A, ··· task B)", xlabel="task-B SGD step",
           ylabel="test accuracy", ylim=(0, 1.02))
    ax.legend(fontsize=7)


def _lams(ax, table, sc):
    fin = table[table.scenario == sc]
    for meth in ("ewc", "ewc-sqmean"):
        for metric, ls in (("acc_A", "-"), ("acc_B", ":")):
            g = fin[(fin.method == meth) & (fin.metric == metric)].pivot_table(
                index="seed", columns="lam", values="value")
            mean_sd_line(ax, g.columns.to_numpy(), g.to_numpy(), color=COLORS[meth], ls=ls,
                         label=f"{meth} task {metric[-1]}")
    for metric, ls in (("acc_A", "-"), ("acc_B", ":")):
        v = fin[(fin.method == "sgd") & (fin.metric == metric)].value.mean()
        ax.axhline(v, color=COLORS["sgd"], ls=ls, lw=1, label=f"SGD task {metric[-1]}")
    ax.set_xscale("log")
    ax.set(title=f"{sc}: λ sensitivity", xlabel="λ", ylabel="test accuracy after task B",
           ylim=(0, 1.02))
    ax.legend(fontsize=7)


def figures(table: pd.DataFrame, axes=None):
    scenarios = list(dict.fromkeys(table.scenario))
    fig, panels = new_figure(1, len(scenarios), width=4.6, height=3.4, squeeze=False,
                             name="accuracy-during-task-B", axes=axes)
    for ax, sc in zip(panels[0], scenarios):
        _curves(ax, table, sc)
    fig2, panels2 = new_figure(1, len(scenarios), width=4.6, height=3.4, squeeze=False,
                               name="lambda-sensitivity", axes=axes)
    for ax, sc in zip(panels2[0], scenarios):
        _lams(ax, table, sc)
    return {"accuracy-during-task-B": fig, "lambda-sensitivity": fig2}
