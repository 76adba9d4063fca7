"""Random labels (Zhang, Bengio, Hardt, Recht & Vinyals 2017, "Understanding deep learning
requires rethinking generalization"): over-parameterised networks fit random labels.

Claim: an MLP with 512 ReLU units per layer reaches 100 % training accuracy on digits with true
labels, partially or fully random labels, shuffled or random pixels and Gaussian inputs; random
labels take only a small constant factor more SGD steps than true labels (the factor is reported
with a CI; "small" = below 10×); test accuracy falls with the corruption p down to chance at
p = 1 (paper: CIFAR-10 Inception 9.78 %, MLP 1×512 10.61 %); weight decay, dropout and data
augmentation each change the true-label test accuracy by less than 5 points, and random labels
are still fitted (≥ 99 % train accuracy within the step cap) with weight decay and dropout on
(the source's regularised random-label setting). Random labels with augmentation too are
measured and reported, not judged (beyond the source's claim).
Budget: ~150 s default (5 seeds; 146 s CPU measured with the 3×512 net), a few seconds
quick.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ... import stats
from ...atom import Atom
from ...data.images import CLASSES, DATASETS, image_data
from ...engine import SGD, MLPPop, Sampler, gather, train
from ...lab import Lab
from ...params import Params, param
from ...verdict import Evidence, Verdict, decide, setting_label
from . import _random_labels_conditions as cond
from . import _random_labels_regularisers as reg
from . import _stacked_mlp as nets
from ._random_labels_conditions import (AUGMENT, DECAY, DROPOUT, RANDOM, RANDOM_DECAY_DROPOUT,
                                        RANDOM_REGULARISED, REGULARISED, TRUE)
from ._random_labels_figures import figures
from ._ratio_evidence import factor_row
from ._stacked_mlp import loss_and_accuracy


@dataclass(frozen=True)
class RandomLabelsParams(Params):
    data: str = param("digits", "data set: digits (bundled) or mnist (IDX files in "
                      "$DEEPATOMS_DATA)", choices=DATASETS)
    hidden_layers: tuple[int, ...] = param((1,), "MLP depths to run (hidden layers of `width` "
                                           "units)", ge=1, le=8)
    core_layers: tuple[int, ...] = param((3,), "further MLP depths run on true and random "
                                         "labels only (the claim's core)", ge=1, le=8,
                                         nonempty=False, min_len=0)
    width: int = param(512, "ReLU units per hidden layer", ge=1)
    corruptions: tuple[float, ...] = param((0.2, 0.4, 0.6, 0.8), "label-corruption "
                                           "probabilities between true (0) and random (1)",
                                           gt=0, lt=1, nonempty=False, min_len=0)
    input_kinds: tuple[str, ...] = param(cond.INPUT_KINDS, "input randomisations (true labels)",
                                         choices=cond.INPUT_KINDS, nonempty=False, min_len=0)
    weight_decay: float = param(5e-4, "weight decay of the regularised conditions (0: off)",
                                ge=0)
    dropout: float = param(0.5, "dropout rate of the hidden units in the regularised "
                           "conditions (0: off)", ge=0, lt=1)
    max_shift: int = param(1, "augmentation in the regularised conditions: random integer "
                           "pixel shifts of up to ±max_shift per axis, fresh per minibatch "
                           "(0: off)", ge=0, le=3)
    random_regularised: bool = param(True, "also train random labels with every regulariser "
                                     "that is on at once")
    lr: float = param(0.05, "SGD learning rate", gt=0)
    momentum: float = param(0.9, "SGD momentum", ge=0, lt=1)
    batch_size: int = param(128, "minibatch size (epochs of shuffled batches)", ge=1)
    max_steps: int = param(4000, "step cap: a model not at 100 % train accuracy by then is "
                           "censored", ge=1)
    record_every: int = param(25, "steps between train-accuracy checks (the resolution of "
                              "steps-to-fit)", ge=1)


def _model_data(p: RandomLabelsParams, lab: Lab, data, members):
    """Per-model training inputs (M, N, d), training labels (M, N), test inputs (M, Nt, d)."""
    xs, ys, xt = [], [], []
    for s, c in members:
        xa, xb = cond.inputs(c.inputs, data.x_train, data.x_test,
                             lab.numpy_rng(s, "pixels", c.inputs))
        xs.append(xa)
        xt.append(xb)
        ys.append(cond.labels(data.y_train, c.p, lab.numpy_rng(s, "labels", c.p), CLASSES))
    return lab.tensor(np.stack(xs)), lab.tensor(np.stack(ys)), lab.tensor(np.stack(xt))


def _regularised_loss(p: RandomLabelsParams, lab: Lab, pop: MLPPop, data, x, y, members,
                      depth: int):
    """Per-example training loss (M, B) with each member's regularisers: its images shifted and
    its hidden units dropped out with noise from its own generators (train mode)."""
    m = len(members)
    shift = {i: lab.torch_generator(s, "shifts", depth) for i, (s, c) in enumerate(members)
             if c.augment}
    drop = {i: lab.torch_generator(s, "dropout", depth) for i, (s, c) in enumerate(members)
            if c.dropout}
    mean, std = lab.tensor(data.mean), lab.tensor(data.std)

    def loss(idx, step):
        xb = gather(x, idx)                                             # (M, B, d)
        if shift:
            xb = reg.shift_images(xb, reg.draw_shifts(shift, m, idx.shape[1], p.max_shift,
                                                      lab.device), mean, std)
        keep = None
        if drop:
            keep = [None] + reg.dropout_keep(drop, m, idx.shape[1], [p.width] * depth,
                                             p.dropout, lab.device, lab.dtype)
        return F.cross_entropy(nets.forward(pop.weights, pop.biases, xb, keep=keep).transpose(1, 2),
                               gather(y, idx), reduction="none")
    return loss


def _train_group(p: RandomLabelsParams, lab: Lab, data, conds, depth: int):
    members = [(s, c) for s in lab.seeds for c in conds]
    x, y, x_test = _model_data(p, lab, data, members)
    size = (data.dim, *([p.width] * depth), CLASSES)
    pop = MLPPop([size] * len(members), [lab.torch_generator(s, "init", depth) for s, _ in members],
                 init="xavier_uniform", bias_init="zeros", device=lab.device, dtype=lab.dtype)
    sampler = Sampler([lab.torch_generator(s, "batches", depth) for s, _ in members],
                      data.x_train.shape[0], p.batch_size, "epoch", device=lab.device)
    decay = [p.weight_decay if c.decay else 0.0 for _, c in members]
    opt = SGD(pop.params, lr=p.lr, momentum=p.momentum, weight_decay=decay)
    last = {}

    def record(step):
        last["acc"] = loss_and_accuracy(pop, x, y)[1]   # eval mode: clean images, no dropout
        return last["acc"].cpu().numpy().copy()

    out = train(pop.params, _regularised_loss(p, lab, pop, data, x, y, members, depth), opt,
                p.max_steps, sampler=sampler, record=record,
                record_at=range(p.record_every, p.max_steps + 1, p.record_every),
                until=lambda step: last["acc"] >= 1.0,
                iterate=lambda n: lab.steps(n, f"random-labels depth={depth}"))
    test_acc = loss_and_accuracy(pop, x_test, lab.tensor(data.y_test))[1].cpu().numpy()
    return members, out, test_acc


def _groups(conds: list) -> list[list]:
    """The unregularised conditions share one population; each regularised condition is a
    population of its own, so a slow one does not keep the others computing."""
    return [[c for c in conds if not c.regularised]] + [[c] for c in conds if c.regularised]


def _rows(members, out, test_acc, depth: int, n_test: int) -> list[dict]:
    rows, final = [], out.records[-1][1]
    for i, (s, c) in enumerate(members):
        base = dict(seed=s, hidden_layers=depth, condition=c.name, p=c.p)
        for step, acc in out.records:
            if out.stopped_at[i] is None or step <= out.stopped_at[i]:
                rows.append(dict(base, step=step, metric="train_accuracy_curve",
                                 value=float(acc[i])))
        fitted = out.stopped_at[i] is not None
        steps = out.stopped_at[i] if fitted else out.steps
        for metric, value in (("steps_to_fit", steps), ("fitted", float(fitted)),
                              ("train_accuracy", final[i]), ("test_accuracy", test_acc[i]),
                              ("test_points", n_test)):
            rows.append(dict(base, step=steps, metric=metric, value=float(value)))
    return rows


def run(p: RandomLabelsParams, lab: Lab) -> pd.DataFrame:
    data = image_data(p.data)
    conds = cond.conditions(p.corruptions, p.input_kinds, p.weight_decay, p.dropout,
                            p.max_shift, p.random_regularised)
    core = [c for c in conds if c.name in (TRUE, RANDOM)]
    plan = [(depth, conds) for depth in p.hidden_layers]
    plan += [(depth, core) for depth in p.core_layers if depth not in p.hidden_layers]
    rows = [r for depth, cs in plan for group in _groups(cs)
            for r in _rows(*_train_group(p, lab, data, group, depth), depth, len(data.y_test))]
    return pd.DataFrame(rows)[["seed", "hidden_layers", "condition", "p", "step", "metric",
                               "value"]]


# The judge (thresholds of the claim next to it)
FIT_LEVEL = 0.99      # "every condition reaches ≥ 99 % train accuracy" (the catalog's claim)
SMALL_FACTOR = 10.0   # "a small constant factor": below one order of magnitude
CHANCE = 0.1          # ten classes
NEAR_CHANCE = 0.05    # random-label test accuracy within 5 points of chance
FEW_POINTS = 0.05     # a regulariser moves true-label test accuracy by less than 5 points
REGULARISERS = ((DECAY, "weight decay"), (DROPOUT, "dropout"), (AUGMENT, "augmentation"))


def values(t: pd.DataFrame, condition: str, metric: str) -> np.ndarray:
    sel = t[(t.condition == condition) & (t.metric == metric)].sort_values("seed")
    return sel.value.to_numpy(float)


# Measured and reported, not judged: random labels with augmentation too is beyond what the
# source claims (its only regularised random-label runs, on ImageNet, use weight decay and
# dropout without augmentation) and beyond the catalog's conditions.
BEYOND_SOURCE = (RANDOM_REGULARISED,)


def _fit_rows(t: pd.DataFrame, depth: int) -> list[Evidence]:
    """One row per condition; the true labels' is the control (the net can fit at all)."""
    rows = []
    for c in (c for c in t.condition.unique() if c not in BEYOND_SOURCE):
        acc = values(t, c, "train_accuracy")
        row = stats.count_at_least(
            f"{c}: train accuracy ≥ {FIT_LEVEL:.0%}", acc >= FIT_LEVEL, len(acc),
            f"in every seed ({len(acc)} of {len(acc)})",
            setting=setting_label(hidden_layers=depth, condition=c))
        rows.append(dataclasses.replace(row, control=True, part="*") if c == TRUE else row)
    return rows


def step_ratios(t: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: steps-to-fit random / true, and whether it is only a lower bound (random labels
    not fitted within the cap); NaN where the true labels were not fitted."""
    rand, true = values(t, RANDOM, "steps_to_fit"), values(t, TRUE, "steps_to_fit")
    fitted_true = values(t, TRUE, "fitted") > 0
    ratio = np.where(fitted_true, rand / true, np.nan)
    return ratio, values(t, RANDOM, "fitted") == 0


def _ratio_rows(t: pd.DataFrame, depth: int) -> list[Evidence]:
    ratio, cens = step_ratios(t)
    setting = setting_label(hidden_layers=depth, condition=RANDOM)
    note = "random labels not fitted within the step cap: a lower bound"
    return [factor_row("steps to fit: random / true labels (more steps)", ratio, 1.0,
                       setting=setting, censored=cens, bound_note=note),
            factor_row("steps to fit: random / true labels (small factor)", ratio, SMALL_FACTOR,
                       larger=False, setting=setting, censored=cens, bound_note=note)]


def _test_rows(t: pd.DataFrame, depth: int) -> list[Evidence]:
    levels = t[(t.metric == "test_accuracy") & (t.condition.str.startswith(("true labels",
               "corrupted", "random labels"))) & ~t.condition.isin(REGULARISED)]
    grid = levels.pivot_table(index="seed", columns="p", values="value")
    rand = values(t, RANDOM, "test_accuracy")
    if grid.shape[1] < 3:  # true and random labels only: test accuracy falls from one to the other
        return [stats.difference("test accuracy: true − random labels",
                                 values(t, TRUE, "test_accuracy"), rand, 0.0,
                                 setting=setting_label(hidden_layers=depth, condition="*")),
                stats.below("random labels: |test accuracy − chance|", np.abs(rand - CHANCE),
                            NEAR_CHANCE, f"< {NEAR_CHANCE:g} (chance = {CHANCE:g})",
                            setting=setting_label(hidden_layers=depth, condition=RANDOM))]
    return [stats.trend("test accuracy vs label corruption p", grid.columns.to_numpy(float),
                        grid.to_numpy(), increasing=False,
                        setting=setting_label(hidden_layers=depth, condition="*")),
            stats.below("random labels: |test accuracy − chance|", np.abs(rand - CHANCE),
                        NEAR_CHANCE, f"< {NEAR_CHANCE:g} (chance = {CHANCE:g})",
                        setting=setting_label(hidden_layers=depth, condition=RANDOM))]


def _regulariser_rows(t: pd.DataFrame, depth: int) -> list[Evidence]:
    """Per regulariser that was run: its true-label test accuracy minus the unregularised one,
    paired by seed, within ±FEW_POINTS (one one-sided row per direction). Judged on the test
    set's points where the table records their number: when every seed's difference is the same
    (weight decay often leaves the test accuracy unchanged), by the pooled counts, not the sign test."""
    rows, true = [], values(t, TRUE, "test_accuracy")
    points = values(t, TRUE, "test_points")
    n_points = int(points[0]) if len(points) else None
    for condition, label in REGULARISERS:
        if condition not in set(t.condition):
            continue
        acc = values(t, condition, "test_accuracy")
        setting = setting_label(hidden_layers=depth, condition=condition)
        rows += [stats.difference(f"{label} − none: true-label test accuracy", acc, true,
                                  -FEW_POINTS, f"> −{FEW_POINTS:g}", setting=setting,
                                  n_points=n_points),
                 stats.difference(f"none − {label}: true-label test accuracy", true, acc,
                                  -FEW_POINTS, f"> −{FEW_POINTS:g}", setting=setting,
                                  n_points=n_points)]
    return rows


def judge(table: pd.DataFrame) -> Verdict:
    evidence = []
    for depth in sorted(table.hidden_layers.unique()):
        t = table[table.hidden_layers == depth]
        evidence += (_fit_rows(t, depth) + _ratio_rows(t, depth) + _test_rows(t, depth)
                     + _regulariser_rows(t, depth))
    return decide(evidence, finding(table))


def _regulariser_finding(t: pd.DataFrame) -> str:
    true, conds = values(t, TRUE, "test_accuracy"), set(t.condition)
    moves = [f"{label} {100 * (values(t, c, 'test_accuracy') - true).mean():+.1f}"
             for c, label in REGULARISERS if c in conds]
    text = f"; regularisers moved it by {', '.join(moves)} points" if moves else ""
    for c in (RANDOM_REGULARISED, RANDOM_DECAY_DROPOUT):
        if c in conds:
            acc, steps = values(t, c, "train_accuracy"), values(t, c, "steps_to_fit")
            text += (f"; {c}: {acc.mean():.1%} train accuracy (≥ {FIT_LEVEL:.0%} in "
                     f"{int((acc >= FIT_LEVEL).sum())} of {len(acc)} seeds; median "
                     f"{np.median(steps):.0f} steps"
                     + ("; beyond the source's claim: reported, not judged)" if c in BEYOND_SOURCE
                        else ")"))
    return text


def finding(table: pd.DataFrame) -> str:
    parts = []
    for depth in sorted(table.hidden_layers.unique()):
        t = table[table.hidden_layers == depth]
        ratio, cens = step_ratios(t)
        fitted = (t[t.metric == "train_accuracy"].value >= FIT_LEVEL)
        finite = ratio[np.isfinite(ratio)]
        gm = float(np.exp(np.mean(np.log(finite)))) if finite.size else float("nan")
        parts.append(
            f"{depth} hidden layer{'s' if depth > 1 else ''}: {int(fitted.sum())} of "
            f"{len(fitted)} models reached ≥ {FIT_LEVEL:.0%} train accuracy; random labels took "
            f"{gm:.2f}× the steps of true labels (geometric mean"
            f"{', a lower bound in %d seeds' % cens.sum() if cens.any() else ''}); test accuracy "
            f"{values(t, TRUE, 'test_accuracy').mean():.1%} with true labels, "
            f"{values(t, RANDOM, 'test_accuracy').mean():.1%} with random labels"
            + _regulariser_finding(t))
    return "; ".join(parts) + (" (Zhang et al. 2017: 100 % train on random labels, test at "
                               "chance — MLP 1×512 10.61 % on CIFAR-10; 'a small constant "
                               "factor' slower).")


ATOM = Atom(
    name="random-labels",
    family="generalization",
    title="Networks fit random labels",
    question="Can an over-parameterised network fit labels that carry no information, and how "
             "much longer does it take than fitting the true labels?",
    claim="An MLP (1×512 ReLU; 3×512 on true and random labels) reaches 100 % training "
          "accuracy on true labels, corrupted labels, random labels, shuffled or random "
          "pixels and Gaussian inputs; random labels "
          "take a small constant factor (< 10×) more steps than true labels; test accuracy "
          "falls with the corruption level down to chance (10 %) at random labels (paper, "
          "CIFAR-10: MLP 1×512 10.61 %); weight decay, dropout and augmentation each move "
          "true-label test accuracy by < 5 points, and random labels are still fitted "
          "(≥ 99 % train accuracy within the step cap) with weight decay and dropout on.",
    sources=("Zhang, Bengio, Hardt, Recht & Vinyals (2017), Understanding deep learning "
             "requires rethinking generalization, ICLR",),
    method="Digits (the shared fixed 70/30 split, standardised per pixel). Per seed, every "
           "condition trains the same initial network (1 hidden layer of 512 ReLU units, Xavier-"
           "uniform weights, zero biases) on the same batch order: SGD lr 0.05, momentum 0.9, "
           "batch 128 in shuffled epochs, until 100 % training accuracy on its own labels "
           "(checked every 25 steps on the clean training images, dropout off; the engine's "
           "per-model early stopping) or a cap of 4,000 steps (censored). Labels are corrupted "
           "once per seed with probability p ∈ {0.2, 0.4, 0.6, 0.8} (uniform random class) and "
           "stay fixed across epochs; shuffled pixels use one permutation, random pixels one per "
           "image, Gaussian inputs match the per-pixel mean and variance; the test set keeps its "
           "clean labels (its inputs get the same input change). For an MLP a fixed pixel "
           "permutation only reorders the first layer's inputs, so shuffled pixels are as easy "
           "as the true images (a control, not a randomisation of the content). The paper's MLP "
           "lr was 0.01 with a 0.95 per-epoch decay; 0.05 constant fits in ~4× fewer steps here, "
           "and the claim is a ratio of steps at one learning rate. Steps-to-fit ratio: "
           "geometric mean over seeds of random/true, t CI of the mean log ratio. Regularised "
           "conditions (all other conditions have none): weight decay 5e-4 (L2, added to the "
           "gradient before momentum, on every weight and bias); dropout 0.5 on the hidden "
           "units (inverted: kept units scaled by 2; train mode in the training loss only, "
           "off for every accuracy); augmentation by a random integer shift of the 8×8 image "
           "by −1, 0 or +1 pixel along each axis (uniform, independent per image, drawn afresh "
           "every minibatch; pixels shifted in are blank, raw 0, and the shifted image is "
           "standardised at its new positions) — the 8-pixel analogue of CIFAR-10's ±4-of-32 "
           "crops. Each regulariser alone on the true labels is compared with the "
           "unregularised true-label model of the same seed: the paired difference in test "
           "accuracy, with a t CI, must lie within ±5 points (two one-sided rows). Random "
           "labels are also trained with weight decay + dropout, which must reach ≥ 99 % train "
           "accuracy within the same 4,000-step cap, and with all three regularisers at once "
           "(measured and reported in the finding, not judged: see the source scope). The cap is not raised for them: it is > 20× the true-label and ~6× the "
           "unregularised random-label steps to fit, so a condition not fitted by then is not "
           "'a small constant factor' slower. Source scope: Zhang et al. fit random labels with "
           "explicit regularisers only on ImageNet (Inception, weight decay + dropout, no "
           "augmentation, Table 2: about 91 % top-1 train accuracy, not 100 %); their CIFAR-10 "
           "random-label runs (Table 1) are unregularised and none uses augmentation, so the "
           "'all regularisers' condition goes beyond the paper and is not part of the verdict, and the paper applies dropout "
           "to Inception, not to its MLPs. Each regularised condition is trained as a population "
           "of its own (same generators, so the same numbers as in one population). The "
           "catalog's 3×512 MLP (issue 16) runs by default on the true and the random labels "
           "(the claim's core: both fitted, the steps ratio, random-label test accuracy at "
           "chance); its full condition grid (`hidden_layers=(1, 3)`) would cost ~10× the atom's "
           "budget. Control (every part): the true labels are fitted (≥ 99 % train accuracy) at "
           "each depth."
           " The regulariser rows are judged on the test set’s points (issue 16 §1.1): on seeds 200…204 weight decay gave the very same test accuracy as none in every seed, so every difference was exactly 0 and the sign test (smallest p 1/32 with 5 seeds) could not support; the pooled counts’ Newcombe interval decides it.",
    Params=RandomLabelsParams,
    run=run,
    judge=judge,
    figures=figures,
    presets={"quick": {"width": 256, "core_layers": (), "corruptions": (), "input_kinds": ("random pixels",),
                       "weight_decay": 0.0, "random_regularised": False, "lr": 0.1,
                       "max_steps": 1000},
             "paper": {"data": "mnist", "hidden_layers": (1, 3), "max_steps": 60_000,
                       "record_every": 100}},
    runtime_s=150.0, default_seeds=5,
    settings=("hidden_layers", "condition"),
    index_columns=("p",),
    minimum_scale={"max_steps": 4000},
    figure_metrics=("train_accuracy_curve",),
)
