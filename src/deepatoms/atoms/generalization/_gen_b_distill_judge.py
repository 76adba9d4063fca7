"""Judge and figures of distillation (the thresholds of its claim live here)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ... import stats
from ...figures import new_figure
from ...verdict import decide, setting_label

RECOVERED = 0.5          # the distilled student recovers more than half the teacher–student gap
OMITTED_CORRECT = 0.90   # share of the omitted digit's test images right after the bias shift
PAPER = {"teacher": 67, "hard": 146, "soft": 74}   # MNIST test errors (of 10,000)
ORDER = ("teacher", "hard", "soft", "logits", "omit")


def values(table, model, metric="test_errors") -> pd.Series:
    sel = table[(table.model == model) & (table.metric == metric)]
    return sel.set_index("seed").value.sort_index()


def judge(table: pd.DataFrame):
    t, h = values(table, "teacher"), values(table, "hard")
    s, lg = values(table, "soft"), values(table, "logits")
    lab = lambda m: setting_label(model=m)
    ev = [stats.difference("test errors: hard-label student − teacher", h, t, setting=lab("teacher")),
          stats.difference("test errors: hard-label student − distilled (T² soft)", h, s,
                           setting=lab("soft")),
          stats.difference("test errors: hard-label student − logit regression", h, lg,
                           setting=lab("logits")),
          stats.difference(f"errors removed by distillation − {RECOVERED:g} × (hard − teacher)",
                           h - s, RECOVERED * (h - t),
                           claim=f"> 0 (recovers > {RECOVERED:.0%} of the gap)", setting=lab("hard")),
          stats.above("omitted digit: share of its test images right after the bias shift",
                      values(table, "omit", "omitted_correct_corrected"), OMITTED_CORRECT,
                      setting=lab("omit"))]
    return decide(ev, _finding(table))


def _finding(table) -> str:
    n = int(table.n_test.iloc[0])
    m = {k: values(table, k).mean() for k in ORDER if k in set(table.model)}
    gap = m["hard"] - m["teacher"]
    share = (m["hard"] - m["soft"]) / gap if gap != 0 else float("nan")
    raw = values(table, "omit", "omitted_correct_raw").mean()
    fixed = values(table, "omit", "omitted_correct_corrected").mean()
    delta = values(table, "omit", "bias_shift").mean()
    return (f"Test errors of {n} (mean over seeds): teacher {m['teacher']:.1f}, hard-label student "
            f"{m['hard']:.1f}, distilled {m['soft']:.1f} ({share:.0%} of the gap recovered), logit "
            f"regression {m['logits']:.1f}; the student distilled without its omitted digit gets "
            f"{raw:.1%} of those test images right, {fixed:.1%} after a bias shift of {delta:.2g} "
            "(Hinton et al. 2015, MNIST: 67, 146, 74 errors of 10,000; 98.6 % of the 3s after a "
            "shift of 3.5).")


def figures(table: pd.DataFrame, axes=None):
    n = int(table.n_test.iloc[0])
    fig, ax = new_figure(width=4.6, height=3.4, name="test-errors", axes=axes)
    models = [k for k in ORDER if k in set(table.model)]
    for k, mdl in enumerate(models):
        v = 100 * values(table, mdl).to_numpy() / n
        ax.scatter(np.full(v.size, k) + np.linspace(-0.1, 0.1, v.size), v, s=14, color="C0")
        ax.hlines(v.mean(), k - 0.25, k + 0.25, color="k")
        if mdl in PAPER:
            ax.scatter([k], [PAPER[mdl] / 100], marker="x", color="C3",
                       label="paper (MNIST)" if mdl == "teacher" else None)
    ax.set_xticks(range(len(models)), models)
    ax.set(ylabel="test error (%)", title="teacher and students (each dot a seed)")
    ax.legend(fontsize=8)
    fig2, ax2 = new_figure(width=4.2, height=3.2, name="omitted-digit", axes=axes)
    raw = 100 * values(table, "omit", "omitted_correct_raw").to_numpy()
    fixed = 100 * values(table, "omit", "omitted_correct_corrected").to_numpy()
    for r, f in zip(raw, fixed):
        ax2.plot([0, 1], [r, f], color="C0", marker="o", alpha=0.7)
    ax2.axhline(98.6, color="C3", ls=":", label="paper: 98.6 %")
    ax2.set_xticks([0, 1], ["as trained", "bias shifted"])
    ax2.set(ylabel="omitted digit's test images right (%)", xlim=(-0.3, 1.3),
            title="a digit never seen in the transfer set")
    ax2.legend(fontsize=8)
    return {"test-errors": fig, "omitted-digit": fig2}
