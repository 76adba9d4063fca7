"""Universal approximation (seed 003 §1): can one hidden layer fit any function?

Claim: training MSE falls as the hidden layer widens; MSE(16 units) < MSE(2 units) for sin(12x),
a quartic polynomial and |x|, and sin(12x) needs the most units. Original MSEs (2/4/16 units):
sin .42/.23/.03, poly .03/.0006/0, abs .0007/.0002/.0001. Whether a seed escapes the near-linear
plateau is bimodal, so 60 seeds by default (a power calculation) and "across seeds" is judged as a rate. Budget: ~17 s
default (20 seeds; ~55 s at the default 60), ~1 s quick.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ...atom import Atom
from ...engine import Adam, MLPPop, train
from ...figures import new_figure
from ...lab import Lab
from ...params import Params, param
from ... import stats
from ...verdict import Verdict, decide, setting_label
from .._controls import as_control

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HARDEST = "sin"   # the claim: sin(12x) needs the most units
# A net "stayed on the plateau" when its MSE is ≥ 0.9 × the MSE of the best straight line through
# the target (sigmoid units still in their near-linear range); otherwise it escaped.
PLATEAU = 0.9
MOST_SEEDS = 0.5  # "across seeds" for a bimodal outcome: in more than half of the seeds (exact binomial)
FITS = 0.01      # control: "fits" = training MSE below this (abs ≈ 1e-4, poly ≈ 0 in the source)

TARGETS = {
    "sin": lambda x: np.sin(12 * x),
    "poly": lambda x: -2 * x**4 + x**3 + x**2 - 2 * x,
    "abs": np.abs,
}


@dataclass(frozen=True)
class UAParams(Params):
    functions: tuple[str, ...] = param(("sin", "poly", "abs"), "target functions",
                                       choices=tuple(TARGETS))
    hidden: tuple[int, ...] = param((2, 4, 16), "hidden-layer widths to sweep", ge=1, le=4096,
                                          min_len=2)
    n_points: int = param(100, "points evenly spaced in [-1, 1]", ge=2)
    steps: int = param(10_000, "full-batch Adam steps", ge=1)
    lr: float = param(0.003, "Adam learning rate", gt=0)
    record_every: int = param(100, "steps between recorded training MSEs", ge=1)


def run(p: UAParams, lab: Lab) -> pd.DataFrame:
    x = np.linspace(-1, 1, p.n_points, dtype=np.float32)[:, None]  # (N, 1)
    combos = [(s, f, h) for s in lab.seeds for f in p.functions for h in p.hidden]
    gens = [lab.torch_generator(s, "init", f, h) for s, f, h in combos]
    pop = MLPPop([(1, h, 1) for _, _, h in combos], gens, activation="sigmoid",
                 init="xavier_uniform", device=lab.device)
    xs = lab.tensor(x)
    ys = lab.tensor(np.stack([TARGETS[f](x) for _, f, _ in combos]))  # (M, N, 1)
    opt = Adam(pop.params, lr=p.lr)
    seen = {}

    def loss(_batch, _step):  # full batch; the MSE of each step is what a record keeps
        seen["mse"] = ((pop(xs) - ys) ** 2).mean(dim=(1, 2))  # (M,)
        return seen["mse"]

    lab.name_models([f"{f}, h={h}" for _, f, h in combos], [s for s, _, _ in combos])  # live view
    done = train(pop.params, loss, opt, p.steps, record=lambda _step: seen["mse"].detach(),
                 record_at=range(p.record_every, p.steps + 1, p.record_every),
                 iterate=lambda n: lab.steps(n, "universal-approximation"))
    rows = [(step, mse.cpu().numpy()) for step, mse in done.records]
    with torch.no_grad():
        final = ((pop(xs) - ys) ** 2).mean(dim=(1, 2)).cpu().numpy()
        preds = pop(xs).cpu().numpy()[..., 0]  # (M, N)
    return _table(combos, rows, final, preds, x[:, 0])


def _table(combos, curve, final, preds, x) -> pd.DataFrame:
    recs = []
    for i, (s, f, h) in enumerate(combos):
        base = dict(seed=s, function=f, hidden_units=h)
        recs += [dict(base, step=st, x=np.nan, metric="train_mse_curve", value=float(v[i]))
                 for st, v in curve]
        recs.append(dict(base, step=curve[-1][0], x=np.nan, metric="train_mse", value=float(final[i])))
        recs += [dict(base, step=curve[-1][0], x=float(xv), metric="prediction", value=float(pv))
                 for xv, pv in zip(x, preds[i])]
    return pd.DataFrame(recs)


def judge(table: pd.DataFrame) -> Verdict:
    final = table[table.metric == "train_mse"]
    pivot = final.pivot_table(index=["function", "seed"], columns="hidden_units", values="value")
    widths = sorted(pivot.columns)
    small, large = widths[0], widths[-1]
    funcs = list(final.function.unique())
    evidence = []
    for f in funcs:
        evidence.append(stats.rate_above(
            f"{f}: seeds with MSE({large}) < MSE({small}) units", pivot.loc[f][large] < pivot.loc[f][small],
            MOST_SEEDS, claim=f"in more than {MOST_SEEDS:.0%} of seeds",
            setting=setting_label(function=f, hidden_units="*")))
        if len(widths) >= 3:
            evidence.append(stats.trend(f"{f}: training MSE vs hidden units", widths,
                                        pivot.loc[f][widths].to_numpy(), increasing=False,
                                        claim="falls as the layer widens",
                                        setting=setting_label(function=f, hidden_units="*")))
    others = [f for f in funcs if f != HARDEST]
    if HARDEST in funcs and others:
        easiest = pd.concat([pivot.loc[f][small] for f in others], axis=1).max(axis=1)
        evidence.append(stats.rate_above(
            f"MSE({small}): seeds where {HARDEST} is above every other function",
            pivot.loc[HARDEST][small] > easiest, MOST_SEEDS,
            claim=f"{HARDEST} is the hardest to fit, in more than {MOST_SEEDS:.0%} of seeds",
            setting=setting_label(function="*", hidden_units=small)))
    if others:  # control: the widest net fits the easier functions at this budget
        fits = pd.concat([pivot.loc[f][large] for f in others], axis=1).max(axis=1) < FITS
        evidence.append(as_control(stats.rate_above(
            f"seeds where {large} units fit every function but {HARDEST} (MSE < {FITS:g})", fits,
            MOST_SEEDS, claim=f"the network and optimiser fit at this budget, in more than "
            f"{MOST_SEEDS:.0%} of seeds", setting=setting_label(function="*", hidden_units=large))))
    return decide(evidence, _finding(table, pivot, funcs, widths))


def linear_fit_mse(x: np.ndarray, y: np.ndarray) -> float:
    """MSE of the least-squares straight line through (x, y): the near-linear plateau's level."""
    coef = np.polyfit(x, y, 1)
    return float(np.mean((np.polyval(coef, x) - y) ** 2))


def escaped(table: pd.DataFrame) -> pd.DataFrame:
    """Per (function, hidden_units): the fraction of seeds whose final MSE is below PLATEAU × the
    best straight line's MSE (columns: function, hidden_units, escaped, seeds)."""
    xs = np.sort(table[table.metric == "prediction"].x.unique())
    final = table[table.metric == "train_mse"]
    out = []
    for (f, h), g in final.groupby(["function", "hidden_units"], sort=False):
        level = linear_fit_mse(xs, TARGETS[f](xs)) if len(xs) > 1 else float("nan")
        out.append(dict(function=f, hidden_units=h, escaped=int((g.value < PLATEAU * level).sum()),
                        seeds=len(g)))
    return pd.DataFrame(out)


def _finding(table: pd.DataFrame, pivot: pd.DataFrame, funcs, widths) -> str:
    """Medians from the smallest to the largest width, and per function and width how many seeds
    escaped the near-linear plateau."""
    small, large = widths[0], widths[-1]
    meds = [f"{f} {pivot.loc[f][small].median():.3g}→{pivot.loc[f][large].median():.3g}" for f in funcs]
    esc = escaped(table)
    parts = []
    for f in funcs:
        e = esc[esc.function == f].set_index("hidden_units").loc[widths]
        parts.append(f"{f} {', '.join(f'{k}/{n}' for k, n in zip(e.escaped, e.seeds))}")
    return (f"Median training MSE from {small} to {large} hidden units: {', '.join(meds)} "
            f"(original sin .42→.03, poly .03→0, abs .0007→.0001, single runs); seeds that escaped "
            f"the near-linear plateau (MSE < {PLATEAU} × the best straight line's) at "
            f"{'/'.join(map(str, widths))} units: {'; '.join(parts)}.")


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    pred = table[table.metric == "prediction"]
    funcs, hs = list(pred.function.unique()), sorted(pred.hidden_units.unique())
    fig, panels = new_figure(len(funcs), len(hs), width=3.0, height=2.4, squeeze=False,
                             name="fits", axes=axes)
    for i, f in enumerate(funcs):
        for j, h in enumerate(hs):
            ax = panels[i][j]
            sub = pred[(pred.function == f) & (pred.hidden_units == h)]
            xs = np.sort(sub.x.unique())
            ax.plot(xs, TARGETS[f](xs), color="k", lw=2, label="target")
            for k, (s, g) in enumerate(sub.groupby("seed")):
                ax.plot(g.x, g.value, lw=1, alpha=0.7, label="fit, one line per seed" if k == 0
                        else "_seed")
            ax.set_title(f"{f}, {h} units", fontsize=9)
    panels[0][0].legend(fontsize=7)
    curve = table[table.metric == "train_mse_curve"]
    fig2, axes2 = new_figure(1, len(funcs), squeeze=False, name="training-mse", axes=axes)
    for ax, f in zip(axes2[0], funcs):
        for h, g in curve[curve.function == f].groupby("hidden_units"):
            m = g.groupby("step").value.median()
            ax.semilogy(m.index, m.values, label=f"{h} units")
        ax.set(title=f, xlabel="step", ylabel="training MSE (median over seeds)")
        ax.legend(fontsize=8)
    esc = escaped(table)
    fig3, ax3 = new_figure(width=4.4, height=3.2, name="escaped-plateau", axes=axes)
    for f, g in esc.groupby("function", sort=False):
        g = g.sort_values("hidden_units")
        ax3.plot(g.hidden_units, g.escaped / g.seeds, marker="o", label=f)
    ax3.set(xscale="log", xlabel="hidden units", ylabel="fraction of seeds", ylim=(-0.03, 1.03),
            title=f"escaped the near-linear plateau ({int(esc.seeds.max())} seeds)")
    ws = sorted(esc.hidden_units.unique())
    ax3.set_xticks(ws, [str(w) for w in ws])
    ax3.minorticks_off()
    ax3.legend(fontsize=8)
    return {"fits": fig, "training-mse": fig2, "escaped-plateau": fig3}


ATOM = Atom(
    name="universal-approximation", family="atoms",
    title="Universal approximation with one hidden layer",
    question="Can a single hidden layer of sigmoid units fit any function, and how many units does it take?",
    claim=("Training MSE decreases as the hidden layer widens: for sin(12x), −2x⁴+x³+x²−2x and |x|, "
           "MSE with 16 units is below MSE with 2 units across seeds, and sin(12x) needs the most "
           "units (original: sin .42/.23/.03, poly .03/.0006/0, abs .0007/.0002/.0001 for 2/4/16)."),
    sources=("Atomic Experiments in Deep Learning §1 (seed 003)",
             "Cybenko 1989; Hornik 1991 (universal approximation theorem)"),
    method=("100 points evenly spaced in [−1, 1]; a 1 → h → 1 MLP with sigmoid hidden units, "
            "Xavier-uniform weights and biases, MSE loss, full-batch Adam (lr 0.003) for 10,000 "
            "steps; h swept over {2, 4, 16}. All (function, width, seed) models train together as "
            "one population. This is the source code's setup (x = linspace(−1, 1, 100); TensorFlow's "
            "get_variable default, Glorot-uniform, for weights and biases; Adam 0.003; 10,000 "
            "full-batch steps). Xavier-uniform weights are small, so every sigmoid unit starts in its "
            "near-linear range; a net often stays on a near-linear fit (MSE close to the best "
            "straight line's) for all 10,000 steps, and whether it escapes is a matter of the seed: the outcome "
            "is bimodal, and the published MSEs come from a single run. Hence many seeds by default (below), "
            "and the claim judged as a rate over seeds (exact binomial, Clopper–Pearson): per "
            "function, MSE(16) < MSE(2) in more than half of the seeds; sin(12x) above both other "
            "functions at 2 units in more than half of the seeds; and per function a trend test "
            "(Page's L, over seeds) that MSE falls across the widths. A seed 'escaped the plateau' at "
            "a width when its MSE is below 0.9 × the MSE of the best straight line through the "
            "target; the fraction that escaped is reported per function and width. Positive control (issue 16): in more than half of the seeds the widest "
            "layer fits every function but sin to MSE < 0.01 (the network and optimiser fit at "
            "this budget)."
            " Seeds: 60 by default, was 20 (issue 16 §3, a power calculation): over three seed sets of 20 (seeds 0…, 100…, 200…) 16 units beat 2 on sin(12x) in 65 / 80 / 75 % of seeds, and its MSE trend ρ averaged −.43 with spread .66; both rows were undecided in one set of the three. 60 seeds give 94 % power to the rate row (a Clopper–Pearson bound above one half) and 99.9 % to the trend, at the 95 % level (20 gave 55 % and 79 %)."),
    Params=UAParams, run=run, judge=judge, figures=figures,
    presets={"quick": dict(steps=800, record_every=50)},
    settings=("function", "hidden_units"), index_columns=("x",), split_by=("functions",),
    runtime_s=60, default_seeds=60,
)
