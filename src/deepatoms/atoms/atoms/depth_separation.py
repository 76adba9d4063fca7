"""Depth separation (seed 003 §2): do deeper nets with the same parameter count fit harder functions?

Claim: on Telgarsky's n-alternating-point problem (16 points x_j = j/16, labels alternating),
training accuracy of a weight-shared ReLU net with 152 parameters increases with the number of
times L its shared layer is applied (original: 62.5 / 62.5 / 68.8 % for L = 1 / 2 / 3; a rerun of
the original code gave 75 / 75 / 62.5 %, so the effect is noisy: ≥ 10 seeds, trend test).
Budget: ~17 s default (20 seeds, measured on a shared core; ≈ 25 % more with autograd's backward, which
`engine.weight_shared_grads` replaces to the bit), ~1 s quick.
"""
from __future__ import annotations

from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure
import numpy as np
import pandas as pd
import torch

from ... import stats
from ...atom import Atom
from ...engine import Adam, Sampler, gather, train
from ...engine.losses import weighted_cross_entropy
from ...engine.weight_shared import SharedDepthPop
from ...engine.weight_shared_grads import weighted_cross_entropy_grads
from ...errors import ParamError
from ...figures import mean_sd_line, new_figure
from ...lab import Lab
from ...params import Params, param
from ...verdict import Verdict, decide, setting_label
from .._controls import learns

GRID_POINTS = 161  # x values in [0, 1) where the learned score is recorded for the figure


@dataclass(frozen=True)
class DepthParams(Params):
    depths: tuple[int, ...] = param((1, 2, 3), "times L the shared hidden layer is applied",
                                    ge=1, le=8, min_len=2)
    n_points: int = param(16, "alternating points x_j = j/n, j = 0..n-1", ge=2, le=1024)
    width: int = param(10, "units of every hidden layer", ge=1, le=256)
    steps: int = param(15_000, "Adam steps", ge=1)
    lr: float = param(0.003, "Adam learning rate", gt=0)
    batch_size: int = param(16, "points per step, drawn without replacement (= n_points: full batch)",
                            ge=1)
    record_every: int = param(500, "steps between recorded training accuracies", ge=1)

    def check(self) -> None:
        if self.batch_size > self.n_points:
            raise ParamError(f"parameter 'batch_size' ({self.batch_size}) must not exceed "
                             f"'n_points' ({self.n_points})")


def alternating_points(n: int) -> tuple[np.ndarray, np.ndarray]:
    """x (n, 1) = j/n and labels (n,) = 1, 0, 1, 0, ... (the original's np.resize([[0,1],[1,0]]))."""
    x = (np.arange(n, dtype=np.float32) / n)[:, None]
    y = (np.arange(n) % 2 == 0).astype(np.int64)
    return x, y


def run(p: DepthParams, lab: Lab) -> pd.DataFrame:
    x_np, y_np = alternating_points(p.n_points)
    combos = [(s, L) for s in lab.seeds for L in p.depths]
    pop = SharedDepthPop(1, p.width, 2, [L for _, L in combos],
                         [lab.torch_generator(s, "init", L) for s, L in combos],
                         activation="relu", device=lab.device)
    x, y = lab.tensor(x_np), lab.tensor(y_np)
    # uniform weights: each model's mean loss over all points, or over a minibatch of distinct ones
    full_w, batch_w = (torch.full((len(combos), k), 1.0 / k, device=lab.device)
                       for k in (p.n_points, p.batch_size))
    stream = None if p.batch_size == p.n_points else Sampler(
        [lab.torch_generator(s, "batches", L) for s, L in combos], p.n_points, p.batch_size,
        device=lab.device)

    def grads(idx, _step):  # autograd's gradient of the summed losses, without its graph
        if idx is None:
            return weighted_cross_entropy_grads(pop, x, y.expand(len(combos), -1), full_w)
        return weighted_cross_entropy_grads(pop, gather(x, idx, shared=True), y[idx], batch_w)

    lab.name_models([f"depth {L}" for _, L in combos], [s for s, _ in combos])  # live view
    done = train(pop.params, grads, Adam(pop.params, lr=p.lr), p.steps, sampler=stream,
                 record=lambda _step: _accuracy(pop, x, y),
                 record_at=range(p.record_every, p.steps + 1, p.record_every),
                 iterate=lambda n: lab.steps(n, "depth-separation"), sets_grads=True)
    curve = done.records
    return _table(p, combos, pop, x, y, curve)


@torch.no_grad()
def _accuracy(pop: SharedDepthPop, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Training accuracy per model, (M,)."""
    return (pop(x).argmax(dim=2) == y).float().mean(dim=1).cpu().numpy()


@torch.no_grad()
def _table(p: DepthParams, combos: list[tuple[int, int]], pop: SharedDepthPop, x: torch.Tensor,
           y: torch.Tensor, curve: list[tuple[int, np.ndarray]]) -> pd.DataFrame:
    grid = np.linspace(0.0, 1.0, GRID_POINTS, dtype=np.float32)[:-1]
    out = pop(torch.as_tensor(grid[:, None], device=x.device))
    score = (out[..., 1] - out[..., 0]).cpu().numpy()  # (M, G): > 0 predicts the class of x_0
    final_loss = weighted_cross_entropy(
        pop(x), y.expand(len(combos), -1),
        torch.full((len(combos), len(y)), 1.0 / len(y), device=x.device)).cpu().numpy()
    points = list(zip(x.cpu().numpy()[:, 0], y.cpu().numpy()))
    recs = []
    for i, (s, L) in enumerate(combos):
        base = dict(seed=s, depth=L, step=p.steps)
        recs += [dict(base, step=st, x=np.nan, metric="train_accuracy_curve", value=float(a[i]))
                 for st, a in curve]
        recs.append(dict(base, x=np.nan, metric="train_accuracy", value=float(curve[-1][1][i])))
        recs.append(dict(base, x=np.nan, metric="train_loss", value=float(final_loss[i])))
        recs.append(dict(base, x=np.nan, metric="points", value=float(len(y))))  # its resolution
        recs += [dict(base, x=float(g), metric="score", value=float(v)) for g, v in zip(grid, score[i])]
        recs += [dict(base, x=float(xv), metric="label", value=float(lv)) for xv, lv in points]
    return pd.DataFrame(recs)


def judge(table: pd.DataFrame) -> Verdict:
    acc = table[table.metric == "train_accuracy"].pivot_table(index="seed", columns="depth",
                                                               values="value")
    depths = list(acc.columns)
    ev = [stats.trend("training accuracy vs depth L", depths, acc.to_numpy(), increasing=True,
                      claim="increases with L", setting=setting_label(depth="*")),
          # control: the deepest net fits above chance (16 points), so the trend can show
          learns(f"L = {depths[-1]}: training accuracy", acc[depths[-1]], 0.5, 0.1,
                 n_points=_n_points(table), what="the deepest net fits above chance",
                 setting=setting_label(depth=depths[-1]))]
    means = " / ".join(f"{100 * acc[d].mean():.1f}" for d in depths)
    finding = (f"Mean training accuracy for L = {', '.join(map(str, depths))}: {means} % over "
               f"{len(acc)} seeds (original single runs: 62.5 / 62.5 / 68.8 %, rerun 75 / 75 / 62.5 %).")
    return decide(ev, finding)


def _n_points(table: pd.DataFrame) -> int | None:
    """The number of alternating points (the training set): the resolution of an accuracy,
    a measurement row of its own (the label rows are drawing data the judge must not need)."""
    points = table[table.metric == "points"]
    return int(points.value.iloc[0]) if len(points) else None


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    sc = table[table.metric == "score"]
    depths = sorted(sc.depth.unique())
    fig, panels = new_figure(1, len(depths), width=3.4, height=2.8, squeeze=False,
                             name="scores", axes=axes)
    acc = table[table.metric == "train_accuracy"].pivot_table(index="seed", columns="depth",
                                                               values="value")
    first = acc.index.min()
    for ax, L in zip(panels[0], depths):
        for s, g in sc[sc.depth == L].groupby("seed"):
            style = dict(color="k", ls="--", lw=1.4, label=f"seed {first}") if s == first else \
                dict(color="0.6", lw=0.6, alpha=0.5, label="other seeds" if s == first + 1 else "_")
            ax.plot(g.x, g.value, **style)
        ax.axhline(0, color="k", lw=0.8)
        _points(ax, table)
        ax.set(title=f"L = {L}: seed {first} acc {acc.loc[first, L]:.2f} (mean {acc[L].mean():.2f})",
               xlabel="x", ylabel="score (logit₁ − logit₀)")
        ax.title.set_fontsize(9)
    panels[0][0].legend(fontsize=7)
    fig2, ax2 = new_figure(name="accuracy-vs-depth", axes=axes)
    mean_sd_line(ax2, list(acc.columns), acc.to_numpy())
    ax2.set(xlabel="depth L (shared-layer applications)", ylabel="training accuracy",
            title="accuracy at a fixed parameter count", xticks=list(acc.columns))
    return {"scores": fig, "accuracy-vs-depth": fig2}


def _points(ax: Axes, table: pd.DataFrame) -> None:
    """The alternating training points on the zero line: red = class 1, blue = class 0."""
    pts = table[(table.metric == "label")].drop_duplicates("x")
    ax.scatter(pts.x, np.zeros(len(pts)), c=np.where(pts.value > 0.5, "tab:red", "tab:blue"),
               s=18, zorder=3)
    sc = table[table.metric == "score"].value
    lo, hi = np.nanpercentile(sc, [2, 98])
    ax.set_ylim(min(lo, -1.0), max(hi, 1.0))


ATOM = Atom(
    name="depth-separation", family="atoms",
    title="Depth separation at a fixed parameter count",
    question="With the same number of parameters, do deeper networks fit a harder (alternating) function better?",
    claim=("On 16 alternating points x_j = j/16, a weight-shared ReLU net with 152 parameters reaches "
           "higher training accuracy the more times its shared layer is applied (original: 62.5 / 62.5 / "
           "68.8 % for L = 1 / 2 / 3; a rerun gave 75 / 75 / 62.5 %, so judged by a trend over ≥ 10 seeds)."),
    sources=("Atomic Experiments in Deep Learning §2 (seed 003)",
             "Telgarsky 2015, Representation Benefits of Deep Feedforward Networks (arXiv 1509.08101)"),
    method=("x_j = j/16, labels alternating (x_0 in class 1). Net: x → ReLU(W_in x + b_in) (10 units), "
            "then the same 10×10 ReLU layer (W, b) applied L times, then a 10 → 2 linear output: 152 "
            "parameters for every L; Xavier-uniform weights and biases; softmax cross-entropy; Adam "
            "(lr 0.003) for 15,000 steps. The original draws 'random batches of 64' with "
            "np.random.permutation(16)[:64], which is all 16 points every step, i.e. full-batch "
            "training; the default does the same (batch_size = 16). All (seed, L) models train as one "
            "population; a model stops applying the shared layer after its own L. Judged by a "
            "trend test over seeds on final training accuracy against L: Page's L test on the "
            "within-seed ranks with ≥ 3 depths (per-seed Spearman ρ reported), the interval of ρ "
            "with 2; a run with fewer than 2 depths is refused, since it has no trend to judge. Positive control (issue 16): the deepest net's training accuracy > 0.6 "
            "(chance + 0.1, judged on the pooled points), so the trend can show."
            " Seeds (issue 16 §3, a power calculation): over three seed sets of 10 (seeds 0…, 100…, 200…) the per-seed ρ of accuracy on L averaged .60 with spread .52, and one set of the three left the trend undecided (Page’s p .028 > .025); 20 seeds give 99.8 % power at the 95 % level (10 gave 90 %)."),
    Params=DepthParams, run=run, judge=judge, figures=figures,
    presets={"quick": dict(steps=1500, record_every=250)},
    settings=("depth",), index_columns=("x",), split_by=("depths",),
    runtime_s=17, default_seeds=20,
    figure_metrics=("score", "label"),
)
