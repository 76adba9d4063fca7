"""Finding and figures of the fixup atom."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...figures import new_figure

COLORS = {"standard": "C3", "fixup": "C0", "batchnorm": "C2"}


def _mean(table: pd.DataFrame, metric: str) -> pd.Series:
    return table[table.metric == metric].groupby(["scheme", "depth"]).value.mean()


def finding(table: pd.DataFrame) -> str:
    acc, div = _mean(table, "test_accuracy"), _mean(table, "diverged")
    scale = _mean(table, "log10_output_scale_init")
    parts = []
    for scheme in table.scheme.unique():
        accs = ", ".join(f"L={d}: {acc[scheme, d]:.2f}" for d in sorted(table.depth.unique()))
        parts.append(f"{scheme} {accs}")
    top = int(table.depth.max())
    std = (f"; standard init: output scale 10^{scale['standard', top]:.0f} × at L={top}, "
           f"loss NaN in {div['standard'].mean():.0%} of runs") if "standard" in set(table.scheme) else ""
    if "batchnorm" in set(table.scheme):
        std += (f"; batch norm's residual stream grows to 10^{scale['batchnorm', top]:.1f} × "
                f"its input at L={top}")
    return (f"First-epoch test accuracy (mean over seeds; chance 0.1): {'; '.join(parts)}{std} "
            "(Zhang et al. 2019: Fixup and BN train at 10,000 layers, standard init does not).")


def figures(table: pd.DataFrame, axes=None):
    fig, ax = new_figure(width=4.2, height=3.2, name="accuracy-vs-depth", axes=axes)
    for scheme in table.scheme.unique():
        sel = table[(table.metric == "test_accuracy") & (table.scheme == scheme)]
        g = sel.groupby("depth").value
        ax.errorbar(g.mean().index, g.mean(), yerr=g.std().fillna(0), marker="o", capsize=3,
                    color=COLORS.get(scheme), label=scheme)
    ax.axhline(0.1, color="k", ls=":", lw=1, label="chance")
    ax.set(xscale="log", xlabel="residual blocks L", ylabel="test accuracy after one epoch",
           ylim=(0, 1.02), title="first-epoch accuracy vs depth")
    ax.legend(fontsize=8)
    fig2, (ax_s, ax_g) = new_figure(1, 2, width=3.6, height=3.0, name="init-scale", axes=axes)
    for scheme in table.scheme.unique():
        for axis, metric in ((ax_s, "log10_output_scale_init"), (ax_g, "log10_grad_norm_init")):
            sel = table[(table.metric == metric) & (table.scheme == scheme)]
            g = sel.assign(value=sel.value.replace(np.inf, np.nan)).groupby("depth").value.median()
            axis.plot(g.index, g, marker="o", color=COLORS.get(scheme), label=scheme)
    ax_s.set(xscale="log", xlabel="residual blocks L", ylabel="log10 RMS(h_L) / RMS(h_0)",
             title="output scale at init")
    ax_g.set(xscale="log", xlabel="residual blocks L", ylabel="log10 ‖gradient‖ (gap: overflow)",
             title="gradient norm at init")
    ax_s.legend(fontsize=8)
    return {"accuracy-vs-depth": fig, "init-scale": fig2}
