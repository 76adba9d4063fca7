"""Unsupervised pre-training (Erhan, Bengio, Courville, Manzagol, Vincent & Bengio 2010, "Why
does unsupervised pre-training help deep learning?"; seed 002 "sensitive to initialisation"):
greedy layer-wise denoising-autoencoder pre-training before supervised fine-tuning of a deep
sigmoid MLP, over many seeds.

Claim: pre-training lowers the mean test error at every depth and its spread across seeds,
more so for deeper nets (paper, MNIST, 1–5 layers, 400 seeds each: without pre-training error
and spread grow with depth beyond 2 layers, with pre-training they stay low), and acts like a
regulariser: the pre-trained nets' gap between training and test error is smaller.
Budget: ~80 s default (20 seeds; 78 s CPU measured), ~4 s quick (2 seeds).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ...atom import Atom
from ...engine import SGD, MLPPop, Sampler, train
from ...lab import Lab
from ...params import Params, param
from . import _pretraining_autoencoders as dae
from . import _gen_b_data as data
from . import _stacked_mlp as nets
from ._gen_b_pretrain_judge import figures, judge

ARMS = ("none", "dae")


@dataclass(frozen=True)
class PretrainParams(Params):
    dataset: str = param("digits", "digits (fixed 70/30 split) or mnist (files in "
                         "$DEEPATOMS_DATA)", choices=data.DATASETS)
    depths: tuple[int, ...] = param((1, 2, 3, 4, 5), "numbers of hidden layers", ge=1, le=10,
                                    min_len=2)
    width: int = param(50, "sigmoid units per hidden layer", ge=1, le=4096)
    corruption: float = param(0.2, "autoencoders' masking noise: fraction of inputs zeroed",
                              ge=0, lt=1)
    pretrain_steps: int = param(1000, "SGD steps per autoencoder layer", ge=1)
    pretrain_lr: float = param(0.01, "autoencoders' SGD learning rate", gt=0)
    steps: int = param(2000, "supervised fine-tuning SGD steps (early-stopped on validation)",
                       ge=1)
    lrs: tuple[float, ...] = param((0.1, 1.0), "fine-tuning SGD learning rates; each depth and "
                                   "arm uses the one with the lowest mean validation error",
                                   gt=0, min_len=1)
    batch: int = param(32, "minibatch size (epoch order)", ge=1)
    val_fraction: float = param(0.2, "fixed part of the training split held out for early "
                                "stopping", gt=0, lt=0.5)
    eval_every: int = param(100, "steps between validation checks", ge=1)


def _errors(pop, sets) -> dict[str, np.ndarray]:
    return {k: nets.error_counts(pop.weights, pop.biases, x, y, "sigmoid").cpu().numpy() / len(y)
            for k, (x, y) in sets.items()}


def _finetune(p, lab, d, sets, depth, stack):
    members = [(s, arm, lr) for s in lab.seeds for arm in ARMS for lr in p.lrs]
    pop = MLPPop([(d.dims, *[p.width] * depth, 10)] * len(members),
                 [lab.torch_generator(s, "init", depth) for s, *_ in members], activation="sigmoid",
                 init="torch_default", bias_init="zeros", device=lab.device)
    with torch.no_grad():   # the pre-trained members start from the autoencoders' encoders
        pre = torch.tensor([i for i, (_, arm, _) in enumerate(members) if arm == "dae"])
        src = torch.tensor([lab.seeds.index(s) for s, arm, _ in members if arm == "dae"])
        for l in range(depth):
            pop.weights[l][pre] = stack[l][0][src]
            pop.biases[l][pre] = stack[l][1][src]
    x, y = sets["train"]
    sampler = Sampler([lab.torch_generator(s, "batches") for s, *_ in members], len(y), p.batch,
                      "epoch", device=lab.device)

    def loss(idx, step):
        return nets.cross_entropy(pop(x[idx]), y[idx])

    out = train(pop.params, loss, SGD(pop.params, lr=[lr for *_, lr in members]), p.steps, sampler=sampler,
                record=lambda step: _errors(pop, sets),
                record_at=range(p.eval_every, p.steps + 1, p.eval_every),
                iterate=lambda n: lab.steps(n, f"pretraining: fine-tune depth {depth}"))
    return members, out.records


def _rows(members, records, depth) -> list[dict]:
    """Per member: the errors at the record with the lowest validation error (early stopping;
    the earliest of ties), and the test-error curve."""
    steps = [s for s, _ in records]
    val = np.stack([r["val"] for _, r in records])                       # (R, M)
    best = val.argmin(axis=0)
    rows = []
    for i, (s, arm, lr) in enumerate(members):
        base = dict(seed=s, depth=depth, arm=arm, lr=lr, step=np.nan)
        k = int(best[i])
        rows += [dict(base, metric=f"{part}_error", value=float(records[k][1][part][i]))
                 for part in ("train", "val", "test")]
        rows.append(dict(base, metric="best_step", value=float(steps[k])))
        rows += [dict(base, step=float(st), metric="test_error_curve", value=float(r["test"][i]))
                 for st, r in records]
        rows += [dict(base, step=float(st), metric="train_error_curve", value=float(r["train"][i]))
                 for st, r in records]
    return rows


def run(p: PretrainParams, lab: Lab) -> pd.DataFrame:
    full = data.load(p.dataset, unit=True)   # inputs in [0, 1]: the autoencoders' cross-entropy
    d, x_val, y_val = data.with_validation(full, p.val_fraction)
    sets = {"train": (lab.tensor(d.x_train), lab.tensor(d.y_train)),
            "val": (lab.tensor(x_val), lab.tensor(y_val)),
            "test": (lab.tensor(d.x_test), lab.tensor(d.y_test))}
    stack = dae.pretrain_stack(lab, lab.seeds, sets["train"][0], [p.width] * max(p.depths),
                               p.corruption, p.pretrain_lr, p.pretrain_steps, p.batch)
    rows = []
    for depth in p.depths:
        members, records = _finetune(p, lab, d, sets, depth, stack)
        rows += _rows(members, records, depth)
    return pd.DataFrame(rows)[["seed", "depth", "arm", "lr", "step", "metric", "value"]]


ATOM = Atom(
    name="pretraining",
    family="generalization",
    title="Unsupervised pre-training as a regulariser",
    question="Does greedy layer-wise denoising-autoencoder pre-training make deep nets generalise "
             "better and more reliably across random seeds — and more so the deeper they are?",
    claim="With pre-training the mean test error is lower at every depth, the gain grows with "
          "depth, the spread across seeds is smaller, and the gap between training and test "
          "error is smaller (a regulariser) (paper, MNIST: 1–5 layers, 400 seeds each).",
    sources=("Erhan, Bengio, Courville, Manzagol, Vincent & Bengio (2010), Why does unsupervised "
             "pre-training help deep learning?, JMLR 11",
             "Vincent, Larochelle, Bengio & Manzagol (2008), Extracting and composing robust "
             "features with denoising autoencoders, ICML"),
    method="Digits (fixed 70/30 split, pixels in [0, 1]; a fixed 20 % of the training part held "
           "out for early stopping: 1,006 / 251 / 539 images). Sigmoid MLPs with 1–5 hidden "
           "layers of 50 units, weights U(±1/√fan_in), biases 0 (the paper's initialisation), "
           "fine-tuned by SGD (batch 32, 2,000 steps ≈ 64 epochs), the errors taken at the "
           "validation check (every 100 steps) with the lowest validation error; per depth and "
           "arm the learning rate (0.1 or 1.0) with the lowest mean validation error is used "
           "(the paper chose hyper-parameters per condition on validation). Pre-trained "
           "arm: the same nets whose hidden layers start from a greedy stack of denoising "
           "autoencoders (tied weights, 20 % masking noise, cross-entropy reconstruction, SGD lr "
           "0.01, 1,000 steps per layer) trained on the training part; both arms of a seed see "
           "the same minibatch order. 20 seeds by default (the paper: 400).",
    Params=PretrainParams,
    run=run,
    judge=judge,
    figures=figures,
    presets={"quick": {"depths": (1, 3), "width": 20, "pretrain_steps": 150, "steps": 400, "lrs": (0.5,)},
             "paper": {"dataset": "mnist", "width": 1000, "pretrain_steps": 20_000,
                       "steps": 50_000, "eval_every": 1000, "val_fraction": 0.1667}},
    runtime_s=80.0,
    default_seeds=20,
    settings=("depth", "arm"),
    index_columns=("lr",),
    figure_metrics=("test_error_curve", "train_error_curve"),
)
