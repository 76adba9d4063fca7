"""Optimisers find different minima (Im, Tao & Branson 2016, "An empirical analysis of the
optimization of deep network loss surfaces"; seed 001): from the same initialisation and the same
minibatch order, SGD, momentum, RMSprop, Adam and Adadelta end at different points with similar
accuracy; switching optimiser late in training moves the solution to the second optimiser's kind
of minimum.

Claim (operationalised): the training-loss barrier on the straight line between two optimisers'
solutions exceeds 0.05 nats and the barrier between two reruns of one optimiser (same init,
another minibatch order); the optimisers' solutions lie farther apart, and differ more in weight
norm (the characteristic the paper traces the different loss surfaces back to), than reruns'
solutions do; every optimiser's test error is within 3 points of the others'; after a
switch at 75 % of training the solution has left the first optimiser's basin (barrier above the
rerun barrier) and its weight norm is closer to the second optimiser's than to the first's.
Budget: ~50 s default (48 s CPU measured), ~2.5 s quick.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ...atom import Atom
from ...engine import MLPPop, Sampler, gather, train
from ...errors import ParamError
from ...lab import Lab
from ...params import Params, param
from . import _gen_b_data as data
from . import _stacked_mlp as nets
from . import _optimizer_minima_paths as paths
from ._gen_b_minima_judge import figures, judge
from ._optimizer_minima_rules import DEFAULT_LR, RULES, RuleOptimizer

SWITCHES = ("sgd>adam", "adam>sgd", "momentum>rmsprop", "rmsprop>momentum")
RERUN = "/rerun"   # suffix of a rerun: same init, the other minibatch order


@dataclass(frozen=True)
class MinimaParams(Params):
    dataset: str = param("digits", "digits (fixed 70/30 split) or mnist (files in "
                         "$DEEPATOMS_DATA)", choices=data.DATASETS)
    hidden: tuple[int, ...] = param((100, 100), "hidden ReLU layer widths", ge=1, le=4096,
                                    distinct=False)
    optimizers: tuple[str, ...] = param(RULES, "optimisers compared", choices=RULES, min_len=2)
    switches: tuple[str, ...] = param(SWITCHES, "late switches 'first>second' (both among "
                                      "the optimisers)", min_len=1)
    switch_at: float = param(0.75, "fraction of training after which a switch happens", gt=0, lt=1)
    steps: int = param(3000, "optimiser steps per run", ge=10)
    batch: int = param(32, "minibatch size (epoch order, the same for every optimiser)", ge=1)
    lr_sgd: float = param(DEFAULT_LR["sgd"], "SGD learning rate", gt=0)
    lr_momentum: float = param(DEFAULT_LR["momentum"], "momentum (0.9) learning rate", gt=0)
    lr_rmsprop: float = param(DEFAULT_LR["rmsprop"], "RMSprop learning rate", gt=0)
    lr_adam: float = param(DEFAULT_LR["adam"], "Adam learning rate", gt=0)
    lr_adadelta: float = param(DEFAULT_LR["adadelta"], "Adadelta learning rate", gt=0)
    alphas: int = param(11, "points on each straight path, α from 0 to 1", ge=3, le=201)
    path_examples: int = param(600, "training examples the path losses are measured on", ge=10)
    record_every: int = param(100, "steps between recorded weight norms", ge=1)

    def check(self) -> None:
        for s in self.switches:
            a, _, b = s.partition(">")
            if a not in self.optimizers or b not in self.optimizers or a == b:
                raise ParamError(f"parameter 'switches': '{s}' must be 'first>second', two "
                                 f"different optimisers among {', '.join(self.optimizers)}")

    def lrs(self) -> dict[str, float]:
        return {r: getattr(self, f"lr_{r}") for r in RULES}


def _runs(p: MinimaParams) -> list[tuple[str, str, str, str]]:
    """(run, first rule, second rule, minibatch order) per model of one seed."""
    runs = [(o, o, o, "A") for o in p.optimizers]
    runs += [(o + RERUN, o, o, "B") for o in p.optimizers]
    return runs + [(s, *s.split(">"), "A") for s in p.switches]


def _pairs(p: MinimaParams) -> list[tuple[str, str, str]]:
    """(kind, run, other): optimiser pairs, reruns, and each switch against both its parts."""
    opts = p.optimizers
    out = [("between", a, b) for i, a in enumerate(opts) for b in opts[i + 1:]]
    out += [("rerun", o, o + RERUN) for o in opts]
    for s in p.switches:
        a, b = s.split(">")
        out += [("switch-first", s, a), ("switch-second", s, b)]
    return out


def _norms(params, init) -> tuple[np.ndarray, np.ndarray]:
    """(M,) ‖θ‖ and ‖θ − θ₀‖ over all parameters."""
    with torch.no_grad():
        sq = sum((t.flatten(1) ** 2).sum(1) for t in params)
        dsq = sum(((t - t0).flatten(1) ** 2).sum(1) for t, t0 in zip(params, init))
    return sq.sqrt().cpu().numpy(), dsq.sqrt().cpu().numpy()


def _train(p: MinimaParams, lab: Lab, d: data.Images, members):
    pop = MLPPop([(d.dims, *p.hidden, 10)] * len(members),
                 [lab.torch_generator(s, "init") for s, *_ in members], device=lab.device)
    init = [t.detach().clone() for t in pop.params]
    x, y = lab.tensor(d.x_train), lab.tensor(d.y_train)
    sampler = Sampler([lab.torch_generator(s, "batches", order) for s, *_, order in members],
                      len(y), p.batch, "epoch", device=lab.device)
    opt = RuleOptimizer(pop.params, [m[2] for m in members], p.lrs())

    def loss(idx, step):
        return nets.cross_entropy(pop(gather(x, idx, shared=True)), y[idx])

    first = int(round(p.switch_at * p.steps))
    norms = []
    record = lambda offset: (lambda step: norms.append((step + offset, _norms(pop.params, init)[0])))
    for n, offset, rules in ((first, 0, [m[2] for m in members]),
                             (p.steps - first, first, [m[3] for m in members])):
        opt.switch(rules)
        train(pop.params, loss, opt, n, sampler=sampler, record=record(offset),
              record_at=range(p.record_every, n + 1, p.record_every),
              iterate=lambda k: lab.steps(k, f"optimizer-minima ({len(members)} runs)"))
    return pop, init, norms


def _run_rows(p, lab, d, members, pop, init) -> list[dict]:
    xs, ys = lab.tensor(d.x_test), lab.tensor(d.y_test)
    xt, yt = lab.tensor(d.x_train), lab.tensor(d.y_train)
    values = dict(test_error=nets.error_counts(pop.weights, pop.biases, xs, ys).cpu().numpy() / len(ys),
                  train_error=nets.error_counts(pop.weights, pop.biases, xt, yt).cpu().numpy() / len(yt),
                  train_loss=nets.mean_loss(pop.weights, pop.biases, xt, yt).cpu().numpy())
    values["weight_norm"], values["distance_from_init"] = _norms(pop.params, init)
    return [dict(seed=s, run=r, other="", alpha=np.nan, metric=k, value=float(v[i]))
            for k, v in values.items() for i, (s, r, *_) in enumerate(members)]


def _pair_rows(p, lab, d, members, pop) -> list[dict]:
    index = {(s, r): i for i, (s, r, *_) in enumerate(members)}
    pairs = [(s, *pr) for s in lab.seeds for pr in _pairs(p)]
    first = [index[s, a] for s, _, a, _ in pairs]
    second = [index[s, b] for s, _, _, b in pairs]
    alphas = np.linspace(0.0, 1.0, p.alphas)
    n = min(p.path_examples, len(d.y_train))
    x, y = lab.tensor(d.x_train[:n]), lab.tensor(d.y_train[:n])
    final = [t.detach() for t in pop.params]
    losses = paths.path_losses(final, first, second, alphas, x, y)
    bars = paths.barrier(losses, alphas)
    with torch.no_grad():
        dist = torch.sqrt(sum(((t[first] - t[second]).flatten(1) ** 2).sum(1) for t in final))
    rows = []
    for k, (s, kind, a, b) in enumerate(pairs):
        base = dict(seed=s, run=a, other=b)
        rows += [dict(base, alpha=np.nan, metric=f"barrier_{kind}", value=float(bars[k])),
                 dict(base, alpha=np.nan, metric=f"distance_{kind}", value=float(dist[k]))]
        rows += [dict(base, alpha=float(al), metric="path_loss", value=float(v))
                 for al, v in zip(alphas, losses[k])]
    return rows


def run(p: MinimaParams, lab: Lab) -> pd.DataFrame:
    d = data.load(p.dataset)
    members = [(s, *r) for s in lab.seeds for r in _runs(p)]
    pop, init, norms = _train(p, lab, d, members)
    rows = _run_rows(p, lab, d, members, pop, init) + _pair_rows(p, lab, d, members, pop)
    rows += [dict(seed=s, run=r, other="", alpha=float(step), metric="norm_curve", value=float(v[i]))
             for step, v in norms for i, (s, r, *_) in enumerate(members)]
    return pd.DataFrame(rows)[["seed", "run", "other", "alpha", "metric", "value"]]


ATOM = Atom(
    name="optimizer-minima",
    family="generalization",
    title="Different optimisers, different minima",
    question="From the same initialisation and minibatches, do SGD, momentum, RMSprop, Adam and "
             "Adadelta end in the same minimum — and where does a late switch of optimiser end?",
    claim="Between two optimisers' solutions the straight path shows a training-loss barrier "
          "> 0.05 nats and larger than between two reruns of one optimiser; the solutions lie "
          "farther apart and differ more in weight norm than reruns' do, while test errors "
          "differ by < 3 points; after a switch at 75 % of training the solution leaves the first "
          "optimiser's basin and its weight norm is closer to the second optimiser's.",
    sources=("Im, Tao & Branson (2016), An empirical analysis of the optimization of deep "
             "network loss surfaces, arXiv:1612.04010",),
    method="Digits (fixed 70/30 split), MLP 64-100-100-10 ReLU, Xavier init, cross-entropy, "
           "batch 32 in epoch order, 3,000 steps (~76 epochs). Per seed every run starts from the "
           "same initialisation; the optimisers (torch defaults; lr SGD 0.1, momentum 0.9 with "
           "lr 0.01, RMSprop 1e-3, Adam 1e-3, Adadelta 1.0) see the same minibatch order 'A'; a "
           "rerun of each sees order 'B'. Switches 'a>b' run a for 75 % of the steps, then a "
           "fresh b. Measured: test/train error, ‖θ‖, ‖θ − θ₀‖, pairwise distances, and the "
           "training loss (600 training examples) at 11 points of each straight path, whose "
           "barrier is the largest rise above the chord. The paper's nets (NIN, VGG on CIFAR-10) "
           "had batch normalisation, which it found key to the consistency across reruns; this "
           "MLP has none.",
    Params=MinimaParams,
    run=run,
    judge=judge,
    figures=figures,
    presets={"quick": {"optimizers": ("sgd", "adam"), "switches": ("sgd>adam",), "steps": 400,
                       "hidden": (32,), "path_examples": 200, "alphas": 5},
             "paper": {"dataset": "mnist", "hidden": (500, 500), "steps": 20_000, "batch": 128,
                       "path_examples": 10_000, "alphas": 21}},
    runtime_s=50.0,
    settings=("run",),
    index_columns=("other", "alpha"),
    figure_metrics=("path_loss", "norm_curve"),
)
