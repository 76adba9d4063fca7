"""Knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the knowledge in a neural
network"; Ba & Caruana 2014; seed 002 "easily compressed"): a small network trained to match a
large regularised teacher's soft targets at a high temperature generalises much better than the
same network trained on the hard labels.

Claim (paper, MNIST): teacher 67 test errors, hard-label student 146, distilled student (T = 20,
soft term × T²) 74 — the distilled student recovers most (91 %) of the teacher–student gap; a
student distilled on a transfer set with no 3 at all still gets 98.6 % of the test 3s right once
the bias of its 3 output is raised. Judged here: teacher < hard student; distilled and
logit-regression students < hard student; distillation recovers > half the gap; after the bias
correction > 90 % of the test 3s are right. Control: the teacher beats the student it distils
into by a margin. Budget: ~125 s default (20 seeds; 126 s measured in one process on a shared machine), ~3 s
quick.
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
from ...data import images as data
from ...engine import SGD, MLPPop, Sampler, gather, train
from ...figures import new_figure
from ...lab import Lab
from ...params import Params, param
from ...verdict import Evidence, Verdict, decide, setting_label
from . import _random_labels_regularisers as aug
from . import _stacked_mlp as nets

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STUDENTS = ("hard", "soft", "logits", "omit")   # omit: soft targets, no example of one digit
BIAS_GRID = np.round(np.arange(0.0, 15.01, 0.1), 2)


@dataclass(frozen=True)
class DistillParams(Params):
    dataset: str = param("digits", "digits (fixed 70/30 split) or mnist (files in "
                         "$DEEPATOMS_DATA)", choices=data.DATASETS)
    teacher_hidden: tuple[int, ...] = param((256, 256), "teacher's hidden ReLU widths", ge=1,
                                            le=8192, distinct=False)
    student_hidden: tuple[int, ...] = param((64, 64), "students' hidden ReLU widths", ge=1,
                                            le=8192, distinct=False)
    drop_input: float = param(0.2, "teacher's dropout rate on the inputs", ge=0, lt=1)
    drop_hidden: float = param(0.5, "teacher's dropout rate on the hidden units", ge=0, lt=1)
    max_norm: float = param(3.0, "teacher's weight constraint: largest norm of a unit's incoming "
                            "weights", gt=0)
    jitter: int = param(0, "teacher's input jitter: each training image shifted by a random "
                        "whole number of pixels in [−jitter, jitter] per axis (0: none)", ge=0, le=4)
    temperature: float = param(20.0, "distillation temperature T", gt=0)
    hard_weight: float = param(0.1, "weight of the hard-label term in the distilled loss "
                               "(soft term: 1 − this, × T²)", ge=0, lt=1)
    omitted: int = param(3, "the digit left out of the 'omit' student's transfer set", ge=0, le=9)
    teacher_steps: int = param(3000, "teacher SGD steps", ge=1)
    student_steps: int = param(3000, "student SGD steps", ge=1)
    batch_size: int = param(64, "minibatch size (epoch order)", ge=1)
    lr: float = param(0.05, "SGD learning rate (momentum 0.9), teacher and students", gt=0)


def _teacher(p: DistillParams, lab: Lab, d: data.Images):
    sizes = (d.dims, *p.teacher_hidden, 10)
    pop = MLPPop([sizes] * len(lab.seeds), [lab.torch_generator(s, "teacher-init") for s in lab.seeds],
                 device=lab.device)
    x, y = lab.tensor(d.x_train), lab.tensor(d.y_train)
    sampler = Sampler([lab.torch_generator(s, "teacher-batches") for s in lab.seeds], len(y),
                      p.batch_size, "epoch", device=lab.device)
    gens = [lab.torch_generator(s, "dropout") for s in lab.seeds]
    jitter = {i: lab.torch_generator(s, "jitter") for i, s in enumerate(lab.seeds)}
    rates = [p.drop_input] + [p.drop_hidden] * len(p.teacher_hidden)

    def loss(idx, step):
        keep = nets.dropout_masks(gens, p.batch_size, sizes[:-1], rates, lab.device)
        xb = x[idx]
        if p.jitter:
            shifts = aug.draw_shifts(jitter, len(lab.seeds), idx.shape[1], p.jitter, lab.device)
            xb = aug.shift_images(xb, shifts)
        return nets.cross_entropy(nets.forward(pop.weights, pop.biases, xb, keep=keep), y[idx])

    opt = nets.MaxNorm(SGD(pop.params, lr=p.lr, momentum=0.9), pop.weights, p.max_norm)
    train(pop.params, loss, opt, p.teacher_steps, sampler=sampler,
          iterate=lambda n: lab.steps(n, "distillation: teacher"))
    with torch.no_grad():
        logits = nets.forward(pop.weights, pop.biases, x)        # (S, N, 10), no dropout
    return pop, logits


def _student_loss(p: DistillParams, kinds, logits, teacher_logits, y):
    """Per-example loss (M, B): hard CE; distilled (1 − w)·T²·soft CE + w·hard CE; or
    ½·mean_c (z − v)² (logit regression)."""
    hard = nets.cross_entropy(logits, y)
    soft_t = torch.softmax(teacher_logits / p.temperature, -1)
    soft = (p.temperature ** 2) * nets.soft_cross_entropy(logits, soft_t, p.temperature)
    distilled = (1 - p.hard_weight) * soft + p.hard_weight * hard
    regress = 0.5 * ((logits - teacher_logits) ** 2).mean(-1)
    w = lambda k: torch.tensor([1.0 if m == k else 0.0 for m in kinds], device=y.device).view(-1, 1)
    return w("hard") * hard + (w("soft") + w("omit")) * distilled + w("logits") * regress


def _students(p: DistillParams, lab: Lab, d: data.Images, teacher_logits):
    members = [(s, k) for s in lab.seeds for k in STUDENTS]
    pop = MLPPop([(d.dims, *p.student_hidden, 10)] * len(members),
                 [lab.torch_generator(s, "student-init") for s, _ in members], device=lab.device)
    allowed = np.flatnonzero(d.y_train != p.omitted)
    rows = [np.arange(len(d.y_train)) if k != "omit" else
            np.pad(allowed, (0, len(d.y_train) - len(allowed))) for _, k in members]
    rows_t = lab.tensor(np.stack(rows))                                   # (M, N)
    sizes = [len(d.y_train) if k != "omit" else len(allowed) for _, k in members]
    x, y = lab.tensor(d.x_train), lab.tensor(d.y_train)
    which = torch.tensor([lab.seeds.index(s) for s, _ in members], device=lab.device)
    v_all = teacher_logits[which]                                          # (M, N, 10)
    sampler = Sampler([lab.torch_generator(s, "student-batches") for s, _ in members], sizes,
                      p.batch_size, "epoch", device=lab.device)
    kinds = [k for _, k in members]

    def loss(idx, step):
        r = gather(rows_t, idx)
        return _student_loss(p, kinds, pop(x[r]), gather(v_all, r), y[r])

    train(pop.params, loss, SGD(pop.params, lr=p.lr, momentum=0.9), p.student_steps,
          sampler=sampler, iterate=lambda n: lab.steps(n, "distillation: students"))
    return members, pop


def bias_corrected(logits: np.ndarray, y: np.ndarray, digit: int, grid=BIAS_GRID) -> float:
    """The smallest shift δ of the `digit` logit (grid) with the best accuracy on (logits, y)."""
    acc = [((logits + np.eye(logits.shape[1])[digit] * g).argmax(1) == y).mean() for g in grid]
    return float(grid[int(np.argmax(acc))])


def _omit_rows(p, lab, d, s, pop, i) -> list[dict]:
    """Bias correction of the omit student: δ chosen on the full training split (whose
    `omitted` digits the student never saw), applied to the test set."""
    with torch.no_grad():
        tr = pop(lab.tensor(d.x_train))[i].cpu().numpy()
        te = pop(lab.tensor(d.x_test))[i].cpu().numpy()
    delta = bias_corrected(tr, d.y_train, p.omitted)
    three = d.y_test == p.omitted
    shifted = te + np.eye(10)[p.omitted] * delta
    vals = dict(omitted_correct_raw=(te.argmax(1)[three] == p.omitted).mean(),
                omitted_correct_corrected=(shifted.argmax(1)[three] == p.omitted).mean(),
                omit_errors_corrected=(shifted.argmax(1) != d.y_test).sum(), bias_shift=delta)
    return [dict(seed=s, model="omit", metric=k, value=float(v)) for k, v in vals.items()]


def run(p: DistillParams, lab: Lab) -> pd.DataFrame:
    d = data.labelled_images(p.dataset, unit=True)   # pixels in [0, 1], as Hinton's MNIST inputs
    teacher, teacher_logits = _teacher(p, lab, d)
    members, pop = _students(p, lab, d, teacher_logits)
    xs, ys = lab.tensor(d.x_test), lab.tensor(d.y_test)
    xt, yt = lab.tensor(d.x_train), lab.tensor(d.y_train)
    t_err = nets.error_counts(teacher.weights, teacher.biases, xs, ys).cpu().numpy()
    s_err = nets.error_counts(pop.weights, pop.biases, xs, ys).cpu().numpy()
    s_train = nets.error_counts(pop.weights, pop.biases, xt, yt).cpu().numpy()
    rows = [dict(seed=s, model="teacher", metric="test_errors", value=float(t_err[j]))
            for j, s in enumerate(lab.seeds)]
    for i, (s, k) in enumerate(members):
        rows += [dict(seed=s, model=k, metric="test_errors", value=float(s_err[i])),
                 dict(seed=s, model=k, metric="train_errors", value=float(s_train[i]))]
        if k == "omit":
            rows += _omit_rows(p, lab, d, s, pop, i)
    table = pd.DataFrame(rows)
    table["n_test"] = len(d.y_test)
    return table[["seed", "model", "n_test", "metric", "value"]]


# The judge and the figures (thresholds of the claim next to it)
RECOVERED = 0.5          # the distilled student recovers more than half the teacher–student gap
OMITTED_CORRECT = 0.90   # share of the omitted digit's test images right after the bias shift
PAPER = {"teacher": 67, "hard": 146, "soft": 74}   # MNIST test errors (of 10,000)
ORDER = ("teacher", "hard", "soft", "logits", "omit")


def values(table, model, metric="test_errors") -> pd.Series:
    sel = table[(table.model == model) & (table.metric == metric)]
    return sel.set_index("seed").value.sort_index()


LOGITS_PART = "logit regression (Ba & Caruana 2014) beats the hard-label student"
OMIT_PART = "a digit absent from the transfer set is recognised after a bias shift"
TEACHER_RATIO = 0.8      # control: the teacher makes < 80 % of the student's errors (paper: 46 %)


def teacher_control(t: pd.Series, h: pd.Series) -> Evidence:
    """The teacher must beat the student it distils into by a margin, or there is little for
    distillation to transfer."""
    row = stats.below("teacher's test errors / hard-label student's (per seed)", t / h.clip(lower=1),
                      TEACHER_RATIO, claim=f"< {TEACHER_RATIO:g} (the teacher has something "
                      "to transfer)", setting=setting_label(model="teacher"))
    return dataclasses.replace(row, control=True, part="*",
                               note="needs a stronger teacher (±1-pixel jitter made it weaker: "
                               "33 errors of 539 against the student's 14)")


def judge(table: pd.DataFrame) -> Verdict:
    t, h = values(table, "teacher"), values(table, "hard")
    s, lg = values(table, "soft"), values(table, "logits")
    lab = lambda m: setting_label(model=m)
    ev = [teacher_control(t, h),
          stats.difference("test errors: hard-label student − distilled (T² soft)", h, s,
                           setting=lab("soft")),
          stats.difference(f"errors removed by distillation − {RECOVERED:g} × (hard − teacher)",
                           h - s, RECOVERED * (h - t),
                           claim=f"> 0 (recovers > {RECOVERED:.0%} of the gap)", setting=lab("hard")),
          dataclasses.replace(stats.difference("test errors: hard-label student − logit regression",
                                               h, lg, setting=lab("logits")), part=LOGITS_PART),
          dataclasses.replace(stats.above("omitted digit: share of its test images right after "
                                          "the bias shift",
                                          values(table, "omit", "omitted_correct_corrected"),
                                          OMITTED_CORRECT, setting=lab("omit")), part=OMIT_PART)]
    return decide(ev, _finding(table))


def _finding(table) -> str:
    n = int(table.n_test.iloc[0])
    m = {k: values(table, k).mean() for k in ORDER if k in set(table.model)}
    gap = m["hard"] - m["teacher"]
    share = (m["hard"] - m["soft"]) / gap if gap != 0 else float("nan")
    raw = values(table, "omit", "omitted_correct_raw").mean()
    fixed = values(table, "omit", "omitted_correct_corrected").mean()
    delta = values(table, "omit", "bias_shift").mean()
    return (f"Test errors of {n} (mean over seeds): teacher {m['teacher']:.1f}, hard-label student "
            f"{m['hard']:.1f}, distilled {m['soft']:.1f} ({share:.0%} of the gap recovered), logit "
            f"regression {m['logits']:.1f}; the student distilled without its omitted digit gets "
            f"{raw:.1%} of those test images right, {fixed:.1%} after a bias shift of {delta:.2g} "
            "(Hinton et al. 2015, MNIST: 67, 146, 74 errors of 10,000; 98.6 % of the 3s after a "
            "shift of 3.5).")


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    n = int(table.n_test.iloc[0])
    fig, ax = new_figure(width=4.6, height=3.4, name="test-errors", axes=axes)
    models = [k for k in ORDER if k in set(table.model)]
    for k, mdl in enumerate(models):
        v = 100 * values(table, mdl).to_numpy() / n
        ax.scatter(np.full(v.size, k) + np.linspace(-0.1, 0.1, v.size), v, s=14, color="C0")
        ax.hlines(v.mean(), k - 0.25, k + 0.25, color="k")
        if mdl in PAPER:
            ax.scatter([k], [PAPER[mdl] / 100], marker="x", color="C3",
                       label="paper (MNIST)" if mdl == "teacher" else None)
    ax.set_xticks(range(len(models)), models)
    ax.set(ylabel="test error (%)", title="teacher and students (each dot a seed)")
    ax.legend(fontsize=8)
    fig2, ax2 = new_figure(width=4.2, height=3.2, name="omitted-digit", axes=axes)
    raw = 100 * values(table, "omit", "omitted_correct_raw").to_numpy()
    fixed = 100 * values(table, "omit", "omitted_correct_corrected").to_numpy()
    for r, f in zip(raw, fixed):
        ax2.plot([0, 1], [r, f], color="C0", marker="o", alpha=0.7)
    ax2.axhline(98.6, color="C3", ls=":", label="paper: 98.6 %")
    ax2.set_xticks([0, 1], ["as trained", "bias shifted"])
    ax2.set(ylabel="omitted digit's test images right (%)", xlim=(-0.3, 1.3),
            title="a digit never seen in the transfer set")
    ax2.legend(fontsize=8)
    return {"test-errors": fig, "omitted-digit": fig2}


ATOM = Atom(
    name="distillation",
    family="generalization",
    title="Distillation: soft targets carry the teacher's knowledge",
    question="Does a small network trained on a large teacher's softened outputs generalise "
             "better than the same network trained on the labels — even for a digit it never saw?",
    claim="Teacher errors < hard-label student's; the distilled student (T = 20, soft term × T²) "
          "and the logit-regression student make fewer test errors than the hard-label student, "
          "the distilled one recovering > 50 % of the teacher–student gap (paper, MNIST: 67, 146, "
          "74 errors: 91 %); distilled without any 3, the student gets > 90 % of the test 3s right "
          "after raising its 3 bias (paper: 98.6 %).",
    sources=("Hinton, Vinyals & Dean (2015), Distilling the knowledge in a neural network, "
             "arXiv:1503.02531",
             "Ba & Caruana (2014), Do deep nets really need to be deep?, NeurIPS"),
    method="Digits (fixed 70/30 split: 1,257 training, 539 test images; pixels scaled to "
           "[0, 1]). Teacher: MLP 64-256-256-10 ReLU with dropout (inputs 0.2, hidden 0.5) and "
           "a max-norm weight constraint (3), SGD momentum 0.9, lr 0.05, "
           "batch 64, 3,000 steps. Students: 64-64-64-10 ReLU, no regularisation, the same init "
           "and batch order for every kind, 3,000 steps: 'hard' (labels), 'soft' (0.9·T²·CE to the "
           "teacher's softmax at T = 20 plus 0.1·CE to the labels; the transfer set is the "
           "training set), 'logits' (½·mean squared error to the teacher's logits, Ba & Caruana) "
           "and 'omit' (as 'soft' on the training set without any 3). The omit student's 3 "
           "logit is raised by the δ ∈ [0, 15] that maximises its accuracy on the full training "
           "split (the paper chose 3.5 on the test set). Changed (issue 16): 20 seeds by "
           "default (at 5 the distilled − hard gap of ≈ 0.5 errors of 539 is far below the "
           "test's resolution). Hinton's teacher saw inputs jittered by up to ±2 pixels of 28; "
           "the parameter jitter shifts the teacher's training images by up to ±jitter pixels "
           "(blank pixels shifted in), but it is off by default: at ±1 pixel of 8 the teacher "
           "(3,000 steps with dropout) made 33.3 test errors against the hard-label student's "
           "13.6 (20 seeds) — a one-pixel shift of an 8×8 digit is too large a distortion. "
           "Positive control, guarding every part: the teacher makes < 80 % of the hard-label "
           "student's errors (per-seed ratio; paper: 67 / 146 = 46 %) — without that there is "
           "little "
           "to distil. The logit-regression student and the omitted digit are secondary parts.",
    Params=DistillParams,
    run=run,
    judge=judge,
    figures=figures,
    presets={"quick": {"teacher_hidden": (64, 64), "student_hidden": (16, 16), "teacher_steps": 300,
                       "student_steps": 300}, 
             "paper": {"dataset": "mnist", "teacher_hidden": (1200, 1200),
                       "student_hidden": (800, 800), "teacher_steps": 30_000,
                       "student_steps": 30_000, "batch_size": 100}},
    runtime_s=125.0,
    default_seeds=20,
    settings=("model",),
    index_columns=("n_test",),
)
