"""Learning random parities (Shalev-Shwartz, Shamir & Shammah 2017 §2.1, Fig. 1; seed 000).

Claim: a d → 10d ReLU → 1 net trained by SGD on the hinge loss learns a random parity of
⌈d/2⌉ of d = 5 and d = 10 ±1 inputs (test accuracy → 1; d = 10 only after a plateau of
several thousand steps) but stays at chance for d = 30 for the whole run. Theorem 1: the variance
over all 2^d parities of the loss gradient is at most G²/2^d, so log₂(Var/G²) falls by ≈ 1 per
unit of d. Budget: ~25 s default (20,000 steps, 5 seeds, one core), ~1 s quick; paper 50,000 steps.
Measured (5 seeds): reproduced at default and at paper scale — accuracy d=5 1.00, d=10 0.99
(75% first reached at step ~6,500), d=30 0.51 (best 0.51–0.53); slope of log₂(Var/G²) −0.97.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ... import stats
from ...atom import Atom
from ...data.parity import ParityStream, random_subset_mask
from ...engine import SGD, MLPPop
from ...engine.scalar_head import forward_scalar
from ...engine.walsh import MAX_D, parity_gradient_variance
from ...errors import ParamError
from ...figures import new_figure
from ...lab import Lab
from ...params import Params, param
from ...verdict import decide

# Thresholds, next to the claim they test.
LEARNED_MAX_D = 10        # the paper: d = 5 and d = 10 are learned ...
LEARNED_ACCURACY = 0.9    # ... "accuracy → 1": final test accuracy above 0.9
CHANCE_MIN_D = 30         # ... d = 30 stays at chance for the whole run:
CHANCE_CEILING = 0.55     # best accuracy over the run below 0.5 + 0.05 (≈ 4.5 sd of a
                          # 2,000-sample accuracy at chance, sd 0.011)
PLATEAU_D = 10            # "d = 10 after a plateau of several thousand steps":
PLATEAU_LEVEL = 0.75      # first evaluation with accuracy >= 0.75 ...
PLATEAU_MIN_STEPS = 2000  # ... comes after step 2,000
THEOREM_SLOPE, SLOPE_TOLERANCE = -1.0, 0.1  # log₂(Var/G²) vs d: slope −1 ± 0.1


@dataclass(frozen=True)
class ParityParams(Params):
    dims: tuple[int, ...] = param((5, 10, 30), "input dimensions d to train", ge=2, le=200)
    subset_size: int = param(0, "size k of the hidden subset S; 0 means k = ⌈d/2⌉", ge=0)
    hidden_factor: int = param(10, "hidden ReLU units per input dimension (10d)", ge=1, le=100)
    steps: int = param(20_000, "SGD steps, each on a fresh batch", ge=1)
    batch_size: int = param(128, "fresh samples per step", ge=1)
    lr: float = param(0.01, "SGD learning rate", gt=0)
    eval_every: int = param(500, "steps between test-accuracy evaluations", ge=1)
    eval_samples: int = param(2000, "fresh held-out samples for the test accuracy", ge=10)
    variance_dims: tuple[int, ...] = param(tuple(range(2, 13)),
                                           "d values for the exact gradient variance (Theorem 1)", ge=1)

    def check(self) -> None:
        for name in ("dims", "variance_dims"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ParamError(f"parameter '{name}' must not repeat a value, got {list(values)}")
        if self.subset_size > min(self.dims):
            raise ParamError(f"parameter 'subset_size' ({self.subset_size}) must not exceed the "
                             f"smallest d in 'dims' ({min(self.dims)})")
        if max(self.variance_dims) > MAX_D:
            raise ParamError(f"parameter 'variance_dims' contains d={max(self.variance_dims)}: the exact "
                             f"gradient variance enumerates all 2^d inputs and parities, allowed d <= {MAX_D}")


def _k(p: ParityParams, d: int) -> int:
    return p.subset_size or math.ceil(d / 2)


def _groups(dims: tuple[int, ...]) -> list[list[int]]:
    """Dims trained as one zero-padded population when padding at most doubles the work
    (work ∝ d²)."""
    groups: list[list[int]] = []
    for d in sorted(set(dims)):
        if groups and (len(groups[-1]) + 1) * d * d <= 2 * sum(g * g for g in groups[-1] + [d]):
            groups[-1].append(d)
        else:
            groups.append([d])
    return groups


def _accuracy(pop: MLPPop, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return ((forward_scalar(pop, x) * y) > 0).float().mean(dim=1).cpu().numpy()  # (M,)


def _train_group(p: ParityParams, lab: Lab, dims: list[int]) -> list[dict]:
    """Train every (seed, d) of the group as one population; rows of test accuracy vs step."""
    members = [(s, d) for s in lab.seeds for d in dims]
    pop = MLPPop([(d, p.hidden_factor * d, 1) for _, d in members],
                 [lab.torch_generator(s, "init", d) for s, d in members],
                 activation="relu", init="trunc_normal", bias_init="zeros", device=lab.device)
    masks = [random_subset_mask(lab.numpy_rng(s, "subset", d), d, _k(p, d)) for s, d in members]
    stream = ParityStream([lab.torch_generator(s, "data", d) for s, d in members],
                          [d for _, d in members], masks, p.batch_size, device=lab.device)
    x_test, y_test = stream.labelled(stream.draw(
        p.eval_samples, [lab.torch_generator(s, "test", d) for s, d in members]))
    opt = SGD(pop.params, lr=p.lr)
    curve = [(0, _accuracy(pop, x_test, y_test))]
    for step in lab.steps(p.steps, f"parity d={','.join(map(str, dims))}"):
        x, y = stream.next()
        hinge = torch.clamp(1 - y * forward_scalar(pop, x), min=0).mean(dim=1)  # (M,)
        opt.zero_grad()
        hinge.sum().backward()
        opt.step()
        if (step + 1) % p.eval_every == 0 or step + 1 == p.steps:
            curve.append((step + 1, _accuracy(pop, x_test, y_test)))
    return [dict(seed=s, d=d, step=st, metric="test_accuracy", value=float(acc[i]))
            for st, acc in curve for i, (s, d) in enumerate(members)]


def _variance_rows(p: ParityParams, lab: Lab) -> list[dict]:
    """Exact Var_S of the gradient and G² at a fresh random init, per (seed, d)."""
    rows = []
    for s in lab.seeds:
        for d in p.variance_dims:
            net = MLPPop([(d, p.hidden_factor * d, 1)], [lab.torch_generator(s, "variance-init", d)],
                         init="trunc_normal", bias_init="zeros")
            (w1, b1), (w2, b2) = net.model_weights(0)
            var, g2 = parity_gradient_variance(w1, b1, w2[:, 0], b2[0])
            rows += [dict(seed=s, d=d, step=0, metric="grad_variance", value=var),
                     dict(seed=s, d=d, step=0, metric="grad_second_moment", value=g2)]
    return rows


def run(p: ParityParams, lab: Lab) -> pd.DataFrame:
    rows = [r for dims in _groups(p.dims) for r in _train_group(p, lab, dims)]
    table = pd.DataFrame(rows + _variance_rows(p, lab))
    return table.sort_values(["metric", "d", "step", "seed"], kind="stable").reset_index(drop=True)


def _log2_ratio(table: pd.DataFrame) -> pd.DataFrame:
    """log₂(Var/G²): (n_seeds, n_dims) frame indexed by seed, columns d."""
    piv = table[table.metric.isin(["grad_variance", "grad_second_moment"])].pivot_table(
        index=["seed", "d"], columns="metric", values="value")
    ratio = np.log2(piv.grad_variance / piv.grad_second_moment)
    return ratio.unstack("d")


def _steps_to(sub: pd.DataFrame, level: float) -> np.ndarray:
    """Per seed, the first evaluated step with accuracy >= level (the last step if never)."""
    curve = sub.pivot_table(index="step", columns="seed", values="value")  # (steps, seeds)
    hit = curve.to_numpy() >= level
    steps = curve.index.to_numpy()
    return np.array([steps[h.argmax()] if h.any() else steps[-1] for h in hit.T], dtype=float)


def _training_evidence(acc: pd.DataFrame) -> tuple[list, list[str]]:
    evidence, parts = [], []
    for d in sorted(acc.d.unique()):
        sub = acc[acc.d == d]
        final = sub[sub.step == sub.step.max()].sort_values("seed").value.to_numpy()
        peak = sub.groupby("seed").value.max().to_numpy()
        text = f"d={d} {final.mean():.2f} (best {peak.mean():.2f})"
        if d <= LEARNED_MAX_D:
            evidence.append(stats.above(f"d={d}: final test accuracy", final, LEARNED_ACCURACY,
                                        claim=f"learned: > {LEARNED_ACCURACY}"))
        if d >= CHANCE_MIN_D:
            evidence.append(stats.below(f"d={d}: best test accuracy during the run", peak,
                                        CHANCE_CEILING, claim=f"at chance: < {CHANCE_CEILING}"))
        if d == PLATEAU_D:
            reach = _steps_to(sub, PLATEAU_LEVEL)
            evidence.append(stats.above(f"d={d}: first step with accuracy >= {PLATEAU_LEVEL}", reach,
                                        PLATEAU_MIN_STEPS, claim=f"plateau: > {PLATEAU_MIN_STEPS} steps"))
            hit = reach < sub.step.max()
            text += (f", {PLATEAU_LEVEL:.0%} first reached at step ~{np.median(reach[hit]):,.0f} "
                     f"(median; {hit.sum()} of {len(hit)} seeds)" if hit.any()
                     else f", {PLATEAU_LEVEL:.0%} not reached")
        parts.append(text)
    return evidence, parts


def _variance_evidence(table: pd.DataFrame) -> tuple[list, str]:
    ratio = _log2_ratio(table)
    dims = ratio.columns.to_numpy(float)
    bound_held = [bool(np.all(row <= -dims + 1e-9)) for row in ratio.to_numpy()]
    evidence = [stats.count_at_least("Theorem 1 bound log2(Var/G²) <= −d at every d", bound_held,
                                     len(bound_held), claim="holds in every seed")]
    text = ""
    if len(dims) >= 2:
        slopes = np.array([np.polyfit(dims, row, 1)[0] for row in ratio.to_numpy()])
        evidence.append(stats.below("|slope of log2(Var/G²) vs d + 1|", np.abs(slopes - THEOREM_SLOPE),
                                    SLOPE_TOLERANCE, claim=f"slope −1 ± {SLOPE_TOLERANCE}"))
        text = f"log2(Var/G²) falls with slope {slopes.mean():.3f} per unit of d (Theorem 1: ≤ −d)"
    return evidence, text


def judge(table: pd.DataFrame):
    acc = table[table.metric == "test_accuracy"]
    evidence, parts = _training_evidence(acc)
    var_evidence, var_text = _variance_evidence(table)
    n = acc.seed.nunique()
    finding = (f"Test accuracy after {acc.step.max():,} steps (mean over {n} seeds): "
               f"{'; '.join(parts)} — paper: d = 5, 10 learned, d = 30 at chance. {var_text}.")
    return decide(evidence + var_evidence, finding)


def figures(table: pd.DataFrame):
    acc = table[table.metric == "test_accuracy"]
    dims = sorted(acc.d.unique())
    fig, axes = new_figure(1, len(dims), width=3.2, height=2.8, squeeze=False)
    for ax, d in zip(axes[0], dims):
        sub = acc[acc.d == d]
        for _, g in sub.groupby("seed"):
            ax.plot(g.step, g.value, lw=0.8, alpha=0.6)
        mean = sub.groupby("step").value.mean()
        ax.plot(mean.index, mean.values, color="k", lw=2, label="mean over seeds")
        ax.axhline(0.5, color="grey", ls=":", lw=1)
        ax.set(title=f"d = {d}", xlabel="training iterations", ylabel="test accuracy", ylim=(0.4, 1.02))
    axes[0][0].legend(fontsize=8, loc="lower right")
    ratio = _log2_ratio(table)
    dims_v = ratio.columns.to_numpy(float)
    fig2, ax2 = new_figure(1, 1, width=4.4, height=3.4)
    for _, row in ratio.iterrows():
        ax2.plot(dims_v, row.to_numpy(), "o", ms=3, alpha=0.6, color="tab:blue")
    ax2.plot(dims_v, ratio.mean().to_numpy(), color="tab:blue", label="measured (exact, per seed)")
    ax2.plot(dims_v, -dims_v, color="k", ls="--", label="Theorem 1 bound: −d")
    ax2.set(xlabel="input dimension d", ylabel="log₂(Var / G²)",
            title="Gradient variance over all 2^d parities")
    ax2.legend(fontsize=8)
    return {"accuracy": fig, "gradient-variance": fig2}


ATOM = Atom(
    name="parity", family="failures",
    title="Random parities: gradients carry no information",
    question="Can a ReLU network learn a random parity by gradient descent as the input dimension grows?",
    claim=("A d → 10d → 1 ReLU net trained by SGD on the hinge loss learns a random parity of "
           "⌈d/2⌉ of d ±1 inputs for d = 5 and d = 10 (accuracy → 1; d = 10 after a plateau of "
           "several thousand steps) but stays at chance for d = 30 for the whole run; the variance "
           "over all 2^d parities of the loss gradient is at most G²/2^d (Theorem 1), so "
           "log₂(Var/G²) falls with slope ≈ −1 per unit of d."),
    sources=("Shalev-Shwartz, Shamir & Shammah 2017, Failures of Gradient-Based Deep Learning, "
             "§2.1, Fig. 1, Theorem 1 (arXiv 1703.07950)",
             "Failures of gradient-based deep learning, Chinese summary (seed 000)"),
    method=("Inputs uniform in {±1}^d, label the product of a hidden random subset of ⌈d/2⌉ "
            "coordinates (the authors' code draws k ~ Binomial(d, ½) and takes a prefix, and "
            "crashes at k = 1; a fixed k = ⌈d/2⌉ and a random subset are used here). Net d → 10d "
            "ReLU → 1, weights truncated normal (std 1/√fan_in, cut at ±2 std), biases zero; "
            "hinge loss; plain SGD lr 0.01 on a fresh batch of 128 every step; test accuracy on "
            "2,000 fresh held-out samples every 500 steps. All (seed, d) nets train as populations "
            "(small d zero-padded together). Theorem 1 is measured exactly at a fresh init: "
            "all 2^d inputs are enumerated, the per-input gradient is split into a part "
            "independent of the parity and (a+b)/2·∂p/∂w, whose Walsh coefficients — one fast "
            "Walsh–Hadamard transform per parameter — give the gradient for every one of the 2^d "
            "parities, hence their variance; G² = E‖∂p/∂w‖². Default: 20,000 steps (the paper: "
            "50,000; preset 'paper')."),
    Params=ParityParams, run=run, judge=judge, figures=figures,
    presets={"quick": dict(dims=(5, 10), steps=1500, eval_every=250, eval_samples=500,
                           variance_dims=(2, 3, 4, 5, 6)),
             "paper": dict(steps=50_000, variance_dims=tuple(range(2, 15)))},
    runtime_s=19,
)
