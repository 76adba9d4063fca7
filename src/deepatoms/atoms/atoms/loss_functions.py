"""Loss functions (seed 003 §9): does the choice of loss matter for classification?

Claim: cross-entropy, mean |y − ŷ|, mean (y − ŷ)², mean (y − ŷ)⁴ and the hinge loss all reach
similar test accuracy (≈ .90–.91 in the original, the fourth power slightly worse: below
cross-entropy in most draws, an exact binomial rate above 1/2), while a constant loss (negative control) stays at chance
(≈ .5). Accuracy is judged relative to each seed's Bayes ceiling. Budget: ~3 s default (5 seeds),
<1 s quick.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING


import numpy as np
import pandas as pd

from ... import stats
from ...atom import Atom
from ...engine import MLPPop, Sampler
from ...engine.fused_adam import FusedAdam
from ...errors import ParamError
from ...figures import curves_by_group, new_figure
from ...lab import Lab
from ...params import param
from ...verdict import Verdict, decide, setting_label
from .._controls import learns
from ._classifier_training import (CHANCE_BAND, LOSSES, TRAIN_FRACTION, GaussianMLPParams,
                                   ceiling_rows, curve_rows, every, fit,
                                   gaussian_split_with_ceiling, loss_by_model, per_seed,
                                   seed_ceilings, to_splits)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REFERENCE = "cross_entropy"
# The claim singles out the fourth power as slightly worse: judged as "below cross-entropy in
# most draws", an exact binomial inference on the rate (Clopper–Pearson interval above 1/2
# supports, below 1/2 contradicts, otherwise undecided) — not a count the seeds run must reach.
WORSE = "fourth_power"
WORSE_RATE = 0.5
# "≈ .90–.91": the reference loss must clearly learn. The source does not report its draw's
# Bayes ceiling; its initialization draws of the same protocol had ceilings ≥ .975, so .90 sat
# ≈ .07 below: judged as within LEARN_GAP of each seed's own ceiling (ceilings vary ≈ .70–1.0).
LEARN_GAP = 0.1
# "similar accuracy": the mean per-seed gap to cross-entropy stays under 5 points (the source's
# real losses span ~3 points; one test point is 1 point).
SIMILAR = 0.05


@dataclass(frozen=True)
class LossParams(GaussianMLPParams):
    losses: tuple[str, ...] = param(tuple(LOSSES), "losses on the two logits (constant = 0 × MSE)",
                                    choices=tuple(LOSSES), requires=(REFERENCE,))


def run(p: LossParams, lab: Lab) -> pd.DataFrame:
    drawn = [gaussian_split_with_ceiling(lab, s, p.n, p.d, p.class_seps, 1.0, TRAIN_FRACTION)
             for s in lab.seeds]
    # loss-major order: each loss is one contiguous run of models
    combos = [(loss, i, s) for loss in p.losses for i, s in enumerate(lab.seeds)]
    data = to_splits(lab, [parts for parts, _ in drawn], [i for _, i, _ in combos])
    # same initial weights and minibatches for every loss of a seed: only the loss differs
    pop = MLPPop([(p.d, *p.hidden, 2)] * len(combos),
                 [lab.torch_generator(s, "init") for _, _, s in combos],
                 activation="sigmoid", init="xavier_uniform", device=lab.device)
    stream = Sampler([lab.torch_generator(s, "batches") for s in lab.seeds],
                     data.x_train.shape[1], p.batch_size, device=lab.device)
    lab.name_models([loss for loss, _, _ in combos], [s for _, _, s in combos])  # live view
    curves = fit(pop, FusedAdam(pop.params, lr=p.lr), data, loss_by_model([c[0] for c in combos]),
                 p.steps, lab, record=every(p.record_every, p.steps), stream=stream,
                 description="loss-functions")
    rows = ceiling_rows(lab.seeds, [c for _, c in drawn])
    return pd.DataFrame(rows + curve_rows([dict(seed=s, loss=loss) for loss, _, s in combos],
                                          curves))


def _row(loss: str, acc: pd.DataFrame, ceiling: pd.Series):
    """The evidence row for one loss: learns (the reference), similar, slightly worse, chance."""
    ref, where = acc[REFERENCE], setting_label(loss=loss)
    if loss == REFERENCE:
        return stats.near_ceiling(f"{loss}: test accuracy − seed's ceiling", ref, ceiling,
                                  LEARN_GAP, setting=where,
                                  claim=f"> −{LEARN_GAP} (learns; ≈ .90 in the source)")
    if loss == "constant":
        return stats.below("constant: test accuracy", acc[loss], CHANCE_BAND, setting=where,
                           claim=f"< {CHANCE_BAND} (chance ≈ .5)")
    if loss == WORSE:
        return stats.rate_above(f"{loss} below {REFERENCE} (rate over seeds)", acc[loss] < ref,
                                WORSE_RATE, setting=where,
                                claim=f"rate > {WORSE_RATE} (slightly worse in most draws)")
    return stats.below(f"{loss}: |accuracy − {REFERENCE} accuracy|", (acc[loss] - ref).abs(),
                       SIMILAR, setting=where, claim=f"< {SIMILAR} (similar to {REFERENCE})")


def judge(table: pd.DataFrame) -> Verdict:
    names = list(pd.unique(table[table.metric == "test_accuracy"].loss))
    acc = per_seed(table, "test_accuracy", "loss")[names]
    ceiling = seed_ceilings(table).reindex(acc.index)
    means = ", ".join(f"{loss} {acc[loss].mean():.3f}" for loss in names)
    finding = (f"Mean test accuracy over {len(acc)} seeds: {means} (source: ≈ .90–.91 for the "
               f"real losses, fourth power slightly worse, constant ≈ .5). The seeds' Bayes "
               f"ceilings are {ceiling.min():.3f}–{ceiling.max():.3f} (mean {ceiling.mean():.3f}); "
               f"cross-entropy − ceiling {(acc[REFERENCE] - ceiling).mean():+.3f} on average, "
               f"≥ 0.1 below it on {int((acc[REFERENCE] < ceiling - 0.1).sum())} of {len(acc)} "
               f"draws.")
    if WORSE in names:
        gap = acc[REFERENCE] - acc[WORSE]
        finding += (f" The fourth power is below cross-entropy in {int((gap > 0).sum())} of "
                    f"{len(acc)} seeds (mean gap {gap.mean():+.3f}).")
    rows = [_row(loss, acc, ceiling) for loss in names]
    if REFERENCE in names:  # control: the reference loss trains at this budget
        rows.append(learns(f"{REFERENCE}: test accuracy", acc[REFERENCE], 0.5, 0.2,
                           what="the reference trains", setting=setting_label(loss=REFERENCE)))
    return decide(rows, finding)


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    curve = table[table.metric == "test_accuracy_curve"]
    fig, ax = new_figure(1, 1, width=5.5, height=3.6, name="accuracy-curves", axes=axes)
    curves_by_group(ax, curve, "loss")
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ceiling = seed_ceilings(table)
    ax.axhline(ceiling.mean(), color="k", ls="--", lw=0.8,
               label=f"Bayes ceiling (mean; seeds {ceiling.min():.2f}–{ceiling.max():.2f})")
    ax.set(xlabel="step", ylabel="test accuracy (mean ± sd over seeds)", title="Accuracy per loss")
    ax.legend(fontsize=8)
    acc = per_seed(table, "test_accuracy", "loss")
    fig2, ax2 = new_figure(1, 1, width=5.5, height=3.2, name="final-accuracy", axes=axes)
    names = list(pd.unique(table[table.metric == "test_accuracy"].loss))
    for j, loss in enumerate(names):
        vals = acc[loss].to_numpy()
        ax2.bar(j, np.nanmean(vals), color="C0", alpha=0.4)
        ax2.plot(np.full(len(vals), j), vals, "k.", ms=5)
    for c in seed_ceilings(table):  # each seed's ceiling
        ax2.axhline(c, color="C3", lw=0.6, alpha=0.5)
    ax2.plot([], [], color="C3", lw=0.6, label="seeds' Bayes ceilings")
    ax2.legend(fontsize=7, loc="lower left")
    ax2.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
    ax2.set(ylabel="final test accuracy", ylim=(0, 1.02), title="Final accuracy (dots: seeds)")
    return {"accuracy-curves": fig, "final-accuracy": fig2}


ATOM = Atom(
    name="loss-functions", family="atoms",
    title="Does the loss function matter?",
    question="Does training a classifier with MSE, absolute, fourth-power or hinge loss instead of "
             "cross-entropy change the accuracy it reaches?",
    claim=("All real losses — cross-entropy, mean |y − ŷ|, mean (y − ŷ)², mean (y − ŷ)⁴, hinge "
           "— reach similar test accuracy (≈ .90–.91 in the original, the fourth power slightly "
           "worse); a constant loss (negative control) stays at chance (≈ .5)."),
    sources=("Atomic Experiments in Deep Learning §9 (seed 003)",),
    method=("Gaussian pair, d = 12, μ_i = 1/i, Σ = CᵀC with C ~ U[0,1]^{12×12}, n = 500 split "
            "400/100. MLP 12 → 100 → 100 → 2, sigmoid hidden units, Xavier-uniform weights and "
            "biases, Adam (lr 0.003), 500 steps of random minibatches of 64 (distinct points per "
            "batch, as the source's random_batch). As in the original code the regression losses "
            "act on the raw logits against one-hot labels, the hinge loss is "
            "tf.losses.hinge_loss (labels ±1 per output), and the constant loss is 0 × MSE, so "
            "its gradient is exactly zero and Adam never moves the weights. Within a seed every "
            "loss starts from the same weights and sees the same minibatches; all (loss, seed) "
            "models train together as one population. Each seed's Bayes ceilings Φ(½·√(μᵀΣ⁻¹μ)) "
            "is in the table (metric bayes_ceiling) and the figures; it varies ≈ .70–1.0 over "
            "seeds, so the absolute .90 of one source draw is judged relatively. Judged: "
            "cross-entropy learns (within 0.1 of the seed's ceiling, paired t interval), each "
            "other real loss is within 0.05 of cross-entropy except the fourth power, which the "
            "claim expects to be slightly worse: below cross-entropy in most draws (the "
            "Clopper–Pearson interval of the rate of seeds where it is below must lie above 1/2; "
            "an interval below 1/2 contradicts), and the constant loss stays below 0.6. Positive control (issue 16): cross-entropy's test accuracy > 0.7 "
            "(chance + 0.2: the reference trains at this budget)."),
    settings=("loss",),
    Params=LossParams, run=run, judge=judge, figures=figures,
    presets={"quick": dict(steps=150, hidden=(32, 32), record_every=30)},
    runtime_s=5.5,  # 10 seeds: CPU time × 1.2, measured on a shared machine
    # cheap, and a seed's outcome is bimodal (some draws' ceilings are not reached in 500 steps)
    default_seeds=10,
)
