"""Activation functions (seed 003 §7): can any non-linearity serve as an activation function?

Claim: on two moons (n = 500, noise 0.1) a (30, 30) MLP reaches ≈ 1.0 test accuracy with ReLU,
tanh, x² or sin; the identity (a linear classifier) stays near .89 and sign(x), whose gradient
is zero, ends lower (.97). Accuracy is judged against each seed's oracle: the Bayes rule of the
two-moons generator (known arcs and noise) scored on the same test points. Budget: ~1 s default
(12 seeds), <1 s quick.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ... import stats
from ...atom import Atom
from ...data.gaussian import split
from ...data.two_moons import two_moons
from ...engine import ACTIVATIONS, MLPPop, Sampler
from ...engine.fused_adam import FusedAdam
from ...errors import ParamError
from ...figures import curves_by_group, new_figure
from ...lab import Lab
from ...params import Params, param
from ...verdict import Verdict, decide, setting_label
from .._controls import learns, separable
from ._classifier_training import (LOSSES, TEST_POINTS, ceiling_rows, curve_rows, every, fit,
                                   per_seed, seed_ceilings, test_points, to_splits)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NONLINEAR = ("relu", "tanh", "square", "sin", "sigmoid", "softplus")
# "≈ 1.0" on a test set of 100 points: at most about 3 errors more than the seed's oracle.
GAP = 0.03
TRAIN_FRACTION = 0.8


@dataclass(frozen=True)
class ActivationParams(Params):
    activations: tuple[str, ...] = param(("relu", "tanh", "square", "sin", "sign", "identity"),
                                         "hidden activations (square = x², sign has zero gradient)",
                                         choices=tuple(ACTIVATIONS))
    n: int = param(500, "two-moons points, split 80% train / 20% test", ge=10)
    noise: float = param(0.1, "Gaussian noise on the moons", ge=0)
    hidden: tuple[int, ...] = param((30, 30), "hidden-layer widths", ge=1, le=4096,
                                          distinct=False)
    batch_size: int = param(64, "minibatch size (random subsets)", ge=1)
    steps: int = param(800, "Adam steps", ge=1)
    lr: float = param(0.003, "Adam learning rate", gt=0)
    record_every: int = param(80, "steps between recorded test accuracies", ge=1)

    def check(self) -> None:
        if not any(a in NONLINEAR for a in self.activations):
            raise ParamError(f"parameter 'activations' needs at least one smooth non-linearity "
                             f"({', '.join(NONLINEAR)}) as the reference")
        n_train = round(TRAIN_FRACTION * self.n)
        if self.batch_size > n_train:
            raise ParamError(f"parameter 'batch_size' ({self.batch_size}) must not exceed the "
                             f"training set ({n_train})")


def _arcs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The noiseless points two_moons(n) draws around: class 0 (n // 2, 2), class 1 (rest, 2)."""
    t0, t1 = np.linspace(0, np.pi, n // 2), np.linspace(0, np.pi, n - n // 2)
    return (np.stack([np.cos(t0), np.sin(t0)], axis=1),
            np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1))


def oracle_accuracy(x: np.ndarray, y: np.ndarray, n: int, noise: float) -> float:
    """Accuracy of the generator's Bayes rule on the points x (N, 2) with labels y (N,): each
    class is an equal mixture of N(arc point, noise²·I) over its arc points, with prior = its
    share of the n points. Without noise the classes are (almost surely) separable: 1.0."""
    if noise == 0:
        return 1.0
    scores = []
    for arc in _arcs(n):
        sq = ((x[:, None, :].astype(np.float64) - arc[None]) ** 2).sum(-1)  # (N, points)
        log_p = -sq / (2 * noise ** 2)
        top = log_p.max(axis=1)
        scores.append(top + np.log(np.exp(log_p - top[:, None]).sum(axis=1)))  # + log(prior)
    return float(((scores[1] > scores[0]).astype(np.int64) == y).mean())


def run(p: ActivationParams, lab: Lab) -> pd.DataFrame:
    parts = []
    for s in lab.seeds:
        rng = lab.numpy_rng(s, "data")
        parts.append(split(rng, *two_moons(rng, p.n, p.noise), TRAIN_FRACTION))
    oracles = [oracle_accuracy(x_te, y_te, p.n, p.noise) for _, _, x_te, y_te in parts]
    combos = [(act, i, s) for act in p.activations for i, s in enumerate(lab.seeds)]
    data = to_splits(lab, parts, [i for _, i, _ in combos])
    pop = MLPPop([(2, *p.hidden, 2)] * len(combos),
                 [lab.torch_generator(s, "init") for _, _, s in combos],
                 activation=[c[0] for c in combos], init="xavier_uniform", device=lab.device)
    stream = Sampler([lab.torch_generator(s, "batches") for s in lab.seeds],
                     data.x_train.shape[1], p.batch_size, device=lab.device)
    lab.name_models([a for a, _, _ in combos], [s for _, _, s in combos])  # live view
    curves = fit(pop, FusedAdam(pop.params, lr=p.lr), data, LOSSES["cross_entropy"], p.steps,
                 lab, record=every(p.record_every, p.steps), stream=stream,
                 description="activation-functions")
    rows = ceiling_rows(lab.seeds, oracles)
    rows += ceiling_rows(lab.seeds, [len(y_te) for _, _, _, y_te in parts], metric=TEST_POINTS)
    return pd.DataFrame(rows + curve_rows([dict(seed=s, activation=a) for a, _, s in combos],
                                          curves))


def _row(act: str, acc: pd.DataFrame, oracle: pd.Series, smooth: list[str], n_test: int | None):
    """The evidence row for one activation: near the oracle, a linear gap, or below smooth.
    `n_test`: the test-set size (an accuracy's resolution), None where the table lacks it."""
    where = setting_label(activation=act)
    if act in NONLINEAR:
        return stats.near_ceiling(f"{act}: test accuracy − seed's oracle", acc[act], oracle, GAP,
                                  setting=where, claim=f"> −{GAP} (≈ 1.0)", n_points=n_test)
    if act == "identity":
        return stats.difference("seed's oracle − identity accuracy", oracle, acc[act], GAP,
                                setting=where, claim=f"> {GAP} (linear, ≈ .89 in the source)")
    return stats.difference(f"smooth non-linearities − {act} accuracy", acc[smooth].mean(axis=1),
                            acc[act], setting=where, claim="> 0 (sign lower, .97 in the source)")


def _controls(acc: pd.DataFrame, oracle: pd.Series, n_test: int | None) -> list:
    """Positive controls: the generator allows ≈ 1.0 (each seed's oracle above 1 − GAP), else
    no activation can show it; and the training works at all: the identity network (a linear
    classifier, ≈ .89 in the source) is clearly above chance, else its gap to the oracle is a
    failed run rather than the lack of a non-linearity."""
    rows = [separable(oracle.to_numpy(), 1 - GAP, what="the two moons allow ≈ 1.0")]
    if "identity" in acc.columns:
        rows.append(learns("identity: test accuracy", acc["identity"], 0.5, 0.25, n_points=n_test,
                           setting=setting_label(activation="identity"),
                           what="training works: the linear classifier learns"))
    return rows


def judge(table: pd.DataFrame) -> Verdict:
    names = list(pd.unique(table[table.metric == "test_accuracy"].activation))
    acc = per_seed(table, "test_accuracy", "activation")[names]
    oracle = seed_ceilings(table).reindex(acc.index)
    smooth = [a for a in names if a in NONLINEAR]
    evidence = [_row(a, acc, oracle, smooth, test_points(table)) for a in names]
    evidence += _controls(acc, oracle, test_points(table))
    means = ", ".join(f"{a} {acc[a].mean():.3f}" for a in names)
    finding = (f"Mean test accuracy after training: {means} (source: ≈ 1.0 for every "
               f"non-linearity but sign .97; identity ≈ .89). The generator's Bayes rule scores "
               f"{oracle.min():.2f}–{oracle.max():.2f} on the seeds' test sets (mean "
               f"{oracle.mean():.3f}).")
    return decide(evidence, finding)


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    names = list(pd.unique(table.activation.dropna()))
    fig, panels = new_figure(1, len(names), width=1.9, height=1.9, squeeze=False,
                             name="activations", axes=axes)
    z = torch.linspace(-3, 3, 201)
    for ax, a in zip(panels[0], names):
        ax.plot(z.numpy(), ACTIVATIONS[a](z).numpy(), lw=2)
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_title("x²" if a == "square" else a, fontsize=9)
    curve = table[table.metric == "test_accuracy_curve"]
    fig2, ax2 = new_figure(1, 1, width=5.5, height=3.6, name="accuracy-curves", axes=axes)
    curves_by_group(ax2, curve, "activation", names)
    ax2.axhline(seed_ceilings(table).mean(), color="k", ls="--", lw=0.8,
                label="oracle (Bayes rule, mean)")
    ax2.set(xlabel="step", ylabel="test accuracy (mean ± sd over seeds)",
            title="Two moons: accuracy per activation")
    ax2.legend(fontsize=8)
    return {"activations": fig, "accuracy-curves": fig2}


ATOM = Atom(
    name="activation-functions", family="atoms",
    title="Can any non-linearity serve as an activation function?",
    question="Do unusual activations such as x², sin(x) or sign(x) train as well as ReLU and tanh?",
    claim=("Every non-linear activation except sign — ReLU, tanh, x², sin — reaches ≈ 1.0 test "
           "accuracy on two moons; the identity (a linear classifier) stays near .89 and sign "
           "is lower (.97)."),
    sources=("Atomic Experiments in Deep Learning §7 (seed 003)",),
    method=("Two moons (scikit-learn's construction), n = 500, noise 0.1, split 400/100. MLP "
            "2 → 30 → 30 → 2 with the activation in both hidden layers, Xavier-uniform weights "
            "and biases, softmax cross-entropy, Adam (lr 0.003), 800 steps of random minibatches "
            "of 64; test accuracy every 80 steps. sign(x) has zero derivative almost everywhere; "
            "as tf.sign in the source its gradient is taken to be zero, so its hidden layers keep "
            "their random initial weights and only the output layer learns on fixed random sign "
            "features. Within a seed every activation starts from the same weights and sees the "
            "same minibatches; all (activation, seed) models train as one population. The data come "
            "from a known generator, so each seed's oracle is in the table (metric "
            "bayes_ceiling): the Bayes rule of the generator (each class an equal mixture of "
            "Gaussians of the noise's sd around its arc points) scored on the seed's test "
            "points; at noise 0.1 it is ≈ 1.0, so the claim is judged against it, paired by seed: "
            f"each smooth non-linearity within {GAP} of the oracle, identity more than {GAP} "
            "below it, sign below the mean of the smooth non-linearities. Every activation in "
            "the table gets its row (sigmoid and softplus are judged as smooth non-linearities). "
            "Positive controls (issue 16), guarding the claim: the seeds' oracles above "
            f"{1 - GAP:g} (the data allow ≈ 1.0) and the identity network above .75 (chance .5 + "
            ".25: the training itself works, so the identity's gap is linearity, not a failed "
            "run)."
            " Seeds: 12 by default, was 5 (issue 16 §3, a power calculation): over three seed sets of 5 (seeds 0…, 100…, 200…) the smooth non-linearities beat sign by .047 with spread .042, and one set of the three left the row undecided (.041 [−.023, .105]); 12 seeds give 94 % power at the 95 % level (5 gave 49 %)."),
    settings=("activation",),
    Params=ActivationParams, run=run, judge=judge, figures=figures,
    presets={"quick": dict(steps=300, record_every=50)},
    runtime_s=4, default_seeds=12,  # CPU time × 1.2, measured on a shared machine
)
