"""Private helper of sharp-minima (gen-a): the judge and the figures. Thresholds sit next to
the claim."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ... import stats
from ...figures import new_figure
from ...verdict import decide, setting_label
from ._ratio_evidence import factor_row

REGIMES = ("small", "large")
FIT_LEVEL = 0.99       # both regimes are trained to ≥ 99 % train accuracy (the protocol)
SHARPER = 10.0         # "one to two orders of magnitude": at least 10× larger φ
SHARPNESS = (("sharpness_identity", "A = I"), ("sharpness_random", "random n×100 A"))


def per_seed(table: pd.DataFrame, regime: str, metric: str) -> np.ndarray:
    sel = table[(table.regime == regime) & (table.metric == metric)].sort_values("seed")
    return sel.value.to_numpy(float)


def judge(table: pd.DataFrame):
    every = setting_label(regime="*")
    evidence = []
    for regime in REGIMES:
        acc = per_seed(table, regime, "train_accuracy")
        evidence.append(stats.count_at_least(f"{regime} batch: train accuracy ≥ {FIT_LEVEL:.0%}",
                                             acc >= FIT_LEVEL, len(acc), "in every seed",
                                             setting=setting_label(regime=regime)))
    for metric, label in SHARPNESS:
        if metric in set(table.metric):
            ratio = per_seed(table, "large", metric) / per_seed(table, "small", metric)
            evidence.append(factor_row(f"sharpness φ ({label}): large / small batch", ratio,
                                       SHARPER, setting=every))
    eig = per_seed(table, "large", "top_eigenvalue") / per_seed(table, "small", "top_eigenvalue")
    evidence.append(factor_row("top Hessian eigenvalue: large / small batch", eig, 1.0,
                               setting=every))
    evidence.append(stats.difference("test accuracy: small − large batch",
                                     per_seed(table, "small", "test_accuracy"),
                                     per_seed(table, "large", "test_accuracy"), 0.0,
                                     setting=every))
    return decide(evidence, finding(table))


def finding(table: pd.DataFrame) -> str:
    m = lambda regime, metric: float(np.mean(per_seed(table, regime, metric)))
    parts = [f"φ(A = I) small vs large batch {m('small', 'sharpness_identity'):.3g} vs "
             f"{m('large', 'sharpness_identity'):.3g}"]
    if "sharpness_random" in set(table.metric):
        parts.append(f"φ(random A) {m('small', 'sharpness_random'):.3g} vs "
                     f"{m('large', 'sharpness_random'):.3g}")
    parts.append(f"top Hessian eigenvalue {m('small', 'top_eigenvalue'):.3g} vs "
                 f"{m('large', 'top_eigenvalue'):.3g}")
    parts.append(f"training loss {m('small', 'train_loss'):.2g} vs {m('large', 'train_loss'):.2g} "
                 "(the large batch ends less converged, part of its sharpness)")
    parts.append(f"test accuracy {m('small', 'test_accuracy'):.2%} vs "
                 f"{m('large', 'test_accuracy'):.2%}")
    return ("Means over seeds: " + "; ".join(parts) + " (Keskar et al. 2017, MNIST FC: φ 1.23 "
            "vs 205.14, test 98.03 vs 97.81 %).")


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


def figures(table: pd.DataFrame, axes=None):
    return {"small-to-large-line": _line_figure(table, axes), "sharpness": _bars(table, axes)}
