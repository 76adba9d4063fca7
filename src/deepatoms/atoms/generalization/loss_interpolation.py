"""Loss along the line from initialisation to solution (Goodfellow, Vinyals & Saxe 2015,
"Qualitatively characterizing neural network optimization problems").

Claim: on the straight line θ(α) = (1 − α)θ₀ + αθ₁ from a network's initialisation θ₀ to the
solution θ₁ that SGD found from it, the training loss decreases monotonically on α ∈ [0, 1]
(largest rise < 1 % of the total decrease) — non-convex, yet no obstacle; the line between two
solutions trained from different initialisations does rise (> 1 %). Checked for a plain MLP, an
MLP with batch norm, whose running statistics are interpolated with its weights, and a small CNN.
Budget: ~50 s default (5 seeds; the CNN ~35 s of it), ~10 s quick.
"""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd
import torch.nn.functional as F

from ... import stats
from ...atom import Atom
from ...data.images import CLASSES, DATASETS, image_data
from ...engine import SGD, MLPPop, Sampler, gather, train
from ...engine.batchnorm import BatchNormMLPPop
from ...errors import ParamError
from ...figures import new_figure
from ...lab import Lab
from ...params import Params, param
from ...verdict import Verdict, decide, setting_label
from . import _loss_interpolation_cnn as cnn
from . import _loss_interpolation_paths as paths
from ._stacked_mlp import loss_and_accuracy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ARCHS = ("mlp", "mlp-batchnorm", "cnn")
TRAINED_LOSS = 0.05  # control: a solution's training loss (cross-entropy) below this
NO_OBSTACLE = 0.01  # largest rise on α ∈ [0, 1] below 1 % of the init-to-solution decrease
STARTS = ("a", "b")  # two initialisations per seed: θ₀ᵃ → θ₁ᵃ is the path; θ₁ᵃ → θ₁ᵇ the contrast


@dataclass(frozen=True)
class LossInterpolationParams(Params):
    data: str = param("digits", "data set: digits (bundled) or mnist (IDX files in "
                      "$DEEPATOMS_DATA)", choices=DATASETS)
    archs: tuple[str, ...] = param(ARCHS, "networks: plain ReLU MLP, MLP with batch norm, "
                                   "small CNN", choices=ARCHS)
    hidden: tuple[int, ...] = param((100, 100), "hidden layer widths of the MLPs", ge=1,
                                    distinct=False)
    channels: tuple[int, ...] = param((8, 16), "channels of the CNN's two conv layers", ge=1,
                                      distinct=False, min_len=2)
    lr: float = param(0.05, "SGD learning rate", gt=0)
    momentum: float = param(0.9, "SGD momentum", ge=0, lt=1)
    batch_size: int = param(64, "minibatch size", ge=2)
    steps: int = param(1500, "SGD steps", ge=1)
    points: int = param(101, "points on each line, α ∈ [alpha_min, alpha_max]", ge=3)
    alpha_min: float = param(-0.5, "first α (beyond the initialisation)", le=0)
    alpha_max: float = param(1.5, "last α (beyond the solution)", ge=1)

    def check(self) -> None:
        if len(self.channels) != 2:
            raise ParamError(f"parameter 'channels' must have two values (conv1, conv2), got "
                             f"{self.channels!r}")


@dataclass(frozen=True)
class _Arm:
    """One architecture's population as training and the lines need it."""
    params: list                   # stacked leaf tensors (M, ...)
    logits: Callable               # xb (B, d) → (M, B, classes), in training mode
    snapshot: Callable             # i → member i's network, a dict of (1, ...) tensors
    at: Callable                   # network (K, ...) → (x (B, d) → logits (K, B, classes))


def _population(p: LossInterpolationParams, lab: Lab, arch: str, dim: int, members) -> _Arm:
    if arch == "cnn":
        pop = cnn.population(p.channels, cnn.image_side(dim),
                             [lab.derive(s, "init", k) for s, k in members],
                             device=lab.device, dtype=lab.dtype)
        return _Arm(pop.params, pop, lambda i: cnn.snapshot(pop, i),
                    lambda net: cnn.at(pop, net))
    gens = [lab.torch_generator(s, "init", k) for s, k in members]
    size = (dim, *p.hidden, CLASSES)
    if arch == "mlp":
        pop = MLPPop([size] * len(members), gens, init="xavier_uniform", bias_init="zeros",
                     device=lab.device, dtype=lab.dtype)
        return _Arm(pop.params, pop, lambda i: _snapshot(pop, pop.weights, pop.biases, i),
                    _mlp_at)
    pop = BatchNormMLPPop(size, gens, [True] * len(members), device=lab.device, dtype=lab.dtype)
    return _Arm(pop.params, lambda xb: pop(xb, train=True),
                lambda i: _snapshot(pop, pop.mlp.weights, pop.mlp.biases, i), _mlp_at)


def _mlp_at(net: dict):
    return lambda xs: paths.forward(net, xs)


def _snapshot(pop, weights, biases, i: int) -> dict:
    net = {f"w{l}": w[i:i + 1].detach().clone() for l, w in enumerate(weights)}
    net.update({f"b{l}": b[i:i + 1].detach().clone() for l, b in enumerate(biases)})
    if isinstance(pop, BatchNormMLPPop):
        for key, ts in (("g", pop.gammas), ("beta", pop.betas), ("mean", pop.running_mean),
                        ("var", pop.running_var)):
            net.update({f"{key}{l}": t[i:i + 1].detach().clone() for l, t in enumerate(ts)})
    return net


def _train(p: LossInterpolationParams, lab: Lab, arch: str, x, y, seeds):
    """Both starts of every seed in `seeds` as one population, trained by SGD: the members
    [(seed, start)], their networks at initialisation and after training, and `at`."""
    members = [(s, k) for s in seeds for k in STARTS]
    arm = _population(p, lab, arch, x.shape[1], members)
    starts = [arm.snapshot(i) for i in range(len(members))]
    sampler = Sampler([lab.torch_generator(s, "batches", k) for s, k in members], x.shape[0],
                      p.batch_size, "epoch", device=lab.device)

    def loss(idx, step):
        return F.cross_entropy(arm.logits(gather(x, idx, shared=True)).transpose(1, 2),
                               gather(y, idx, shared=True), reduction="none")

    train(arm.params, loss, SGD(arm.params, lr=p.lr, momentum=p.momentum), p.steps,
          sampler=sampler, iterate=lambda n: lab.steps(n, f"loss-interpolation {arch}"))
    return members, starts, [arm.snapshot(i) for i in range(len(members))], arm.at


def _curve(at, net: dict, x, y) -> tuple[np.ndarray, np.ndarray]:
    loss, acc = loss_and_accuracy(at(net), x, y)
    return loss.cpu().numpy().astype(float), acc.cpu().numpy().astype(float)


def _path_rows(base: dict, alphas, at, net: dict, x, y, drop: float | None,
               stale: dict | None):
    loss, acc = _curve(at, net, x, y)
    drop = loss[np.argmin(np.abs(alphas))] - loss[np.argmin(np.abs(alphas - 1))] \
        if drop is None else drop
    rise = paths.largest_rise(alphas, loss)
    rows = [dict(base, alpha=float(a), metric=m, value=float(v)) for a, l, c in
            zip(alphas, loss, acc) for m, v in (("train_loss_curve", l),
                                                ("train_accuracy_curve", c))]
    if stale is not None:
        rows += [dict(base, alpha=float(a), metric="stale_statistics_loss_curve", value=float(v))
                 for a, v in zip(alphas, _curve(at, stale, x, y)[0])]
    for metric, value in (("largest_rise", rise / drop), ("largest_rise_abs", rise),
                          ("loss_at_0", loss[np.argmin(np.abs(alphas))]),
                          ("loss_at_1", loss[np.argmin(np.abs(alphas - 1))])):
        rows.append(dict(base, alpha=np.nan, metric=metric, value=float(value)))
    return rows, drop


def _stale(net: dict, end: dict) -> dict | None:
    """The same line evaluated with the solution's batch-norm statistics at every α (the
    pitfall: statistics left out of the interpolation)."""
    if "mean0" not in net:
        return None
    k = net["w0"].shape[0]
    return {key: (end[key].expand(k, *end[key].shape[1:]) if key.startswith(("mean", "var"))
                  else t) for key, t in net.items()}


def _arch_rows(p: LossInterpolationParams, lab: Lab, arch: str, data, x, y, seeds
               ) -> list[dict]:
    members, starts, ends, at = _train(p, lab, arch, x, y, seeds)
    alphas = np.linspace(p.alpha_min, p.alpha_max, p.points)
    xt, yt = lab.tensor(data.x_test), lab.tensor(data.y_test)
    rows = []
    for j, s in enumerate(seeds):
        a, b = 2 * j, 2 * j + 1
        # batch norm: the statistics recomputed on the training set at every α
        to_solution = paths.recalibrate(paths.line(starts[a], ends[a], alphas), x)
        r, drop = _path_rows(dict(seed=s, arch=arch, path=PATHS[0]), alphas, at, to_solution,
                             x, y, None, _stale(to_solution, ends[a]))
        r2, _ = _path_rows(dict(seed=s, arch=arch, path=PATHS[1]), alphas, at,
                           paths.recalibrate(paths.line(ends[a], ends[b], alphas), x), x, y,
                           drop, None)
        test_acc = _curve(at, ends[a], xt, yt)[1][0]
        rows += r + r2 + [dict(seed=s, arch=arch, path=PATHS[0], alpha=np.nan,
                               metric="test_accuracy", value=float(test_acc))]
    return rows


def run(p: LossInterpolationParams, lab: Lab) -> pd.DataFrame:
    data = image_data(p.data)
    x, y = lab.tensor(data.x_train), lab.tensor(data.y_train)
    # The CNN one seed at a time: vmapped convolutions over a stack of networks may round
    # differently for different stack sizes (random-weights met ~1e-7), and a seed's numbers must
    # not depend on the seeds trained with it. Per seed, its two starts form one population.
    batches = {arch: [[s] for s in lab.seeds] if arch == "cnn" else [list(lab.seeds)]
               for arch in p.archs}
    rows = [r for arch in p.archs for seeds in batches[arch]
            for r in _arch_rows(p, lab, arch, data, x, y, seeds)]
    return pd.DataFrame(rows)[["seed", "arch", "path", "alpha", "metric", "value"]]


def _rise(table: pd.DataFrame, arch: str, path: str) -> np.ndarray:
    sel = table[(table.arch == arch) & (table.path == path) & (table.metric == "largest_rise")]
    return sel.sort_values("seed").value.to_numpy(float)


def _trained_control(table: pd.DataFrame, arch: str):
    """Control: both end points of the solution → solution line are trained (low training
    loss), so the lines join initialisations to minima and minima to minima."""
    sel = table[(table.arch == arch) & (table.path == PATHS[1])]
    ends = sel[sel.metric.isin(("loss_at_0", "loss_at_1"))].groupby("seed").value.max()
    row = stats.below(f"{arch}: training loss of the worse of the two solutions",
                      ends.sort_index().to_numpy(float), TRAINED_LOSS,
                      f"< {TRAINED_LOSS:g} (trained)", setting=setting_label(arch=arch,
                                                                             path=PATHS[1]))
    return dataclasses.replace(row, control=True, part="*",
                               note=row.note or "the solutions reach it at the default 1,500 "
                                                "steps; fewer steps leave them untrained")


def judge(table: pd.DataFrame) -> Verdict:
    evidence = []
    for arch in [a for a in ARCHS if a in set(table.arch)]:
        rise = _rise(table, arch, PATHS[0])  # exactly 0 for a monotone curve: count seeds
        evidence.append(stats.count_at_least(
            f"{arch}, init → solution: largest rise / total decrease < {NO_OBSTACLE:g}",
            rise < NO_OBSTACLE, rise.size, f"in every seed ({rise.size} of {rise.size})",
            setting=setting_label(arch=arch, path=PATHS[0])))
        evidence.append(stats.above(
            f"{arch}, solution → solution: largest rise / init-path decrease",
            _rise(table, arch, PATHS[1]), NO_OBSTACLE, f"> {NO_OBSTACLE:g} (a barrier)",
            setting=setting_label(arch=arch, path=PATHS[1])))
        evidence.append(_trained_control(table, arch))
    return decide(evidence, _finding(table))


def _finding(table: pd.DataFrame) -> str:
    parts = []
    for arch in [a for a in ARCHS if a in set(table.arch)]:
        init, sol = _rise(table, arch, PATHS[0]), _rise(table, arch, PATHS[1])
        flat = int((init < NO_OBSTACLE).sum())
        parts.append(f"{arch}: from init to solution the loss rises by at most {init.max():.2g} "
                     f"of its total decrease (< {NO_OBSTACLE:g} in {flat} of {init.size} seeds; "
                     f"0 = monotone), between two solutions by {np.median(sol):.3g} of it "
                     "(median)")
    return "; ".join(parts) + (" (Goodfellow et al. 2015: no obstacle on the line from "
                               "initialisation to solution).")


# The figures
PATHS = ("init→solution", "solution→solution")


def _mean_curve(t: pd.DataFrame, metric: str) -> pd.Series:
    return t[t.metric == metric].groupby("alpha").value.mean()


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    archs = list(dict.fromkeys(table.arch))
    fig, panels = new_figure(2, len(archs), width=4.2, height=2.9, squeeze=False,
                             name="loss-along-line", axes=axes)
    for col, arch in enumerate(archs):
        for row, path in enumerate(PATHS):
            ax = panels[row][col]
            t = table[(table.arch == arch) & (table.path == path)]
            for _, g in t[t.metric == "train_loss_curve"].groupby("seed"):
                ax.semilogy(g.alpha, g.value, color="C0", alpha=0.3, lw=0.8)
            ax.semilogy(*_series(_mean_curve(t, "train_loss_curve")), color="C0", lw=1.8,
                        label="train loss (mean)")
            stale = _mean_curve(t, "stale_statistics_loss_curve")
            if len(stale):
                ax.semilogy(*_series(stale), color="C3", ls="--", lw=1.2,
                            label="BN statistics not interpolated")
            twin = ax.twinx()
            twin.plot(*_series(_mean_curve(t, "train_accuracy_curve")), color="C2", lw=1,
                      label="train accuracy")
            twin.set_ylim(0, 1.02)
            twin.set_ylabel("train accuracy", color="C2")
            for a in (0, 1):
                ax.axvline(a, color="k", lw=0.6, ls=":")
            start, end = path.split("→")
            ax.set(title=f"{arch}: {path}", xlabel=f"α  (0: {start}, 1: {end})",
                   ylabel="training loss")
            ax.legend(fontsize=6, loc="upper center")
    return {"loss-along-line": fig}


def _series(s: pd.Series):
    return s.index.to_numpy(float), s.to_numpy(float)


ATOM = Atom(
    name="loss-interpolation",
    family="generalization",
    title="No obstacle on the line from initialisation to solution",
    question="Along the straight line from a network's initial parameters to the solution SGD "
             "found, does the training loss ever rise?",
    claim="The training loss on θ(α) = (1 − α)θ₀ + αθ₁ decreases monotonically on α ∈ [0, 1] "
          "(largest rise < 1 % of the decrease), for a plain MLP, one with batch norm and a small "
          "CNN; the "
          "line between two solutions from different initialisations rises (> 1 %).",
    sources=("Goodfellow, Vinyals & Saxe (2015), Qualitatively characterizing neural network "
             "optimization problems, ICLR",
             "Frankle (2020), Revisiting 'qualitatively characterizing neural network "
             "optimization problems', arXiv:2012.06898"),
    method="Digits (shared fixed 70/30 split). Per seed two initialisations (Xavier weights, zero "
           "biases) of each network — a 64→100→100→10 ReLU MLP, plain and with batch norm after "
           "each hidden linear layer, and a small CNN on the 8×8 images (conv 3×3, 1→8 channels, "
           "ReLU, 2×2 max pool, conv 3×3, 8→16, ReLU, linear 256→10; zero padding; 3,818 "
           "parameters) — each trained by SGD (lr 0.05, momentum 0.9, batch 64, 1,500 steps). "
           "The training loss is evaluated at 101 points α ∈ [−0.5, 1.5] on the line from the "
           "first initialisation to its solution, and on the line from that solution to the "
           "second one (the contrast). Batch-norm networks are evaluated at every α with their "
           "statistics recomputed on the training set (each normalised layer's mean and biased "
           "variance over the 1,257 training images, layer by layer), as a network with those "
           "weights has them; until issue 16 the running statistics were interpolated instead, "
           "so the line started at the initialisation's (0, 1), which do not belong to its "
           "weights. The figure also shows the wrong curve with the solution's running "
           "statistics kept at every α. Control (every part): both solutions are trained "
           "(the worse one's training loss < 0.05). Obstacle = the largest rise of the "
           "curve on [0, 1] above its running minimum, relative to L(θ₀) − L(θ₁). Caveat: "
           "Frankle (2020) finds that the monotone decrease fails for large modern networks "
           "(e.g. ResNets on ImageNet trained with large learning rates); this atom tests the "
           "small-network regime of the original.",
    Params=LossInterpolationParams,
    run=run,
    judge=judge,
    figures=figures,
    presets={"quick": {"hidden": (32,), "steps": 300, "points": 21},
             "paper": {"data": "mnist", "hidden": (240, 240), "steps": 10_000, "batch_size": 128}},
    runtime_s=50.0,
    settings=("arch", "path"),
    index_columns=("alpha",),
    minimum_scale={"steps": 1500, "points": 101},
    figure_metrics=("train_loss_curve", "train_accuracy_curve", "stale_statistics_loss_curve"),
)
