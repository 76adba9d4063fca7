"""Class imbalance (seed 003 §4): does imbalance hurt a network, and does oversampling help?

Claim: with 1,200 training points of a 2-d Gaussian pair at class ratio r:1, the test accuracy of an
MLP (100, 100) on a balanced test set falls as r grows (≈ .82 at 1:1 → .50 at 1:100 in the
original), and oversampling the minority class keeps it higher (≈ .85 at 1:50, .65 at 1:100).
Budget: heavy on CPU (70 full-batch MLPs (100, 100) on 1,200 points for 500 steps: ~40 s on one
core, gradients a model at a time by `engine.mlp_grads`; seconds on a GPU); quick ~2 s.
"""
from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure
import numpy as np
import pandas as pd
import torch

from ... import stats
from ...atom import Atom
from ...data.gaussian import bayes_accuracy, class_means
from ...engine import Adam, MLPPop, mlp_grads, train
from ...engine.losses import weighted_cross_entropy
from ...errors import ParamError
from ...figures import mean_sd_line, new_figure
from ...lab import Lab
from ...params import Params, param
from ...verdict import Verdict, decide, setting_label
from .._controls import learns

VARIANTS = ("none", "oversample")
GRID = np.arange(0.0, 1.02, 0.02)  # decision-boundary grid on the normalised square (the source's)
# Gradients from `engine.mlp_grads`, a few models at a time (their activations stay in cache:
# about half autograd's time per step, the same bits); False: autograd on the whole population.
HAND_BACKWARD = True


@dataclass(frozen=True)
class ImbalanceParams(Params):
    ratios: tuple[int, ...] = param((1, 2, 5, 10, 20, 50, 100), "class ratios r (majority:minority "
                                    "= r:1; 1 is the balanced reference)", ge=1, le=10_000,
                                    requires=(1,), min_len=2)
    n_train: int = param(1_200, "training points (minority: int(n/(r+1)))", ge=4)
    n_test: int = param(300, "balanced test points", ge=2)
    d: int = param(2, "input dimension of the Gaussian pair", ge=1, le=1000)
    class_seps: str = param("1/i", "class-1 mean μ_i: '1/i' or '1'", choices=("1/i", "1"))
    covariance_scale: float = param(1.0, "s in C = s·U[0,1]^{d×d}, Σ = CᵀC", gt=0)
    hidden: tuple[int, ...] = param((100, 100), "hidden-layer widths", ge=1, le=4096,
                                    distinct=False)
    steps: int = param(500, "full-batch Adam steps", ge=1)
    lr: float = param(0.003, "Adam learning rate", gt=0)
    normalisation: str = param("train", "min-max scaling: 'train' (fit on the training set) or "
                               "'per-set' (each set by its own min/max, as the source)",
                               choices=("train", "per-set"))

    def check(self) -> None:
        if self.n_train // (max(self.ratios) + 1) < 1:
            raise ParamError(f"parameter 'ratios' (max {max(self.ratios)}) leaves no minority point in "
                             f"'n_train' ({self.n_train}); need n_train >= ratio + 1")


def sample(rng: np.random.Generator, c: np.ndarray, mu: np.ndarray, n0: int, n1: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """n0 points of class 0 ~ N(0, CᵀC) then n1 of class 1 ~ N(μ, CᵀC): x (n, d), y (n,)."""
    x0 = rng.standard_normal((n0, len(mu))) @ c
    x1 = rng.standard_normal((n1, len(mu))) @ c + mu
    return np.concatenate([x0, x1]), np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])


def prior_rule_accuracy(c: np.ndarray, mu: np.ndarray, prior0: float) -> float:
    """Balanced accuracy of the Bayes rule of a training distribution with P(class 0) = prior0:
    the best a learner of the imbalanced training set can do, scored on a balanced test set.
    With Δ² = μᵀΣ⁻¹μ and t = ln(π0/π1)/Δ: ½·Φ(Δ/2 + t) + ½·Φ(Δ/2 − t) (t = 0: the ceiling)."""
    from scipy.stats import norm
    sigma = c.T @ c
    delta = float(np.sqrt(max(float(mu @ np.linalg.lstsq(sigma, mu, rcond=None)[0]), 0.0)))
    if delta == 0.0:
        return 0.5
    t = float(np.log(prior0 / (1.0 - prior0))) / delta
    return float(0.5 * norm.cdf(delta / 2 + t) + 0.5 * norm.cdf(delta / 2 - t))


def minmax(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Scale each column of x by the min and range of `ref` (float32)."""
    lo, span = ref.min(axis=0), np.ptp(ref, axis=0)
    return ((x - lo) / np.where(span > 0, span, 1.0)).astype(np.float32)


def seed_data(p: ImbalanceParams, lab: Lab, seed: int) -> dict:
    """One covariance per seed; per ratio a training set (minority = class 0, as the source); one
    balanced test set. Returns {ratio: (x_train, y_train, x_test)} plus "y_test"."""
    rng = lab.numpy_rng(seed, "data")
    c = p.covariance_scale * rng.uniform(0.0, 1.0, size=(p.d, p.d))
    mu = class_means(p.d, p.class_seps)
    x_te, y_te = sample(rng, c, mu, p.n_test // 2, p.n_test - p.n_test // 2)
    out: dict = {"y_test": y_te, "ceiling": bayes_accuracy(c, mu, 0.5), "prior_rule": {}}
    for r in p.ratios:
        n_min = p.n_train // (r + 1)
        out["prior_rule"][r] = prior_rule_accuracy(c, mu, n_min / p.n_train)
        x_tr, y_tr = sample(rng, c, mu, n_min, p.n_train - n_min)
        ref_te = x_tr if p.normalisation == "train" else x_te
        out[r] = (minmax(x_tr, x_tr), y_tr, minmax(x_te, ref_te))
    return out


def run(p: ImbalanceParams, lab: Lab) -> pd.DataFrame:
    data = {s: seed_data(p, lab, s) for s in lab.seeds}
    combos = [(s, r, v) for s in lab.seeds for r in p.ratios for v in VARIANTS]
    x_tr = lab.tensor(np.stack([data[s][r][0] for s, r, _ in combos]))   # (M, n_train, d)
    y_tr = lab.tensor(np.stack([data[s][r][1] for s, r, _ in combos]))   # (M, n_train)
    x_te = lab.tensor(np.stack([data[s][r][2] for s, r, _ in combos]))   # (M, n_test, d)
    y_te = lab.tensor(np.stack([data[s]["y_test"] for s, _, _ in combos]))
    w = lab.tensor(np.stack([_weights(data[s][r][1], r, v) for s, r, v in combos]))
    # the same initial weights for both variants of a (seed, ratio): a paired comparison
    pop = MLPPop([(p.d, *p.hidden, 2) for _ in combos],
                 [lab.torch_generator(s, "init", r) for s, r, _ in combos],
                 activation="sigmoid", init="xavier_uniform", device=lab.device)
    by_hand = HAND_BACKWARD and mlp_grads.supports(pop)

    def loss(_batch, _step):  # full batch
        if by_hand:  # sets the gradients of the losses' sum itself
            return mlp_grads.cross_entropy_grads(pop, x_tr, y_tr, w, chunked=True)
        return weighted_cross_entropy(pop(x_tr), y_tr, w)

    train(pop.params, loss, Adam(pop.params, lr=p.lr), p.steps,
          iterate=lambda n: lab.steps(n, "class-imbalance"), sets_grads=by_hand)
    with torch.no_grad():
        acc = (pop(x_te).argmax(dim=2) == y_te).float().mean(dim=1).cpu().numpy()
    return _table(p, combos, acc, pop, data, lab)


def _weights(y: np.ndarray, ratio: int, variant: str) -> np.ndarray:
    """Row weights of the mean loss. Oversampling = tiling the minority class `ratio` times, which
    for a full-batch mean is the same objective as giving each minority row weight `ratio`."""
    w = np.ones(len(y))
    if variant == "oversample":
        w[y == 0] = ratio
    return (w / w.sum()).astype(np.float32)


def _table(p: ImbalanceParams, combos: list[tuple[int, int, str]], acc: np.ndarray, pop: MLPPop,
           data: dict, lab: Lab) -> pd.DataFrame:
    recs = [dict(seed=s, ratio=r, variant=v, metric="test_accuracy", value=float(a))
            for (s, r, v), a in zip(combos, acc)]
    for s in lab.seeds:  # the oracles: best balanced accuracy, and the training priors' Bayes rule
        recs.append(dict(seed=s, metric="bayes_accuracy", value=data[s]["ceiling"]))
        recs.append(dict(seed=s, metric="per_set_normalisation",  # how the test set was scaled
                         value=float(p.normalisation == "per-set")))
        recs += [dict(seed=s, ratio=r, metric="prior_rule_accuracy", value=q)
                 for r, q in data[s]["prior_rule"].items()]
    r_max = max(p.ratios)
    xx, yy = np.meshgrid(GRID, GRID)
    grid = np.c_[xx.ravel(), yy.ravel()].astype(np.float32)
    show = [i for i, (_, r, _) in enumerate(combos) if r == r_max]
    if p.d == 2:
        with torch.no_grad():
            prob = torch.softmax(pop(lab.tensor(grid)), dim=2)[..., 1].cpu().numpy()  # (M, G)
        for i in show:
            s, r, v = combos[i]
            recs += [dict(seed=s, ratio=r, variant=v, metric="grid_p1", x1=float(a), x2=float(b),
                          value=float(q)) for (a, b), q in zip(grid, prob[i])]
        for s in lab.seeds:
            x_tr, y_tr, x_te = data[s][r_max]
            for kind, xs, ys in (("train_point", x_tr, y_tr), ("test_point", x_te, data[s]["y_test"])):
                recs += [dict(seed=s, ratio=r_max, variant="none", metric=kind, x1=float(a),
                              x2=float(b), value=float(c)) for (a, b), c in zip(xs, ys)]
    return pd.DataFrame(recs)


def judge(table: pd.DataFrame) -> Verdict:
    acc = table[table.metric == "test_accuracy"].astype({"ratio": int})
    piv = {v: acc[acc.variant == v].pivot_table(index="seed", columns="ratio", values="value")
           for v in VARIANTS}
    ratios = list(piv["none"].columns)
    r_max = ratios[-1]
    ev = [stats.trend("test accuracy vs ratio r (no resampling)", ratios, piv["none"].to_numpy(),
                      increasing=False, claim="falls as r grows",
                      setting=setting_label(ratio="*", variant="none")),
          stats.difference(f"1:{r_max}: oversampled − plain test accuracy", piv["oversample"][r_max],
                           piv["none"][r_max], claim="oversampling keeps accuracy higher (> 0)",
                           setting=setting_label(ratio=r_max, variant="*")),
          # control: at the balanced ratio the network learns (original ≈ .82), else no fall
          # with r and no rescue by oversampling can show
          learns(f"test accuracy at 1:{ratios[0]} (no resampling)", piv["none"][ratios[0]], 0.5,
                 what="the network learns the balanced task",
                 setting=setting_label(ratio=ratios[0], variant="none"))]
    return decide(ev, _finding(table, piv, ratios))


def _finding(table: pd.DataFrame, piv: dict[str, pd.DataFrame], ratios: list) -> str:
    none, over = piv["none"].mean(), piv["oversample"].mean()
    r0, r_max = ratios[0], ratios[-1]
    text = (f"Mean test accuracy without resampling {none[r0]:.2f} at 1:{r0} → {none[r_max]:.2f} at "
            f"1:{r_max} (original ≈ .82 → .50); with oversampling {over[r_max]:.2f} at 1:{r_max}"
            + (f", {over[50]:.2f} at 1:50" if 50 in over.index and r_max != 50 else "")
            + " (original ≈ .65 at 1:100, .85 at 1:50)")
    ceil = table[table.metric == "bayes_accuracy"].value
    prior = (table[table.metric == "prior_rule_accuracy"].astype({"ratio": int})
             .groupby("ratio").value.mean())
    if len(ceil):
        text += (f"; the seeds' Bayes ceilings on the balanced test set average {ceil.mean():.2f} "
                 f"(range {ceil.min():.2f}–{ceil.max():.2f})")
    if r_max in prior.index:
        text += (f", and the Bayes rule of the 1:{r_max} training distribution's priors would "
                 f"score {prior[r_max]:.2f} on it")
    flag = table[table.metric == "per_set_normalisation"].value
    if len(flag):
        text += ("; test set min-max scaled by its own min/max (the source's per-set normalisation)"
                 if flag.max() > 0 else "; test set min-max scaled with the training set's min and "
                 "range (the source scaled each set by its own: normalisation=per-set)")
    return text + "."


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    acc = table[table.metric == "test_accuracy"]
    fig, ax = new_figure(name="accuracy-vs-ratio", axes=axes)
    for v, label in zip(VARIANTS, ("without resampling", "with oversampling")):
        a = acc[acc.variant == v].pivot_table(index="seed", columns="ratio", values="value")
        mean_sd_line(ax, list(a.columns), a.to_numpy(), label=label)
    prior = table[table.metric == "prior_rule_accuracy"]
    if len(prior):
        m = prior.groupby("ratio").value.mean()
        ax.plot(m.index, m.values, color="0.3", ls=":", lw=1.2,
                label="Bayes rule of the training priors")
        ceil = table[table.metric == "bayes_accuracy"].value
        ax.axhline(ceil.mean(), color="0.4", ls="--", lw=1,
                   label=f"Bayes ceiling (mean {ceil.mean():.2f})")
    ax.set(xscale="log", xlabel="class ratio r (r:1)", ylabel="balanced test accuracy",
           title="accuracy on imbalanced training sets")
    ax.legend(fontsize=8)
    out = {"accuracy-vs-ratio": fig}
    if (table.metric == "grid_p1").any():
        out["decision-boundaries"] = _boundaries(table, axes=axes)
    return out


def _showcase_seed(table: pd.DataFrame) -> int:
    grid = table[table.metric == "grid_p1"]
    acc = table[(table.metric == "test_accuracy") & (table.ratio == grid.ratio.max())]
    gain = acc.pivot_table(index="seed", columns="variant", values="value")
    gain = (gain["oversample"] - gain["none"]).sort_index()
    return int(gain.idxmax()) if len(gain) else int(table.seed.min())


def _boundaries(table: pd.DataFrame, axes=None) -> Figure:
    """2×2: rows = no resampling / oversampling, columns = training / test points, for the seed
    where oversampling gains most at the largest ratio (the source's picture; first such seed)."""
    seed = _showcase_seed(table)
    t = table[table.seed == seed]
    fig, axes = new_figure(2, 2, width=3.4, height=3.2, squeeze=False,
                           name="decision-boundaries", axes=axes)
    for i, v in enumerate(VARIANTS):
        g = t[(t.metric == "grid_p1") & (t.variant == v)]
        z = g.value.to_numpy().reshape(len(GRID), len(GRID))
        acc = t[(t.metric == "test_accuracy") & (t.variant == v) & (t.ratio == g.ratio.max())].value
        for j, kind in enumerate(("train_point", "test_point")):
            ax = axes[i][j]
            ax.contourf(GRID, GRID, z, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.3)
            ax.contour(GRID, GRID, z, levels=[0.5], colors="k", linewidths=1)
            pts = t[t.metric == kind]
            ax.scatter(pts.x1, pts.x2, c=pts.value, cmap="RdBu", vmin=0, vmax=1, s=4)
            name = "training" if j == 0 else f"test, acc {acc.iloc[0]:.2f}"
            ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="feature 1", ylabel="feature 2",
                   title=f"seed {seed}, 1:{int(g.ratio.max())}, {v}: {name}")
            ax.title.set_fontsize(9)
    return fig


ATOM = Atom(
    name="class-imbalance", family="atoms",
    title="Class imbalance and oversampling",
    question="Does class imbalance hurt a neural network, and does oversampling the minority class help?",
    claim=("Balanced test accuracy of an MLP (100, 100) falls as the training class ratio r:1 grows "
           "(≈ .82 at 1:1 → .50 at 1:100 in the original) and oversampling the minority class keeps it "
           "higher (≈ .85 at 1:50, .65 at 1:100)."),
    sources=("Atomic Experiments in Deep Learning §4 (seed 003)",
             "Chawla et al. 2002, SMOTE (JAIR 16) — the source's pointer for synthetic oversampling"),
    method=("Gaussian pair, d = 2, μ_i = 1/i, Σ = CᵀC, C ~ U[0,1]^{2×2}, one covariance per seed. Per "
            "ratio r ∈ {1, 2, 5, 10, 20, 50, 100}: 1,200 training points, int(1200/(r+1)) of them in the "
            "minority class 0 (as the source); one balanced test set of 300. Features min-max scaled "
            "with the training set's min and range (the source scaled the test set by its own min/max, "
            "available as normalisation='per-set'). MLP 2 → 100 → 100 → 2, sigmoid hidden units, "
            "Xavier-uniform weights and biases, softmax cross-entropy, 500 full-batch Adam steps (lr "
            "0.003). Oversampling tiles the minority class r times; for a full-batch mean loss this is "
            "exactly a weight r on each minority row, which is how it is computed. Both variants of a "
            "(seed, r) share their data and initial weights; all models train as one population. "
            "Control, seeds 0–4: with the source's per-set normalisation the oversampled accuracy is "
            ".84 at 1:100 (seeds .53–1.00) and .86 at 1:50 (source .85), and its gain over no "
            "resampling at 1:100 is +.24 with a CI reaching below 0; with training-set scaling it is "
            ".95 at both (+.35, CI [.08, .62]). Neither gives the source's .65 at 1:100 on average; "
            "the per-set normalisation is the one that lowers it (scaling an imbalanced training set "
            "and a balanced test set separately shifts one against the other), and single per-set "
            "draws spread over .53–1.00, which holds .65. Oracles in the table: each seed's Bayes ceiling on the balanced test set "
            "(bayes_accuracy, Φ(½·√(μᵀΣ⁻¹μ))) and, per r, the balanced accuracy of the Bayes rule of "
            "the training distribution's priors (prior_rule_accuracy: what a perfect learner of the "
            "imbalanced set would score without resampling). A run without ratio 1, the balanced "
            "reference the claim starts from, is refused. Positive control (issue 16): at 1:1 "
            "the network's test accuracy is above .6 (chance .5 + .1; the original ≈ .82), else "
            "neither the fall with r nor oversampling's rescue can show."),
    Params=ImbalanceParams, run=run, judge=judge, figures=figures,
    presets={"quick": dict(ratios=(1, 10, 100), hidden=(32, 32), steps=150)},
    settings=("ratio", "variant"), index_columns=("x1", "x2"),
    runtime_s=45,  # wall × 1.2 (37–38 s; 54 s with autograd), 1 thread on a shared machine
    figure_metrics=("grid_p1", "train_point", "test_point"),
)
