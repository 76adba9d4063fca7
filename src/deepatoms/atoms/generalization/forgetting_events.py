"""Forgetting events (Toneva et al. 2019; seed 004 "not all training data is used"): during SGD,
how often is each training example forgotten (classified correctly at one presentation, wrongly
at the next)?

Claim: a large fraction of examples is never forgotten (paper: MNIST 91.7 %, permuted MNIST
75.3 %, CIFAR-10 31.3 %), fewer on a harder set; the counts are stable across seeds (Spearman
≫ 0); examples with noisy labels are forgotten most; removing the least-forgotten examples first
keeps test accuracy (paper: 30 % of CIFAR-10 removed at no loss) and costs less than removing as
many at random. Budget: ~8 s default (5.4 s CPU measured), ~2 s quick.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ...atom import Atom
from ...data.digits_split import digits_split
from ...engine import SGD, MLPPop, Sampler, gather, train
from ...lab import Lab
from ...params import Params, param
from . import _forgetting_events_tracker as ev
from . import _gen_c_nets as nets
from ._gen_c_events_judge import figures, judge

DATASETS = ("digits", "noisy")
NOISE_SEED = 20190101  # the noisy set is one fixed data set: the same flipped labels for every seed


@dataclass(frozen=True)
class EventsParams(Params):
    datasets: tuple[str, ...] = param(DATASETS, "training sets: digits, and digits with a "
                                      "fraction of noisy labels (the harder set)",
                                      choices=DATASETS, requires=("digits",))
    noise: float = param(0.2, "fraction of training labels replaced by another class (noisy)",
                         gt=0, lt=1)
    hidden: tuple[int, ...] = param((100,), "hidden ReLU layer widths", ge=1, le=4096,
                                    distinct=False)
    epochs: int = param(30, "training epochs (every example presented once per epoch)", ge=2)
    batch: int = param(32, "minibatch size", ge=1, le=256)
    lr: float = param(0.05, "SGD learning rate", gt=0)
    fractions: tuple[float, ...] = param((0.1, 0.3, 0.5), "fractions of the digits training set "
                                         "removed before retraining", gt=0, lt=1)


def _labels(p, dataset, y):
    """The training labels: clean, or with `noise` of them changed to a uniformly random other
    class (one fixed draw, so seeds differ only in init and batch order, as reruns on one data
    set do). Returns (labels, noisy mask)."""
    if dataset == "digits":
        return y.copy(), np.zeros(len(y), bool)
    rng = np.random.default_rng(NOISE_SEED)
    flip = rng.permutation(len(y))[: int(round(p.noise * len(y)))]
    out = y.copy()
    out[flip] = (y[flip] + rng.integers(1, 10, len(flip))) % 10
    noisy = np.zeros(len(y), bool)
    noisy[flip] = True
    return out, noisy


def _train(p, lab, members, rows, labels, split, tracker=None):
    """Train one MLP per member on its rows (M, N_max) of the shared training images (epoch
    sampler, `sizes` per member), recording each presentation into `tracker`."""
    sizes = [len(r) for r in rows]
    rows_t = lab.tensor(np.stack([np.pad(r, (0, max(sizes) - len(r))) for r in rows]))
    y_t = lab.tensor(np.stack([np.pad(l, (0, max(sizes) - len(l))) for l in labels]))
    x = lab.tensor(split.x_train)
    pop = MLPPop([(64, *p.hidden, 10)] * len(members),
                 [lab.torch_generator(m[0], "init") for m in members], device=lab.device)
    sampler = Sampler([lab.torch_generator(*m, "batches") for m in members], sizes, p.batch,
                      "epoch", device=lab.device)

    def loss(idx, step):
        logits = nets.forward(pop.weights, pop.biases, gather(x, gather(rows_t, idx), shared=True))
        y = gather(y_t, idx)
        if tracker is not None:
            with torch.no_grad():
                tracker.update(idx, logits.argmax(-1) == y, ev.margins(logits, y))
        return nets.masked_nll(logits, y, None)

    steps = p.epochs * (split.n_train // p.batch)
    train(pop.params, loss, SGD(pop.params, lr=p.lr), steps, sampler=sampler,
          iterate=lambda k: lab.steps(k, f"forgetting-events ({len(members)} models)"))
    with torch.no_grad():
        ok = nets.forward(pop.weights, pop.biases, lab.tensor(split.x_test)).argmax(-1)
        return (ok == lab.tensor(split.y_test)).float().mean(1).cpu().numpy()


def _phase_counts(p, lab, split):
    members = [(s, d) for s in lab.seeds for d in p.datasets]
    lab_noise = [_labels(p, d, split.y_train) for s, d in members]
    rows = [np.arange(split.n_train)] * len(members)
    tracker = ev.ForgettingTracker(len(members), split.n_train, lab.device)
    acc = _train(p, lab, members, rows, [l for l, _ in lab_noise], split, tracker)
    counts, margin = tracker.counts(), tracker.mean_margin()
    out = []
    for i, (s, d) in enumerate(members):
        base = dict(seed=s, dataset=d, ordering="none", fraction=0.0)
        out.append(dict(base, example=-1, metric="test_acc", value=float(acc[i])))
        for metric, values in (("forgetting_count", counts[i]), ("mean_margin", margin[i]),
                               ("noisy_label", lab_noise[i][1].astype(float))):
            out += [dict(base, example=k, metric=metric, value=float(v)) for k, v in enumerate(values)]
    return out, {s: counts[members.index((s, "digits"))] for s in lab.seeds}


def _phase_removal(p, lab, split, counts):
    n = split.n_train
    members, rows = [], []
    for s in lab.seeds:
        order = ev.removal_order(counts[s], lab.numpy_rng(s, "ties"))
        shuffled = lab.numpy_rng(s, "random-removal").permutation(n)
        for f in p.fractions:
            k = int(round(f * n))
            members += [(s, "forgetting", f), (s, "random", f)]
            rows += [np.sort(order[k:]), np.sort(shuffled[k:])]
    acc = _train(p, lab, [(s, o, f) for s, o, f in members], rows,
                 [split.y_train[r] for r in rows], split)
    return [dict(seed=s, dataset="digits", ordering=o, fraction=f, example=-1, metric="test_acc",
                 value=float(acc[i])) for i, (s, o, f) in enumerate(members)]


def run(p: EventsParams, lab: Lab) -> pd.DataFrame:
    split = digits_split()
    rows, counts = _phase_counts(p, lab, split)
    rows += _phase_removal(p, lab, split, counts)
    return pd.DataFrame(rows)[["seed", "dataset", "ordering", "fraction", "example", "metric",
                               "value"]]


ATOM = Atom(
    name="forgetting-events",
    family="generalization",
    title="Forgetting events: most examples are never forgotten",
    question="During SGD, how many training examples are forgotten (right, then wrong) and can "
             "the never-forgotten ones be dropped from the training set?",
    claim="Most digits examples are never forgotten, fewer with 20% noisy labels; counts are "
          "stable across seeds; noisy-label examples are forgotten most; removing the least "
          "forgotten examples first keeps test accuracy and beats removing as many at random.",
    sources=("Toneva, Sordoni, Combes, Trischler, Bengio & Gordon (2019), An empirical study of "
             "example forgetting during deep neural network learning, ICLR",),
    method="Digits (fixed 70/30 split, 1,258 training images); 'noisy': the same images with 20% "
           "of the labels changed to another class (one fixed draw). MLP 64-100-10 ReLU, SGD lr 0.05, "
           "batch 32, 30 epochs of per-seed permutations; at each step the minibatch's own "
           "forward pass records, per example, correct or not and its margin (correct logit − "
           "best other). An event is correct → incorrect between consecutive presentations; an "
           "example never classified correctly counts as forgotten infinitely often. Stability: "
           "each seed's counts vs the mean of the other seeds' (Spearman). Removal: per seed, "
           "drop the least-forgotten fraction f (ties at random) or a random f of the clean set, "
           "retrain from the same init for the same number of steps, test accuracy. The "
           "authors' margin code returned only the last example's margins; here every "
           "example's running mean is kept (tested).",
    Params=EventsParams,
    run=run,
    judge=judge,
    figures=figures,
    presets={"quick": {"epochs": 6, "hidden": (32,), "fractions": (0.3,)}},
    runtime_s=8.0,
    settings=("dataset", "ordering", "fraction"),
    index_columns=("example",),
)
