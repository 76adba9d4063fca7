"""Finding and figures of lightweight-convolution (kept apart so the atom file stays short)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from ...figures import new_figure
from ._lightweight_convolution_mixers import MIXERS

COLORS = {"attention": "C3", "light": "C0", "dynamic": "C2"}


def finding(table: pd.DataFrame, slopes: Callable[[pd.DataFrame, str], pd.Series]) -> str:
    ex = table[table.metric == "excess_loss"].groupby("model").value.mean()
    par = table[table.metric == "parameters"].groupby("model").value.first()
    sl = {m: float(slopes(table, m).mean()) for m in MIXERS}
    parts = ", ".join(f"{m} {ex[m]:.3f} ({int(par[m])} parameters)" for m in MIXERS)
    return (f"Excess test loss over the source's entropy (nats, mean over seeds): {parts}; "
            "time-vs-length log-log slope at the longest lengths: "
            + ", ".join(f"{m} {sl[m]:.2f}" for m in MIXERS)
            + " (Wu et al. 2019: convolutions match attention with fewer parameters, linear cost).")


def figures(table: pd.DataFrame, axes=None):
    fig, (ax_curve, ax_bar) = new_figure(1, 2, width=3.6, height=3.0, name="test-loss", axes=axes)
    curves = table[table.metric == "test_loss_curve"]
    oracle = table[table.metric == "oracle_loss"].groupby("seed").value.first()
    for m in MIXERS:
        for seed, g in curves[curves.model == m].groupby("seed"):
            ax_curve.plot(g.step, g.value - oracle[seed], color=COLORS[m], alpha=0.5, lw=1)
        ax_curve.plot([], [], color=COLORS[m], label=m)
    ax_curve.set(yscale="log", xlabel="Adam step", ylabel="test loss − source entropy (nats)",
                 title="learning curves")
    ax_curve.legend(fontsize=8)
    ex = table[table.metric == "excess_loss"]
    par = table[table.metric == "parameters"].groupby("model").value.first()
    for k, m in enumerate(MIXERS):
        v = ex[ex.model == m].value.to_numpy()
        ax_bar.bar(k, v.mean(), color=COLORS[m], alpha=0.6)
        ax_bar.plot(np.full(v.size, k), v, "k.", ms=4)
    ax_bar.set_xticks(range(len(MIXERS)), [f"{m}\n{int(par[m])} p." for m in MIXERS])
    ax_bar.set(ylabel="final excess loss (nats)", title="after training")
    fig2, ax = new_figure(width=4.2, height=3.2, name="time-vs-length", axes=axes)
    times = table[table.metric == "seconds_per_step"]
    for m in MIXERS:
        g = times[times.model == m].groupby("length").value.median()
        ax.loglog(g.index, g, marker="o", color=COLORS[m], label=m)
    ref = times.groupby("length").value.median()
    x = np.array(sorted(ref.index), dtype=float)
    for power, ls in ((1, ":"), (2, "--")):
        ax.loglog(x, ref.iloc[-1] * (x / x[-1]) ** power, color="gray", ls=ls, lw=1,
                  label=f"∝ length^{power}")
    ax.set_xticks(x, [str(int(v)) for v in x])
    ax.xaxis.set_minor_formatter("")
    ax.set(xlabel="sequence length", ylabel="CPU s per forward+backward (median)",
           title="cost of one mixer layer")
    ax.legend(fontsize=8)
    return {"test-loss": fig, "time-vs-length": fig2}
