"""End-to-end vs decomposition: the portfolio task (Shalev-Shwartz et al. 2017 §3.2–3.3, Fig. 4;
seed 000).

Claim: a linear-softmax portfolio over k assets trained end-to-end on the realised return
(loss −zᵀp) and by decomposition on the best asset (loss −p_y) both reach expected loss −1 quickly
for k = 10; for k = 1000 and 2000 decomposition reaches ≈ −1 by ~2,200 steps while end-to-end
plateaus (paper ≈ −0.29 and −0.22). At init the second moment of the end-to-end gradient is ≈ k
times that of decomposition (same mean gradient, so k times lower SNR). Budget: ~80 s default
(k = 10, 1000; 5 seeds); preset 'paper' adds k = 2000.
Measured (default, seeds 0–2): reproduced — k = 10: both −1.00 by step 500; k = 1000: end-to-end
plateaus at −0.42, decomposition −1.00 (paired gap 0.58); second-moment ratio within 0.2 % of k.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ... import stats
from ...atom import Atom
from ...data.portfolio import PortfolioStream, best_assets
from ...engine import init_tensor, train
from ...engine.fused_adam import FusedAdam
from ...figures import new_figure
from ...lab import Lab
from ...params import Params, param
from ...verdict import CENTRAL, Verdict, decide, setting_label
from .._controls import as_control, secondary_or_central

if TYPE_CHECKING:
    from matplotlib.figure import Figure

METHODS = ("end-to-end", "decomposition")
SMALL_K = 10            # "k = 10: both reach −1 quickly":
REACHED = -0.9          # expected loss below −0.9 ...
QUICK_STEPS = 500       # ... within the first 500 steps (a fifth of the paper's run)
LARGE_K = 1000          # k ≥ 1000: decomposition reaches ≈ −1 (below −0.9) while
PLATEAU = -0.5          # end-to-end plateaus far from it (above −0.5; paper −0.29, −0.22)
MOMENT_TOLERANCE = 0.1  # second-moment ratio within ±10 % of k ("≈ k times")
GAP = PLATEAU - REACHED  # k ≥ 1000: paired gap end-to-end − decomposition above 0.4


@dataclass(frozen=True)
class PortfolioParams(Params):
    d: int = param(1000, "number of one-hot inputs", ge=1, le=100_000)
    ks: tuple[int, ...] = param((10, 1000), "numbers of assets k", ge=2, le=100_000)
    steps: int = param(2500, "Adam steps, each on a fresh batch", ge=1)
    batch_size: int = param(100, "fresh samples per step", ge=1)
    lr: float = param(0.1, "Adam learning rate", gt=0)
    eval_every: int = param(50, "steps between exact expected-loss evaluations", ge=1)


def _expected_loss(w: torch.Tensor, b: torch.Tensor, best: torch.Tensor) -> torch.Tensor:
    """Exact −(1/d) Σ_j p_{y_j}(e_j): w (M, d, k), b (M, 1, k), best (M, d) → (M,)."""
    with torch.no_grad():
        prob = torch.softmax(w + b, dim=-1)
        return -prob.gather(2, best.unsqueeze(2)).squeeze(2).mean(dim=1)


def _second_moments(w: torch.Tensor, b: torch.Tensor, best: torch.Tensor) -> torch.Tensor:
    """E‖∇θ loss‖² of one sample for (end-to-end, decomposition), exact over j and z: (M, 2).

    With p = softmax(w_j + b) and Q = Σ p_l²: end-to-end E_z‖∂(−zᵀp)/∂logits‖² = Σ_i p_i²(1 − 2p_i
    + Q); decomposition ‖∂(−p_y)/∂logits‖² = p_y²(1 − 2p_y + Q); the weight row and the bias each
    get the logit gradient (factor 2)."""
    with torch.no_grad():
        prob = torch.softmax((w + b).double(), dim=-1)  # (M, d, k)
        q = (prob ** 2).sum(dim=-1, keepdim=True)
        e2e = (prob ** 2 * (1 - 2 * prob + q)).sum(dim=-1)  # (M, d)
        py = prob.gather(2, best.unsqueeze(2))
        dec = (py ** 2 * (1 - 2 * py + q)).squeeze(2)
        return 2 * torch.stack([e2e.mean(dim=1), dec.mean(dim=1)], dim=1)


class _RowAdam:
    """torch's fused Adam kernel over the stacked (w, b), fed only the batch's rows of w's
    gradient. Adam is elementwise with shared scalars, and the kernel gets one view per model
    (`FusedAdam(per_model=True)`), so every model gets exactly its own update, the same alone or
    in any population. The loss differentiates a detached copy of the batch's rows (`take`);
    `step` scatters their gradient into w's dense gradient (zero elsewhere), steps, and clears
    those rows again."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor, lr: float):
        self.w, self.b = w, b
        self.rows = torch.arange(w.shape[0], device=w.device).unsqueeze(1)  # (M, 1)
        self.w.grad = torch.zeros_like(w)
        self.opt = FusedAdam([w, b], lr=lr, betas=(0.9, 0.99), eps=1e-5, per_model=True)
        self._j: torch.Tensor | None = None
        self._taken: torch.Tensor | None = None

    def take(self, j: torch.Tensor) -> torch.Tensor:
        """Rows j (M, B) of w as a leaf: (M, B, k)."""
        self._j = j
        self._taken = self.w.detach()[self.rows, j].requires_grad_()
        return self._taken

    def zero_grad(self) -> None:
        self.b.grad = None

    def step(self) -> None:
        j = self._j
        self.w.grad.index_put_((self.rows.expand_as(j), j), self._taken.grad, accumulate=True)
        self.opt.step()
        self.w.grad[self.rows, j] = 0.0


class _Group:
    """All (seed, method) linear-softmax models for one k, stacked: w (M, d, k), b (M, 1, k)."""

    def __init__(self, p: PortfolioParams, lab: Lab, k: int):
        self.members = [(s, m) for s in lab.seeds for m in METHODS]
        ws = [init_tensor("trunc_normal", (p.d, k), p.d, k, lab.torch_generator(s, "init", k, m))
              for s, m in self.members]
        self.w = torch.stack(ws).to(lab.device).requires_grad_()
        self.b = torch.zeros(len(self.members), 1, k, device=lab.device, requires_grad=True)
        bests = [best_assets(lab.torch_generator(s, "best", k), p.d, k) for s in lab.seeds]
        self.stream = PortfolioStream([lab.torch_generator(s, "data", k) for s in lab.seeds],
                                      bests, k, p.batch_size, device=lab.device)
        self.best = torch.stack([bests[i // 2] for i in range(len(self.members))]).to(lab.device)
        self.pair_of = torch.arange(len(self.members), device=lab.device) // 2
        self.e2e = (torch.arange(len(self.members), device=lab.device) % 2 == 0).unsqueeze(1)
        self.opt = _RowAdam(self.w, self.b, p.lr)

    def loss(self, batch, _step) -> torch.Tensor:
        """Per-model loss (M,) on a fresh batch (j, y, z) of the stream."""
        j, y, z = (t[self.pair_of] for t in batch)  # (M, B), (M, B), (M, B, k)
        prob = torch.softmax(self.opt.take(j) + self.b, dim=-1)
        realised = (z * prob).sum(dim=-1)  # zᵀp: (M, B)
        best = prob.gather(2, y.unsqueeze(2)).squeeze(2)  # p_y: (M, B)
        return -torch.where(self.e2e, realised, best).mean(dim=1)


def _group_rows(p: PortfolioParams, lab: Lab, k: int) -> list[dict]:
    g = _Group(p, lab, k)
    moments = _second_moments(g.w.detach(), g.b.detach(), g.best).cpu().numpy()  # (M, 2)
    rows = [dict(seed=s, k=k, method=m, step=0, metric="grad_second_moment",
                 value=float(moments[i, METHODS.index(m)])) for i, (s, m) in enumerate(g.members)]
    evaluate = lambda _s: _expected_loss(g.w, g.b, g.best).cpu().numpy()  # noqa: E731
    curve = [(0, evaluate(0))]
    done = train([g.w, g.b], g.loss, g.opt, p.steps, sampler=g.stream, record=evaluate,
                 record_at=range(p.eval_every, p.steps + 1, p.eval_every),
                 iterate=lambda n: lab.steps(n, f"portfolio k={k}"))
    rows += [dict(seed=s, k=k, method=m, step=st, metric="expected_loss", value=float(v[i]))
             for st, v in curve + done.records for i, (s, m) in enumerate(g.members)]
    return rows


def run(p: PortfolioParams, lab: Lab) -> pd.DataFrame:
    rows = [r for k in p.ks for r in _group_rows(p, lab, k)]
    return pd.DataFrame(rows).sort_values(["metric", "k", "method", "step", "seed"],
                                          kind="stable").reset_index(drop=True)


def _per_seed(table: pd.DataFrame, k: int, method: str, metric: str = "expected_loss") -> pd.DataFrame:
    sub = table[(table.k == k) & (table.method == method) & (table.metric == metric)]
    return sub.pivot_table(index="step", columns="seed", values="value")  # (steps, seeds)


def _at_step(curve: pd.DataFrame, step: int) -> np.ndarray:
    """Per seed, the loss at the last evaluation at or before `step`."""
    return curve[curve.index <= step].iloc[-1].to_numpy()


# §3.3's analysis of the gradient at init, measured here: a secondary part beside Fig. 4's
# training curves (the central claim)
MOMENT_PART = "end-to-end gradient's second moment ≈ k × decomposition's at init (§3.3)"


def _k_evidence(table: pd.DataFrame, k: int) -> tuple[list, str]:
    evidence = []
    e2e, dec = _per_seed(table, k, METHODS[0]), _per_seed(table, k, METHODS[1])
    fe, fd = e2e.iloc[-1].to_numpy(), dec.iloc[-1].to_numpy()
    if k <= SMALL_K:
        for name, curve in (("end-to-end", e2e), ("decomposition", dec)):
            evidence.append(stats.below(f"k={k}: {name} expected loss at step {QUICK_STEPS}",
                                        _at_step(curve, QUICK_STEPS), REACHED,
                                        claim=f"quickly: < {REACHED} by step {QUICK_STEPS}",
                                        setting=setting_label(k=k)))
    label = setting_label(k=k)
    if k > SMALL_K:
        # control: the decomposition learns at this k, else end-to-end's plateau says nothing
        evidence.append(as_control(stats.below(f"k={k}: decomposition final expected loss", fd,
                                               REACHED, claim=f"≈ −1: < {REACHED}", setting=label),
                                   CENTRAL, "more steps (the paper's ≈ 2,200 at k = 1000)"))
    if k >= LARGE_K:
        evidence.append(stats.above(f"k={k}: end-to-end final expected loss", fe, PLATEAU,
                                    claim=f"plateau: > {PLATEAU}", setting=label))
        evidence.append(stats.difference(f"k={k}: final expected loss, end-to-end − decomposition",
                                         fe, fd, GAP, claim=f"gap > {GAP:.1f} (paired by seed)",
                                         setting=label))
    mom = table[(table.k == k) & (table.metric == "grad_second_moment")].pivot_table(
        index="seed", columns="method", values="value")
    ratio = (mom[METHODS[0]] / mom[METHODS[1]]).to_numpy()
    evidence.append(replace(stats.below(
        f"k={k}: |second-moment ratio / k − 1|", np.abs(ratio / k - 1), MOMENT_TOLERANCE,
        claim=f"ratio ≈ k (within ±{MOMENT_TOLERANCE:.0%})", setting=label), part=MOMENT_PART))
    text = (f"k={k}: end-to-end {fe.mean():.2f}, decomposition {fd.mean():.2f} "
            f"(second-moment ratio {ratio.mean():.3g})")
    return evidence, text


def judge(table: pd.DataFrame) -> Verdict:
    evidence, parts = [], []
    for k in sorted(table.k.unique()):
        ev, text = _k_evidence(table, k)
        evidence += ev
        parts.append(text)
    steps = int(table[table.metric == "expected_loss"].step.max())
    finding = (f"Exact expected loss after {steps:,} steps (mean over {table.seed.nunique()} seeds): "
               f"{'; '.join(parts)} — paper: k = 10 both −1; k = 1000/2000 decomposition ≈ −1, "
               "end-to-end ≈ −0.29/−0.22; ratio ≈ k.")
    return decide(secondary_or_central(evidence), finding)


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    ks = sorted(table.k.unique())
    fig, panels = new_figure(1, len(ks), width=3.3, height=2.9, squeeze=False,
                             name="loss", axes=axes)
    for ax, k in zip(panels[0], ks):
        for method, color in zip(METHODS, ("tab:red", "tab:blue")):
            curve = _per_seed(table, k, method)
            ax.plot(curve.index, curve.to_numpy(), color=color, lw=0.7, alpha=0.4)
            ax.plot(curve.index, curve.mean(axis=1), color=color, lw=2, label=method)
        ax.set(title=f"k = {k}",
               xlabel="training iterations", ylabel="expected loss −E[zᵀp]", ylim=(-1.05, 0.02))
    panels[0][0].legend(fontsize=8)
    mom = table[table.metric == "grad_second_moment"].pivot_table(index="k", columns="method",
                                                                  values="value")
    fig2, ax2 = new_figure(1, 1, width=4.2, height=3.3, name="gradient-moment", axes=axes)
    for method, color in zip(METHODS, ("tab:red", "tab:blue")):
        ax2.loglog(mom.index, mom[method], "o-", color=color, label=method)
    ax2.loglog(mom.index, mom[METHODS[1]] * mom.index, "k--", lw=1, label="decomposition × k")
    ax2.set(xlabel="number of assets k", ylabel="E‖gradient‖² at init (one sample)",
            title="Gradient second moment")
    ax2.legend(fontsize=8)
    return {"loss": fig, "gradient-moment": fig2}


ATOM = Atom(
    name="end-to-end-portfolio", family="failures",
    title="End-to-end vs decomposition: choosing a portfolio",
    question="Does training on the realised return (end-to-end) learn as fast as training on the best asset?",
    claim=("For k = 10 assets end-to-end (loss −zᵀp) and decomposition (loss −p_y) both reach "
           "expected loss −1 quickly; for k = 1000 and 2000 decomposition reaches ≈ −1 by ~2,200 "
           "steps while end-to-end plateaus (paper ≈ −0.29 and −0.22); the second moment of the "
           "end-to-end gradient at init is ≈ k times that of decomposition."),
    sources=("Shalev-Shwartz, Shamir & Shammah 2017, Failures of Gradient-Based Deep Learning, "
             "§3.2–3.3, Fig. 4 (arXiv 1703.07950)",
             "Failures of gradient-based deep learning, Chinese summary (seed 000)"),
    method=("The authors' code version: inputs are the d = 1000 one-hot vectors e_j (j uniform), "
            "input j has a fixed best asset y_j ~ U{0..k−1}; per sample the returns z ∈ {±1}^k "
            "have z_y = 1 and the rest uniform ±1. A linear layer d → k with bias + softmax gives "
            "the portfolio p; truncated-normal weights (std 1/√d), zero bias. Adam lr 0.1 "
            "(β = (0.9, 0.99), ε = 1e-5), a fresh batch of 100 per step for 2,500 steps. The exact "
            "expected loss −(1/d) Σ_j p_{y_j}(e_j) is evaluated every 50 steps; the second "
            "moments at init are exact expectations over inputs and returns (closed form). All "
            "(seed, method) models of one k are stacked; only the batch's weight rows get a "
            "gradient, and one fused Adam over the stack equals per-model Adam. Judged: k = 10 both "
            "below −0.9 by step 500 (the loss there, not the first step below −0.9, which is the "
            "same evaluation in every seed); k ≥ 1000 decomposition below −0.9, end-to-end above −0.5 and the paired gap "
            "end-to-end − decomposition above 0.4; the second-moment ratio within ±10 % of k. "
            "Default k = 10, 1000 with 5 seeds; preset 'paper' adds k = 2000. "
            "Claim parts and positive control (issue 16): the central part is Fig. 4's training "
            "(k = 10 both fast; end-to-end's plateau and its gap to decomposition at k ≥ 1000); "
            "the second-moment ratio (§3.3's analysis) is a secondary part. The decomposition "
            "reaching −0.9 at every k > 10 is a control guarding the central part (before: a "
            "claim row): the failure claimed is end-to-end's, on a task the decomposition "
            "learns at that budget."
            " Seeds: 5 by default, was 3 (issue 16 §3, a power calculation): over three seed sets of 3 (seeds 0…, 100…, 200…) the k = 1000 final expected loss averaged −.427 with spread .021 against the plateau bound −.5, and one set of the three left it undecided (−.437 [−.505, −.370], a t interval on 2 degrees of freedom); 5 seeds give more than 99 % power at the 95 % level (3 gave 84 %)."),
    Params=PortfolioParams, run=run, judge=judge, figures=figures,
    presets={"quick": dict(d=100, ks=(10, 100), steps=300, batch_size=10),
             "paper": dict(ks=(10, 1000, 2000))},
    runtime_s=80, default_seeds=5, settings=("k",), index_columns=("method",),
)
