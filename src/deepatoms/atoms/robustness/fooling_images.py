"""Fooling images (Nguyen, Yosinski & Clune 2015, cited in seed 000: "deep networks are easily
fooled").

Claim: starting from noise, gradient ascent on the input (and an evolutionary search that only
queries the network) produces, for every one of the ten digit classes, an image the network
labels with ≥ 99 % confidence (paper, MNIST, LeNet: ≥ 99.99 % for all classes with a
direct-encoded EA within 50 generations), although the images look like no digit: they stay far
(in pixel correlation) from the class means. Digits with pixels in [0, 1]; `paper` preset on
MNIST. Budget: ~10 s default (5 seeds), ~2 s quick.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ... import stats
from ...atom import Atom
from ...data.images import DATASETS, unit_images
from ...figures import new_figure
from ...lab import Lab
from ...params import Params, param
from ...verdict import Verdict, decide, setting_label
from ._fooling_images_search import (correlations, evolve, gradient_ascent, logits, noise_starts,
                           target_confidence, train_classifiers)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

GOAL = 0.99          # the claim's confidence
METHODS = ("gradient", "evolution")
FAR_MARGIN = 0.3     # fooling images correlate with their class mean ≥ 0.3 less than real ones
MIN_ACCURACY = 0.9   # control: the classifier is accurate on real digits (its confidence means something)
MIN_REAL_CORRELATION = 0.5  # control: the yardstick of "far" recognises real digits
PART = {"gradient": "", "evolution": "evolutionary variant (queries only)"}


@dataclass(frozen=True)
class FoolingParams(Params):
    dataset: str = param("digits", "images: scikit-learn digits (8×8) or MNIST from "
                         "DEEPATOMS_DATA; pixels scaled to [0, 1]", choices=DATASETS)
    hidden: tuple[int, ...] = param((100, 100), "ReLU hidden widths of the classifier",
                                          ge=1, le=4096, distinct=False)
    steps: int = param(600, "Adam steps training the classifier", ge=1)
    batch_size: int = param(128, "classifier minibatch size", ge=1)
    lr: float = param(1e-3, "classifier Adam learning rate", gt=0)
    ascent_steps: int = param(200, "gradient-ascent step budget", ge=1)
    ascent_step_size: float = param(0.01, "signed gradient step η (pixels in [0, 1])", gt=0)
    generations: int = param(300, "evolution budget (generations)", ge=1)
    offspring: int = param(16, "offspring λ per generation", ge=1)
    mutation_rate: float = param(0.1, "probability that a pixel mutates", gt=0, le=1)
    mutation_sd: float = param(0.3, "standard deviation of a mutation", gt=0)
    record_every: int = param(10, "steps/generations between recorded confidences", ge=1)


def _search_rows(p: FoolingParams, lab: Lab, pop, means: torch.Tensor, d: int) -> list[dict]:
    x0 = noise_starts(lab, d)
    marks = lambda n: sorted(set(range(p.record_every, n + 1, p.record_every)) | {n})
    found = {"gradient": gradient_ascent(pop, x0, p.ascent_steps, p.ascent_step_size, GOAL,
                                         marks(p.ascent_steps)),
             "evolution": evolve(pop, x0, [lab.torch_generator(s, "mutations") for s in lab.seeds],
                                 p.generations, p.offspring, p.mutation_rate, p.mutation_sd,
                                 GOAL, marks(p.generations))}
    rows = []
    for method, res in found.items():
        corr = correlations(res.images, means).cpu().numpy()  # (S, C, C)
        for i, s in enumerate(lab.seeds):
            for c in range(10):
                base = dict(seed=s, method=method, target=c)
                rows += [dict(base, metric="confidence", value=float(res.confidence[i, c])),
                         dict(base, metric="reached_at", value=float(res.reached[i, c])),
                         dict(base, metric="mean_correlation", value=float(corr[i, c, c])),
                         dict(base, metric="nearest_mean_is_target",
                              value=float(corr[i, c].argmax() == c))]
                rows += [dict(base, step=t, metric="confidence_curve", value=float(res.curve[r, i, c]))
                         for r, t in enumerate(res.record_at)]
                rows += [dict(base, pixel=k, metric="image", value=float(v))
                         for k, v in enumerate(res.images[i, c].cpu().numpy())]
    return rows


def _reference_rows(lab: Lab, pop, x: torch.Tensor, y: torch.Tensor, means: torch.Tensor
                    ) -> list[dict]:
    """Real test images: their correlation with their own class mean and the network's
    confidence in their true class, averaged per class (the yardstick for "far")."""
    corr = correlations(x, means)  # (N, C)
    own = corr.gather(1, y.view(-1, 1)).squeeze(1)
    prob = torch.softmax(logits(pop, x), dim=-1).detach()  # (S, N, C)
    true_p = prob.gather(2, y.view(1, -1, 1).expand(prob.shape[0], -1, 1)).squeeze(2)
    right = (prob.argmax(-1) == y).to(prob.dtype)  # (S, N)
    rows = []
    for c in range(10):
        sel = y == c
        for i, s in enumerate(lab.seeds):
            base = dict(seed=s, method="real", target=c)
            rows += [dict(base, metric="mean_correlation", value=float(own[sel].mean())),
                     dict(base, metric="confidence", value=float(true_p[i, sel].mean())),
                     dict(base, metric="accuracy", value=float(right[i, sel].mean()))]
    return rows


def run(p: FoolingParams, lab: Lab) -> pd.DataFrame:
    data = unit_images(p.dataset)
    x, y = lab.tensor(data.x_train), lab.tensor(data.y_train)
    pop = train_classifiers(p, lab, x, y)
    means = torch.stack([x[y == c].mean(0) for c in range(10)])
    d = x.shape[1]
    rows = _search_rows(p, lab, pop, means, d)
    rows += _reference_rows(lab, pop, lab.tensor(data.x_test), lab.tensor(data.y_test), means)
    cols = ["seed", "method", "target", "step", "pixel", "metric", "value"]
    return pd.DataFrame(rows).reindex(columns=cols)


def _per_seed(table: pd.DataFrame, method: str, metric: str) -> pd.DataFrame:
    sel = table[(table.method == method) & (table.metric == metric)]
    return sel.pivot(index="seed", columns="target", values="value")


def _method_evidence(table: pd.DataFrame, m: str, real: pd.Series) -> list:
    conf = _per_seed(table, m, "confidence")
    fool = _per_seed(table, m, "mean_correlation").mean(axis=1)
    rows = [stats.count_at_least(
                f"{m}: every class reaches ≥ {GOAL:.0%} confidence within the budget",
                (conf >= GOAL).all(axis=1).to_numpy(), len(conf), setting=setting_label(method=m)),
            stats.difference(
                f"correlation with the class mean, real test images − {m} fooling images",
                real.loc[fool.index].to_numpy(), fool.to_numpy(), FAR_MARGIN,
                setting=f"{setting_label(method=m)}; {setting_label(method='real')}")]
    return [replace(r, part=PART[m]) for r in rows]


def _controls(table: pd.DataFrame, real: pd.Series) -> list:
    """The classifier is accurate on real digits (balanced over classes), so its confident
    fooling is meaningful; real digits correlate with their class mean, so "far" can be seen."""
    acc = _per_seed(table, "real", "accuracy").mean(axis=1).to_numpy()
    where = setting_label(method="real")
    return [replace(stats.above("classifier test accuracy on real digits (class-balanced)", acc,
                                MIN_ACCURACY, bounds=(0.0, 1.0), setting=where),
                    control=True, part="*"),
            replace(stats.above("real test digits: correlation with their class mean",
                                real.to_numpy(), MIN_REAL_CORRELATION, bounds=(-1.0, 1.0),
                                exact=True, setting=where),  # the same fixed test set per seed
                    control=True, part="*")]


def judge(table: pd.DataFrame) -> Verdict:
    real = _per_seed(table, "real", "mean_correlation").mean(axis=1)
    evidence = [r for m in METHODS for r in _method_evidence(table, m, real)]
    return decide(evidence + _controls(table, real), _finding(table))


def _finding(table: pd.DataFrame) -> str:
    parts = []
    for m in METHODS:
        conf = _per_seed(table, m, "confidence")
        ok = int((conf >= GOAL).all(axis=1).sum())
        reach = _per_seed(table, m, "reached_at").to_numpy()
        median = f"{np.median(reach[np.isfinite(reach)]):.0f}" if np.isfinite(reach).any() else "—"
        corr = _per_seed(table, m, "mean_correlation").to_numpy().mean()
        near = _per_seed(table, m, "nearest_mean_is_target").to_numpy().mean()
        unit = "steps" if m == "gradient" else "generations"
        parts.append(f"{m}: all 10 classes ≥ {GOAL:.0%} in {ok} of {len(conf)} seeds (median "
                     f"{median} {unit} where reached; min confidence {conf.to_numpy().min():.3f}), "
                     f"correlation with the class mean {corr:.2f}, nearest class mean = target in "
                     f"{near:.0%}")
    real = _per_seed(table, "real", "mean_correlation").to_numpy().mean()
    acc = _per_seed(table, "real", "accuracy").to_numpy().mean()
    return ("; ".join(parts) + f" — the classifier labels {acc:.1%} of real test digits "
            f"correctly, and real test digits correlate {real:.2f} with their class mean "
            "(Nguyen et al. 2015, MNIST: ≥ 99.99 % for every class, images unrecognisable).")


def _images_figure(table: pd.DataFrame, axes=None):
    fig, panels = new_figure(2, 10, width=0.9, height=1.1, squeeze=False, name="fooling-images",
                             axes=axes)
    seed = int(table.seed.min())
    img = table[(table.metric == "image") & (table.seed == seed)]
    conf = table[(table.metric == "confidence") & (table.seed == seed)]
    for r, m in enumerate(METHODS):
        for c in range(10):
            ax = panels[r][c]
            pix = img[(img.method == m) & (img.target == c)].sort_values("pixel").value.to_numpy()
            side = int(round(np.sqrt(len(pix)))) or 1
            ax.imshow(pix.reshape(side, side), cmap="gray", vmin=0, vmax=1)
            pc = conf[(conf.method == m) & (conf.target == c)].value
            ax.set_title(f"{c}: {pc.iloc[0]:.3f}" if len(pc) else str(c), fontsize=6)
            ax.set_xticks([])
            ax.set_yticks([])
        panels[r][0].set_ylabel(m, fontsize=7)
    return fig


def _curves_figure(table: pd.DataFrame, axes=None):
    fig, panels = new_figure(1, 2, width=3.6, height=2.8, squeeze=False, name="confidence-vs-budget",
                             axes=axes)
    curve = table[table.metric == "confidence_curve"]
    for ax, m in zip(panels[0], METHODS):
        g = curve[curve.method == m]
        for (_, _), one in g.groupby(["seed", "target"]):
            ax.plot(one.step, one.value, color="C0", alpha=0.15, lw=0.8)
        med = g.groupby("step").value.median()
        ax.plot(med.index, med.values, color="k", lw=1.5, label="median")
        ax.axhline(GOAL, color="C3", ls=":", lw=1)
        ax.set(title=m, xlabel="step" if m == "gradient" else "generation",
               ylabel="confidence in the target class", ylim=(0, 1.02))
        ax.legend(fontsize=7)
    return fig


def _correlation_figure(table: pd.DataFrame, axes=None):
    fig, ax = new_figure(width=3.8, height=2.8, name="correlation-with-class-mean", axes=axes)
    for k, m in enumerate((*METHODS, "real")):
        v = _per_seed(table, m, "mean_correlation").to_numpy().mean(axis=1)
        ax.bar(k, v.mean(), 0.6, yerr=v.std() if len(v) > 1 else 0, color=f"C{k}")
    ax.set_xticks(range(3), ["gradient", "evolution", "real digits"])
    ax.set(ylabel="correlation with class mean", title="how digit-like are the images?")
    return fig


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    return {"fooling-images": _images_figure(table, axes),
            "confidence-vs-budget": _curves_figure(table, axes),
            "correlation-with-class-mean": _correlation_figure(table, axes)}


ATOM = Atom(
    name="fooling-images",
    family="robustness",
    title="Fooling images: noise the network is sure is a digit",
    question="Can images that look like nothing be classified as a chosen digit with ≥ 99 % "
             "confidence?",
    claim="From uniform noise, gradient ascent and an evolutionary search each reach ≥ 99 % "
          "confidence for every one of the 10 classes in every seed within the budget (paper: "
          "≥ 99.99 % on MNIST), while the images correlate with their class mean at least 0.3 "
          "less than real test digits do.",
    sources=("Nguyen, Yosinski & Clune (2015), Deep neural networks are easily fooled: high "
             "confidence predictions for unrecognizable images, CVPR (cited in seed 000)",),
    method="Digits (shared fixed 70/30 split, pixels / 16 in [0, 1]). Per seed a ReLU MLP "
           "64-100-100-10 (Adam lr 1e-3, batch 128, 600 steps). For each class c, from U[0, 1] "
           "noise: (a) signed gradient ascent on log p_c, step 0.01, clipped to [0, 1], an image "
           "frozen once p_c ≥ 0.99, at most 200 steps; (b) a (1 + 16) evolutionary search with "
           "direct encoding (each pixel mutated with probability 0.1 by N(0, 0.3²), clipped), "
           "fitness p_c, at most 300 generations — it only queries the network (Nguyen et al. "
           "used MAP-Elites with polynomial mutation). Far from the class means: Pearson "
           "correlation of each image with the mean training image of its class, against the "
           "same for real test digits; also whether the nearest class mean is the target. "
           "Parts: gradient ascent (central), the evolutionary variant (added: its own "
           "status). Controls (added): the classifier's class-balanced test accuracy on real "
           "digits is > 0.9, so its confident fooling is meaningful; real test digits correlate "
           "> 0.5 with their class mean, so the yardstick of \"far\" recognises digits.",
    Params=FoolingParams,
    run=run,
    judge=judge,
    figures=figures,
    presets={"quick": {"steps": 150, "hidden": (32,), "ascent_steps": 60,
                       "generations": 60, "offspring": 8},
             "paper": {"dataset": "mnist", "steps": 5000, "hidden": (240, 240),
                       "generations": 2000}},
    runtime_s=10.0,
    settings=("method",),
    index_columns=("target", "pixel"),
    figure_metrics=("confidence_curve", "image"),
)
