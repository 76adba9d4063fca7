"""Dataset bias (Torralba & Efros 2011, "Unbiased look at dataset bias"; seed 004): several
"datasets" of the same ten digit classes, collected by different capture processes — can a
classifier tell which dataset an image came from, and does a digit classifier trained on one
work on the others?

Claim: "name that dataset" is far above chance (paper: 39 % vs 8 % chance with 12 datasets; here
more than twice chance); every digit classifier does better on its own dataset's test set than
on the others' on average (the paper's "self" vs "mean others"); secondary part: better than on
the single best other test set. Budget: ~8 s default (7.6 s CPU measured), ~1 s quick.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ... import stats
from ...atom import Atom
from ...data import font_digits as glyphs
from ...data.digits_split import digits_split
from ...data.digits_tasks import digits
from ...engine import Adam, MLPPop, Sampler, gather, train
from ...figures import new_figure
from ...lab import Lab
from ...params import Params, param
from ...verdict import Verdict, decide, setting_label
from . import _stacked_mlp as nets

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DATASETS = ("sklearn", *glyphs.PROCESSES)


@dataclass(frozen=True)
class BiasParams(Params):
    datasets: tuple[str, ...] = param(DATASETS, "datasets (capture processes)", choices=DATASETS,
                                      min_len=2)
    hidden: int = param(100, "hidden ReLU units of every classifier", ge=1, le=4096)
    steps: int = param(1500, "Adam steps per classifier", ge=1)
    batch_size: int = param(64, "minibatch size", ge=1, le=1000)
    lr: float = param(1e-3, "Adam learning rate", gt=0)


def _datasets(p, lab, seed) -> dict:
    """{name: (x_train, y_train, x_test, y_test)}, pixels 0–16 scaled to [0, 1]; every rendered
    set has the labels of the sklearn split (same sizes and class balance)."""
    s = digits_split(unit=True)
    out = {}
    for name in p.datasets:
        if name == "sklearn":
            out[name] = (s.x_train, s.y_train, s.x_test, s.y_test)
            continue
        render = lambda y, part: glyphs.render(name, y, lab.numpy_rng(seed, "render", name, part)) / 16
        out[name] = (render(s.y_train, "train"), s.y_train, render(s.y_test, "test"), s.y_test)
    return out


def _fit(p, lab, members, xs, ys, classes):
    """One MLP per member on its (x, y) (stacked, same length); returns the population."""
    pop = MLPPop([(64, p.hidden, classes)] * len(members),
                 [lab.torch_generator(*m, "init") for m in members], device=lab.device)
    x, y = lab.tensor(np.stack(xs)), lab.tensor(np.stack(ys))
    sampler = Sampler([lab.torch_generator(*m, "batches") for m in members], x.shape[1], p.batch_size,
                      "subset", device=lab.device)
    loss = lambda idx, step: nets.masked_nll(pop(gather(x, idx)), gather(y, idx), None)
    train(pop.params, loss, Adam(pop.params, lr=p.lr), p.steps, sampler=sampler,
          iterate=lambda n: lab.steps(n, f"dataset-bias ({len(members)} classifiers, {classes} classes)"))
    return pop


def _predict(pop, lab, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return pop(lab.tensor(x)).argmax(-1).cpu().numpy()


def _cross(p, lab, data) -> list[dict]:
    members = [(s, d) for s in lab.seeds for d in p.datasets]
    pop = _fit(p, lab, members, [data[s][d][0] for s, d in members],
               [data[s][d][1] for s, d in members], 10)
    rows = []
    for test in p.datasets:
        x = np.stack([data[s][test][2] for s, _ in members])
        pred = _predict(pop, lab, x)
        for i, (s, d) in enumerate(members):
            acc = float((pred[i] == data[s][test][3]).mean())
            rows.append(dict(seed=s, task="digit", train_set=d, test_set=test, metric="accuracy",
                             value=acc))
    return rows


def _name_that_dataset(p, lab, data) -> list[dict]:
    k = len(p.datasets)
    members = [(s, "source") for s in lab.seeds]
    part = lambda s, i: np.concatenate([data[s][d][i] for d in p.datasets])
    source = lambda s, i: np.repeat(np.arange(k), [len(data[s][d][i]) for d in p.datasets])
    pop = _fit(p, lab, members, [part(s, 0) for s, _ in members],
               [source(s, 1) for s, _ in members], k)
    pred = _predict(pop, lab, np.stack([part(s, 2) for s, _ in members]))
    rows = []
    for i, (s, _) in enumerate(members):
        truth = source(s, 3)
        rows.append(dict(seed=s, task="source", train_set="all", test_set="all",
                         metric="source_accuracy", value=float((pred[i] == truth).mean())))
        rows += [dict(seed=s, task="source", train_set=d, test_set=e, metric="confusion",
                      value=float((pred[i][truth == a] == b).mean()))
                 for a, d in enumerate(p.datasets) for b, e in enumerate(p.datasets)]
    return rows


def run(p: BiasParams, lab: Lab) -> pd.DataFrame:
    data = {s: _datasets(p, lab, s) for s in lab.seeds}
    rows = _cross(p, lab, data) + _name_that_dataset(p, lab, data)
    return pd.DataFrame(rows)[["seed", "task", "train_set", "test_set", "metric", "value"]]


# The judge and the figures (thresholds of the claim next to it)
CHANCE_DIGITS = 0.1  # ten digit classes, balanced
ABOVE_CHANCE = 2.0  # "far above chance": more than twice the chance rate 1/k (paper 39% vs 8%)


def cross_table(table: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy over seeds, rows = training set, columns = test set."""
    sel = table[table.metric == "accuracy"]
    order = list(dict.fromkeys(sel.train_set))
    return sel.pivot_table(index="train_set", columns="test_set", values="value").loc[order, order]


def _wide(table, train_set) -> pd.DataFrame:
    sel = table[(table.metric == "accuracy") & (table.train_set == train_set)]
    return sel.pivot(index="seed", columns="test_set", values="value").sort_index()


def _own_minus_mean_other(table, train_set) -> pd.Series:
    """Torralba & Efros's comparison: "self" minus the mean over the other test sets."""
    wide = _wide(table, train_set)
    return wide[train_set] - wide.drop(columns=train_set).mean(axis=1)


def _own_minus_best_other(table, train_set) -> pd.Series:
    wide = _wide(table, train_set)
    return wide[train_set] - wide.drop(columns=train_set).max(axis=1)


BEST_OTHER = "beats the best other test set"  # a stricter secondary part than the paper's


def _learns_own(table, d: str):
    """Control: the classifier learns its own dataset (own-test digit accuracy above chance)."""
    own = _wide(table, d)[d]
    row = stats.above(f"trained on {d}: own test accuracy", own, CHANCE_DIGITS,
                      claim=f"> {CHANCE_DIGITS:g} (chance)", setting=setting_label(train_set=d),
                      bounds=(0.0, 1.0))
    return dataclasses.replace(row, control=True, part="*")


def judge(table: pd.DataFrame) -> Verdict:
    k = table[table.metric == "accuracy"].train_set.nunique()
    src = table[table.metric == "source_accuracy"].sort_values("seed").value
    ev = [stats.above(f"name that dataset: accuracy ({k} datasets, chance {1 / k:.2f})", src,
                      ABOVE_CHANCE / k, claim=f"> {ABOVE_CHANCE:g} × chance = {ABOVE_CHANCE / k:.2f}",
                      setting=setting_label(train_set="all"))]
    sets = list(dict.fromkeys(table[table.metric == "accuracy"].train_set))
    for d in sets:
        ev.append(stats.above(f"trained on {d}: own test − mean of the other tests",
                              _own_minus_mean_other(table, d), 0.0,
                              claim="> 0 (self beats the others on average)",
                              setting=setting_label(train_set=d)))
    for d in sets:
        row = stats.above(f"trained on {d}: own test − best other test",
                          _own_minus_best_other(table, d), 0.0,
                          claim="> 0 (best on its own dataset)", setting=setting_label(train_set=d))
        ev.append(dataclasses.replace(row, part=BEST_OTHER))
    ev += [_learns_own(table, d) for d in sets]
    return decide(ev, _finding(table, src, k))


def _finding(table, src, k) -> str:
    cross = cross_table(table)
    diag = ", ".join(f"{d} {cross.loc[d, d]:.2f} (others {cross.loc[d].drop(d).mean():.2f})"
                     for d in cross.index)
    cols = [d for d in cross.index if cross[d].idxmax() == d]
    return (f"Name that dataset: {src.mean():.1%} with {k} datasets (chance {1 / k:.0%}; paper "
            f"39% vs 8% with 12). Digit accuracy on own vs other test sets: {diag}; "
            f"per test set, its own classifier is best for {len(cols)} of {len(cross)} (Torralba & "
            "Efros 2011: every classifier does better on its own test set than on the others' "
            "on average).")


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


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
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


ATOM = Atom(
    name="dataset-bias",
    family="generalization",
    title="Name that dataset: every dataset has its own signature",
    question="Can a classifier tell which of several digit datasets an image came from, and does "
             "a digit classifier trained on one dataset work as well on the others?",
    claim="The source dataset is identified at more than twice chance; every digit classifier is "
          "more accurate on the test set of its own dataset than on the others' on average "
          "(Torralba & Efros's self vs mean others); secondary: than on the best other one.",
    sources=("Torralba & Efros (2011), Unbiased look at dataset bias, CVPR",),
    method="Four datasets of the ten digits, 1,258 training and 539 test images each (the labels "
           "of the fixed sklearn split): scikit-learn's digits, and digits rendered from the 11 "
           "digit-bearing fonts bundled with matplotlib (DejaVu, STIX, Computer Modern) as the "
           "sklearn digits were made (32×32 bitmap → 4×4 block counts, 0–16), with random offset "
           "±3 px, scale 0.8–1.05 and rotation ±10° ('fonts'), then Gaussian blur σ 1.5 px + "
           "pixel noise σ 1.5 ('blurred') or strokes dilated by 2 px ('thick'); rendering is one "
           "batched grid_sample per set, seeded per seed. Classifiers: MLP 64-100-(10 or k) ReLU, "
           "Adam 1e-3, batch 64, 1,500 steps; 'name that dataset' trains one on the union of the "
           "training sets with the source as label (balanced, chance 1/k). Judged as Torralba & "
           "Efros compare: each classifier's own-test accuracy against the mean of its accuracies "
           "on the other test sets (until issue 16 the judge asked it to beat the single best "
           "other test set, stricter than the paper; that comparison is kept as a secondary "
           "part). Control (every part): each classifier learns its own dataset (own-test "
           "accuracy above the chance rate .1).",
    Params=BiasParams,
    run=run,
    judge=judge,
    figures=figures,
    presets={"quick": {"steps": 250, "hidden": 32}},
    runtime_s=8.0,
    settings=("train_set",),
    index_columns=("task", "test_set"),
)
