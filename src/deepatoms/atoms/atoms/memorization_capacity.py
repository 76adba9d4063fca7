"""Memorization capacity (seed 003 §5): memorising or generalising?

Claim: an MLP (200, 200, 200) trained for 2,500 minibatch steps fits random labels of a 6-d
Gaussian pair fully up to n ≈ 100–150 points, after which its training accuracy falls (original
.95, .85, .73, .67 for n = 150, 200, 250, 300), while true labels stay ≥ .93; at n = 150 true labels
are learned faster than random ones. Budget: heavy on CPU (60 models of 80k parameters for
2,500 steps, ~1 TFLOP·s⁻¹-minutes: several minutes on one core, seconds on a GPU); quick ~2 s.
"""
from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure
import numpy as np
import pandas as pd
import torch

from ... import stats
from ...atom import Atom
from ...data.gaussian import gaussian_pair_with_ceiling
from ...engine import MLPPop, Sampler, train
from ...engine.fused_adam import FusedAdam
from ...engine.losses import weighted_cross_entropy
from ...errors import ParamError
from ...figures import mean_sd_line, new_figure
from ...lab import Lab
from ...params import Params, param
from ...verdict import Verdict, decide, setting_label
from .._controls import as_control

LABELS = ("true", "random")
FIT_FULLY = 0.95   # "fit fully": the source calls .95 at n = 150 within capacity
TRUE_FLOOR = 0.93  # "true labels stay ≥ .93" (source), from one draw of the data
# ... judged relative to each seed's Bayes ceiling: within .05 of it (the source's .93 sits about
# .05 below the ceilings of its easy draws, ≥ .975)
TRUE_GAP = 0.05


@dataclass(frozen=True)
class MemoParams(Params):
    sizes: tuple[int, ...] = param((50, 100, 150, 200, 250, 300), "training-set sizes n", ge=2,
                                   le=100_000, min_len=2)
    curve_size: int = param(150, "n whose accuracy per checkpoint compares true vs random labels",
                            ge=2)
    d: int = param(6, "input dimension of the Gaussian pair", ge=1, le=1000)
    class_seps: str = param("1", "class-1 mean μ_i: '1' or '1/i'", choices=("1", "1/i"))
    covariance_scale: float = param(1.0, "s in C = s·U[0,1]^{d×d}, Σ = CᵀC", gt=0)
    hidden: tuple[int, ...] = param((200, 200, 200), "hidden-layer widths", ge=1, le=4096,
                                    distinct=False)
    steps: int = param(2_500, "Adam steps", ge=1)
    lr: float = param(0.003, "Adam learning rate", gt=0)
    batch_size: int = param(64, "points per step, distinct (all n points when n < batch_size)", ge=1)
    record_every: int = param(250, "steps between recorded training accuracies", ge=1)

    def check(self) -> None:
        if self.curve_size not in self.sizes:
            raise ParamError(f"parameter 'curve_size' ({self.curve_size}) must be one of 'sizes' "
                             f"{list(self.sizes)}")


def make_data(p: MemoParams, lab: Lab, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray], float]:
    """x (N, d), labels {"true": (N,), "random": (N,)} for N = max(sizes) (set n = first n rows),
    and the draw's Bayes ceiling (best possible accuracy on true labels). Random labels are a
    permutation of the true ones (as in the source), so classes stay balanced."""
    rng = lab.numpy_rng(seed, "data")
    x, y, ceiling = gaussian_pair_with_ceiling(rng, max(p.sizes), p.d, p.class_seps,
                                               p.covariance_scale)
    return x, {"true": y, "random": rng.permutation(y)}, ceiling


def run(p: MemoParams, lab: Lab) -> pd.DataFrame:
    combos = [(s, kind, n) for s in lab.seeds for kind in LABELS for n in p.sizes]
    data = {s: make_data(p, lab, s) for s in lab.seeds}
    x = lab.tensor(np.stack([data[s][0] for s, _, _ in combos]))            # (M, N, d)
    y = lab.tensor(np.stack([data[s][1][k] for s, k, _ in combos]))         # (M, N)
    sizes = [n for _, _, n in combos]
    rows = torch.arange(x.shape[1], device=lab.device).view(1, -1)
    in_set = (rows < torch.tensor(sizes, device=lab.device).view(-1, 1)).float()  # (M, N)
    pop = MLPPop([(p.d, *p.hidden, 2) for _ in combos],
                 [lab.torch_generator(s, "init", k, n) for s, k, n in combos],
                 activation="sigmoid", init="xavier_uniform", device=lab.device)
    stream = Sampler([lab.torch_generator(s, "batches", k, n) for s, k, n in combos], sizes,
                     p.batch_size, device=lab.device)
    # weight 1/min(B, n) on a model's used slots: each model's mean loss over its minibatch
    w = stream.weights if stream.weights is not None else torch.full(
        (len(combos), p.batch_size), 1.0 / p.batch_size, device=lab.device)
    m_idx = torch.arange(len(combos), device=lab.device).view(-1, 1)

    def loss(idx, _step):
        return weighted_cross_entropy(pop(x[m_idx, idx]), y[m_idx, idx], w)

    lab.name_models([f"{k} labels, n={n}" for _, k, n in combos], [s for s, _, _ in combos])
    done = train(pop.params, loss, FusedAdam(pop.params, lr=p.lr), p.steps, sampler=stream,
                 record=lambda _step: _accuracy(pop, x, y, in_set),
                 record_at=range(p.record_every, p.steps + 1, p.record_every),
                 iterate=lambda n: lab.steps(n, "memorization-capacity"))
    curve = done.records
    return _table(combos, curve, {s: data[s][2] for s in lab.seeds})


@torch.no_grad()
def _accuracy(pop: MLPPop, x: torch.Tensor, y: torch.Tensor, in_set: torch.Tensor) -> np.ndarray:
    """Accuracy of every model on its own n training points, (M,)."""
    correct = (pop(x).argmax(dim=2) == y).float() * in_set
    return (correct.sum(dim=1) / in_set.sum(dim=1)).cpu().numpy()


def _table(combos: list[tuple[int, str, int]], curve: list[tuple[int, np.ndarray]],
           ceilings: dict[int, float]) -> pd.DataFrame:
    recs = [dict(seed=s, metric="bayes_accuracy", value=c) for s, c in ceilings.items()]
    for i, (s, kind, n) in enumerate(combos):
        base = dict(seed=s, labels=kind, n=n)
        recs += [dict(base, step=st, metric="train_accuracy_curve", value=float(a[i])) for st, a in curve]
        recs.append(dict(base, step=curve[-1][0], metric="train_accuracy", value=float(curve[-1][1][i])))
    return pd.DataFrame(recs)


def judge(table: pd.DataFrame) -> Verdict:
    final = table[table.metric == "train_accuracy"].astype({"n": int})
    acc = {k: final[final.labels == k].pivot_table(index="seed", columns="n", values="value")
           for k in LABELS}
    sizes = list(acc["random"].columns)
    ceiling = table[table.metric == "bayes_accuracy"].set_index("seed").value.reindex(acc["true"].index)
    curve = table[table.metric == "train_accuracy_curve"]
    n_curve = _curve_size(table)
    speed = curve[curve.n == n_curve].pivot_table(index="seed", columns="labels", values="value",
                                                   aggfunc="mean")
    # a control: the network memorises random labels at the smallest n, else no capacity shows
    ev = [as_control(stats.above(
              f"random labels, n = {sizes[0]}: training accuracy", acc["random"][sizes[0]],
              FIT_FULLY, claim=f"≥ {FIT_FULLY} (fit fully below capacity)", n_points=sizes[0],
              setting=setting_label(labels="random", n=sizes[0]))),
          stats.trend("random labels: training accuracy vs n", sizes, acc["random"].to_numpy(),
                      increasing=False, claim="falls as n grows past capacity",
                      setting=setting_label(labels="random", n="*"))]
    ev += [stats.near_ceiling(f"true labels, n = {n}: training accuracy − seed's Bayes ceiling",
                              acc["true"][n], ceiling, TRUE_GAP,
                              claim=f"> −{TRUE_GAP} (trains well: the source's ≥ {TRUE_FLOOR})",
                              setting=setting_label(labels="true", n=n), n_points=n)
           for n in sizes]
    ev.append(stats.difference(f"n = {n_curve}: mean accuracy over checkpoints, true − random",
                               speed["true"], speed["random"], claim="true labels learned faster (> 0)",
                               setting=setting_label(labels="*", n=n_curve)))
    return decide(ev, _finding(acc, sizes, speed, n_curve, ceiling))


def _curve_size(table: pd.DataFrame) -> int:
    """The n recorded for the speed comparison: the one closest to 150 (the source's choice)."""
    ns = np.array(sorted(table.n.dropna().unique()))
    return int(ns[np.argmin(np.abs(ns - 150))])


def _finding(acc: dict[str, pd.DataFrame], sizes: list[int], speed: pd.DataFrame,
             n_curve: int, ceiling: pd.Series) -> str:
    rnd = acc["random"].mean()
    fit = [n for n in sizes if rnd[n] >= FIT_FULLY]
    capacity = f"≈ {max(fit)} points" if fit else f"below {sizes[0]} points"
    tail = ", ".join(f"{rnd[n]:.2f}" for n in sizes if n >= 150)
    low = acc["true"].min(axis=1)
    gap = (acc["true"].sub(ceiling, axis=0)).min(axis=1)
    return (f"Random labels are fit (≥ {FIT_FULLY}) up to n = {capacity}; mean random-label accuracy "
            f"for n ≥ 150: {tail} (original .95, .85, .73, .67); true labels' lowest accuracy over n "
            f"{low.mean():.2f} on average (range {low.min():.2f}–{low.max():.2f}; the source's ≥ .93), "
            f"against Bayes ceilings {ceiling.mean():.2f} (range {ceiling.min():.2f}–"
            f"{ceiling.max():.2f}): at worst {gap.mean():+.2f} from the seed's ceiling on average; at "
            f"n = {n_curve} the mean accuracy over checkpoints is {speed['true'].mean():.2f} (true) vs "
            f"{speed['random'].mean():.2f} (random).")


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    fig, (ax1, ax2) = new_figure(1, 2, width=4.4, name="capacity-and-speed", axes=axes)
    final = table[table.metric == "train_accuracy"]
    curve = table[table.metric == "train_accuracy_curve"]
    n_curve = _curve_size(table)
    for kind in LABELS:
        a = final[final.labels == kind].pivot_table(index="seed", columns="n", values="value")
        mean_sd_line(ax1, list(a.columns), a.to_numpy(), label=f"{kind} labels")
        c = curve[(curve.labels == kind) & (curve.n == n_curve)].pivot_table(
            index="seed", columns="step", values="value")
        mean_sd_line(ax2, list(c.columns), c.to_numpy(), label=f"{kind} labels")
    ceil = table[table.metric == "bayes_accuracy"].value
    if len(ceil):
        ax1.axhline(ceil.mean(), color="0.4", ls="--", lw=1,
                    label=f"Bayes ceiling (mean {ceil.mean():.2f}, {ceil.min():.2f}–{ceil.max():.2f})")
    ax1.set(xlabel="n (training points)", ylabel="final training accuracy", ylim=(0, 1.04),
            title="memorisation capacity")
    ax2.set(xlabel="step", ylabel="training accuracy", ylim=(0, 1.04),
            title=f"learning speed (n = {n_curve})")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    return {"capacity-and-speed": fig}


ATOM = Atom(
    name="memorization-capacity", family="atoms",
    title="Memorising random labels vs learning true ones",
    question="How many random labels can an MLP memorise, and does it learn true labels faster?",
    claim=("An MLP (200, 200, 200) fits random labels of a 6-d Gaussian pair fully up to n ≈ 100–150 and "
           "then its training accuracy falls (original .95, .85, .73, .67 for n = 150–300) while true "
           "labels stay ≥ .93; at n = 150 true labels are learned faster than random ones."),
    sources=("Atomic Experiments in Deep Learning §5 (seed 003)",
             "Arpit et al. 2017, A Closer Look at Memorization in Deep Networks (arXiv 1706.05394)"),
    method=("Gaussian pair, d = 6, μ_i = 1, Σ = CᵀC with C ~ U[0,1]^{6×6}; 300 points per seed, the "
            "first n used for n ∈ {50, …, 300}. Random labels are a permutation of the true labels "
            "(as in the source); unlike the source, true and random labels share the same inputs, so "
            "the comparison is paired. MLP 6 → 200 → 200 → 200 → 2, sigmoid hidden units, Xavier-"
            "uniform weights and biases, softmax cross-entropy, Adam (lr 0.003), 2,500 steps of 64 "
            "distinct points (all n points when n < 64, as np.random.permutation(n)[:64] gives). "
            "Training accuracy on all n points every 250 steps (the source records after steps "
            "1, 251, …, 2251 and calls the last one final; here the last record is after step 2,500). "
            "All (seed, labels, n) models train as one population. The source's 'true labels stay ≥ .93' "
            "comes from one draw of the data; a draw's best possible accuracy on true labels (its "
            "Bayes ceiling Φ(½·√(μᵀΣ⁻¹μ)), in the table as bayes_accuracy) varies from seed to seed, so "
            "true labels are judged at every n by the paired gap to the seed's ceiling: trains well "
            "when the mean of (accuracy − ceiling) is above −0.05. Positive control (issue 16): random labels fit fully "
            "(≥ 0.95) at the smallest n (before: a claim row): the network memorises at all, so a "
            "capacity can show."
            " Seeds: 8 by default, was 5 (issue 16 §3, a power calculation): over three seed sets of 5 (seeds 0…, 100…, 200…) the n = 150 row (true − random, mean accuracy over checkpoints) averaged .144 with spread .072, and one set of the three left it undecided (.104 [−.026, .235]); 8 seeds give 99.8 % power at the 95 % level (5 gave 91 %)."),
    Params=MemoParams, run=run, judge=judge, figures=figures,
    presets={"quick": dict(sizes=(50, 150, 300), hidden=(64, 64, 64), steps=300, record_every=30)},
    settings=("labels", "n"),
    runtime_s=140, default_seeds=8,
)
