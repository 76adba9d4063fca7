"""PWL curves: conditioning and architecture (failures §4.1.1–4.1.3, Fig. 6 a–c; seed 000).

Claim: recovering the kinks p of a piecewise-linear curve f = p W (n = 100, W_ij = [j − i + 1]₊)
is badly conditioned: κ(WᵀW) grows like n^3.5 or faster (1.35e8 at n = 100, ≈ n⁴). A fully
connected linear map learns it slowly (relative p-error still large at the end); a 3-tap
convolution (the inverse is the filter [1, −2, 1]) converges only after tens of thousands of
steps (its 3×3 input covariance has κ = Θ(n³)); the same convolution on whitened inputs is exact
to ~1e-3 within 500 steps — orders of magnitude faster than either alone.
Budget: ~20 s default (5 seeds, FC 10,000 steps), ~60 s at paper scale, ~2 s quick.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ... import stats
from ...atom import Atom
from ...data.pwl_curves import MIN_N, kink_matrix, patch_covariance, sparse_kink_curves
from ...figures import new_figure
from ...lab import Lab
from ...params import Params, param
from ...verdict import Evidence, Verdict, decide, setting_label
from .._controls import as_control
from ._pwl_inverse import VARIANTS, Fit, fit_inverse, steps_to_reach

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FC_SLOPE_MIN = 3.5          # claim: κ(WᵀW) grows like n^3.5 or faster
CONV_SLOPE_RANGE = (2.5, 3.5)  # claim: κ of the 3×3 patch covariance is Θ(n³)
TARGET_REL_ERROR = 0.01     # "converged": relative p-error on validation curves ≤ 1 %
SPEEDUP_MIN_LOG10 = 2.0     # "orders of magnitude faster": at least 100× fewer steps
FILTER_EXACT = 3e-3         # "filter exact to ~1e-3" after the whitened run; Adam at lr 0.99
# has occasional spikes (the filter jumps away and returns), so exactness at the last step is a
# per-seed event: the claim holds if it does in a strict majority of seeds
FC_LARGE_ERROR = 0.1        # "relative p-error still large at the end" of the FC run
SNAPSHOT_FRACTIONS = (0.01, 0.2, 1.0)  # 500, 10,000, 50,000 of a 50,000-step run (Fig. 6)
MAX_COND_N = 2000           # exact SVD of an n×n matrix per n: keep it cheap
N_SHOW = 2                  # validation curves shown decoded (Fig. 6 shows two)
COLORS = {"fc": "tab:blue", "conv": "tab:orange", "conv-whitened": "tab:green"}


@dataclass(frozen=True)
class PWLCondParams(Params):
    n: int = param(100, "curve length (grid points 0..n−1)", ge=MIN_N, le=1000)
    n_train: int = param(10_000, "training curves (fixed set, minibatches drawn with replacement)", ge=10)
    n_val: int = param(1_000, "validation curves", ge=2)
    fc_steps: int = param(10_000, "Adam steps of the fully connected map (paper 50,000)", ge=1)
    fc_lr: float = param(1e-4, "Adam learning rate, fully connected", gt=0)
    conv_steps: int = param(50_000, "Adam steps of the plain 3-tap convolution", ge=1)
    conv_lr: float = param(0.05, "Adam learning rate, plain convolution", gt=0)
    whitened_steps: int = param(500, "Adam steps of the whitened convolution", ge=1)
    whitened_lr: float = param(0.99, "Adam learning rate, whitened convolution", gt=0)
    batch_size: int = param(100, "minibatch size (FC and plain convolution)", ge=1)
    whitened_batch: int = param(10, "minibatch size (whitened convolution)", ge=1)
    cond_ns: tuple[int, ...] = param((25, 50, 100, 200, 400), "curve lengths for the condition numbers",
                                     ge=MIN_N, le=MAX_COND_N, min_len=2)
    cond_curves: int = param(2_000, "curves per n for the empirical patch covariance", ge=10)
    eval_points: int = param(50, "log-spaced evaluation steps per run", ge=2)

    def check(self) -> None:
        from ...errors import ParamError
        for name in ("batch_size", "whitened_batch"):
            if getattr(self, name) > self.n_train:
                raise ParamError(f"parameter '{name}' ({getattr(self, name)}) must not exceed "
                                 f"n_train ({self.n_train})")


def _datasets(p: PWLCondParams, lab: Lab) -> dict[str, np.ndarray]:
    """Per-seed training and validation curves, stacked: (S, N, n) float32."""
    train = [sparse_kink_curves(lab.numpy_rng(s, "train"), p.n_train, p.n) for s in lab.seeds]
    val = [sparse_kink_curves(lab.numpy_rng(s, "val"), p.n_val, p.n) for s in lab.seeds]
    return dict(f_train=np.stack([f for f, _ in train]), p_train=np.stack([q for _, q in train]),
                f_val=np.stack([f for f, _ in val]), p_val=np.stack([q for _, q in val]))


def condition_rows(p: PWLCondParams, lab: Lab) -> list[dict]:
    """κ(WᵀW) (exact, the FC problem's Hessian up to the kink covariance) and κ of the conv
    problem's 3×3 patch covariance (empirical, per seed) for each n in cond_ns."""
    rows = []
    for n in p.cond_ns:
        sv = np.linalg.svd(kink_matrix(n), compute_uv=False)
        kappa_fc = float((sv[0] / sv[-1]) ** 2)
        for s in lab.seeds:
            f, _ = sparse_kink_curves(lab.numpy_rng(s, "cond", n), p.cond_curves, n)
            kappa_conv = float(np.linalg.cond(patch_covariance(f)))
            rows.append(dict(seed=s, metric="condition_fc", n=n, value=kappa_fc))
            rows.append(dict(seed=s, metric="condition_conv", n=n, value=kappa_conv))
    return rows


def _settings(p: PWLCondParams) -> dict[str, tuple[int, float, int]]:
    return {"fc": (p.fc_steps, p.fc_lr, p.batch_size), "conv": (p.conv_steps, p.conv_lr, p.batch_size),
            "conv-whitened": (p.whitened_steps, p.whitened_lr, p.whitened_batch)}


def snapshot_steps(steps: int) -> tuple[int, ...]:
    return tuple(sorted({max(1, int(round(f * steps))) for f in SNAPSHOT_FRACTIONS}))


def run(p: PWLCondParams, lab: Lab) -> pd.DataFrame:
    data = _datasets(p, lab)
    rows = condition_rows(p, lab)
    w = kink_matrix(p.n)
    for variant, (steps, lr, batch) in _settings(p).items():
        gens = [lab.torch_generator(s, "batches", variant) for s in lab.seeds]
        fit = fit_inverse(variant, data, steps=steps, lr=lr, batch=batch, gens=gens,
                          eval_points=p.eval_points, snapshot_steps=snapshot_steps(steps),
                          n_show=N_SHOW, device=lab.device,
                          steps_iter=lambda n, v=variant: lab.steps(n, f"pwl-conditioning {v}"))
        rows += fit_rows(variant, fit, lab.seeds, data["f_val"], w)
    return pd.DataFrame(rows)


def fit_rows(variant: str, fit: Fit, seeds: tuple[int, ...], f_val: np.ndarray,
             w: np.ndarray) -> list[dict]:
    """Curves (rel. p-error, filter error), final taps, and decoded snapshots f̂ = p̂ W."""
    rows = []
    for i, s in enumerate(seeds):
        base = dict(seed=s, variant=variant)
        for step, err, ferr in zip(fit.eval_steps, fit.rel_p_error, fit.filter_error):
            rows.append(dict(base, step=step, metric="rel_p_error", value=float(err[i])))
            rows.append(dict(base, step=step, metric="filter_error", value=float(ferr[i])))
        rows += [dict(base, step=fit.eval_steps[-1], x=t, metric="filter_tap", value=float(v))
                 for t, v in enumerate(fit.filters[i])]
        for step, p_hat in fit.snapshots.items():
            f_hat = p_hat[i].astype(np.float64) @ w  # (n_show, n)
            for c, curve in enumerate(f_hat):
                rows += [dict(base, step=step, curve=c, x=x, metric="decoded", value=float(v))
                         for x, v in enumerate(curve)]
        for c, curve in enumerate(f_val[i, :N_SHOW]):
            rows += [dict(base, step=0, curve=c, x=x, metric="curve", value=float(v))
                     for x, v in enumerate(curve)]
    return rows


def _slopes(table: pd.DataFrame, metric: str) -> np.ndarray:
    """Per seed, the least-squares slope of log κ against log n."""
    sub = table[table.metric == metric]
    return np.array([np.polyfit(np.log(g.n.astype(float)), np.log(g.value), 1)[0]
                     for _, g in sub.groupby("seed")])


def _final(table: pd.DataFrame, variant: str, metric: str) -> pd.Series:
    sub = table[(table.metric == metric) & (table.variant == variant)]
    return sub[sub.step == sub.step.max()].set_index("seed").value.sort_index()


def _reach(table: pd.DataFrame, variant: str) -> np.ndarray:
    """Steps to reach TARGET_REL_ERROR per seed (inf: not within the run)."""
    sub = table[(table.metric == "rel_p_error") & (table.variant == variant)]
    piv = sub.pivot_table(index="step", columns="seed", values="value").sort_index()
    return steps_to_reach(list(piv.index), piv.to_numpy(), TARGET_REL_ERROR)


def _exact_row(metric: str, values: np.ndarray, minimum: float, claim: str, setting: str) -> Evidence:
    """A deterministic quantity (κ(WᵀW) by SVD: the same in every seed, no randomness): the value
    itself decides; there is no seed noise to put an interval on."""
    value = float(values[0])
    if not np.allclose(values, value):
        return stats.above(metric, values, minimum, claim=claim, setting=setting)
    return Evidence(metric, value, value, value, len(values), "exact computation (no randomness)",
                    claim, value >= minimum, setting=setting,
                    note="deterministic: identical in every seed by construction")


def judge(table: pd.DataFrame) -> Verdict:
    fc_slope, conv_slope = _slopes(table, "condition_fc"), _slopes(table, "condition_conv")
    reach_w, reach_c = _reach(table, "conv-whitened"), _reach(table, "conv")
    conv_len = float(table[(table.variant == "conv") & (table.metric == "rel_p_error")].step.max())
    # censored: a conv run that never reaches the target counts as reaching it at its last step,
    # so its speed-up is a lower bound (and a whitened run that never does counts as no speed-up)
    speedup = np.where(np.isfinite(reach_w), np.log10(np.minimum(reach_c, conv_len) / reach_w), 0.0)
    slow = ~np.isfinite(reach_c) & np.isfinite(reach_w)
    every_n = setting_label(n="*")
    w_err = _final(table, "conv-whitened", "filter_error")
    fc_err = _final(table, "fc", "rel_p_error")
    kappa100 = table[(table.metric == "condition_fc") & (table.n == 100)].value
    ev = [_exact_row("log-log slope of κ(WᵀW) vs n (FC problem)", fc_slope, FC_SLOPE_MIN,
                     f"≥ {FC_SLOPE_MIN} (n^3.5 or faster)", every_n),
          stats.above("conv problem: log-log slope of κ(patch covariance) vs n, lower side",
                      conv_slope, CONV_SLOPE_RANGE[0], claim=f"> {CONV_SLOPE_RANGE[0]} (Θ(n³))",
                      setting=every_n),
          stats.below("conv problem: log-log slope of κ(patch covariance) vs n, upper side", conv_slope,
                      CONV_SLOPE_RANGE[1], claim=f"< {CONV_SLOPE_RANGE[1]} (Θ(n³))", setting=every_n),
          stats.above(f"log10 steps-to-{TARGET_REL_ERROR:g}-error: conv / whitened conv", speedup,
                      SPEEDUP_MIN_LOG10, claim="≥ 2 (orders of magnitude faster)",
                      censored=slow if slow.any() else None),
          # control: the conditioned convolution converges, else no speed-up can show
          as_control(stats.count_at_least(
              f"seeds whose whitened filter ends within {FILTER_EXACT:g} of [1,−2,1]",
              w_err.to_numpy() < FILTER_EXACT, len(w_err) // 2 + 1,
              claim=f">= {len(w_err) // 2 + 1} of {len(w_err)} seeds (exact to ~1e-3)")),
          stats.above("FC: relative p-error at the end", fc_err.to_numpy(), FC_LARGE_ERROR,
                      claim=f"> {FC_LARGE_ERROR:g} (still large)")]
    k100 = f"κ(WᵀW) at n = 100 is {kappa100.iloc[0]:.3g} (paper 1.35e8); " if len(kappa100) else ""
    finding = (f"{k100}κ slopes: FC {np.mean(fc_slope):.2f}, conv {np.mean(conv_slope):.2f} "
               f"(paper ≥ 3.5 and 3); the whitened conv reaches {TARGET_REL_ERROR:.0%} p-error in a "
               f"median {np.median(reach_w):.0f} steps (filter error {np.median(w_err):.1e}) vs "
               f"{_fmt_steps(reach_c, conv_len)} for the plain conv; the FC map still has "
               f"{np.median(fc_err):.0%} relative p-error after {_last(table, 'fc')} steps.")
    return decide(ev, finding)


def _last(table: pd.DataFrame, variant: str) -> int:
    return int(table[(table.variant == variant) & (table.metric == "rel_p_error")].step.max())


def _fmt_steps(reach: np.ndarray, run_len: float) -> str:
    """Median steps to the target; runs that never reach it count as longer than the run."""
    never = int(np.sum(~np.isfinite(reach)))
    text = f"a median {'>' if np.median(reach) > run_len else ''}{min(np.median(reach), run_len):.0f} steps"
    return text + (f" ({never} of {reach.size} seeds not within {run_len:.0f})" if never else "")


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    return {"decoded-curves": _fig_decoded(table, axes=axes),
            "convergence": _fig_convergence(table, axes=axes),
            "condition-number": _fig_condition(table, axes=axes)}


def _fig_decoded(table: pd.DataFrame, axes=None):
    seed = table.seed.min()
    fig, axes = new_figure(len(VARIANTS), len(SNAPSHOT_FRACTIONS), width=3.0, height=2.2,
                           squeeze=False, name="decoded-curves", axes=axes)
    for r, variant in enumerate(VARIANTS):
        sub = table[(table.seed == seed) & (table.variant == variant)]
        truth, dec = sub[sub.metric == "curve"], sub[sub.metric == "decoded"]
        first = truth.curve.min()
        for c, step in enumerate(sorted(dec.step.unique())[:len(SNAPSHOT_FRACTIONS)]):
            ax = axes[r][c]
            for curve, g in truth.groupby("curve"):
                ax.plot(g.x, g.value, color="tab:blue", lw=3.5, alpha=0.8,
                        label="validation curve" if curve == first else "_")
                d = dec[(dec.step == step) & (dec.curve == curve)]
                ax.plot(d.x, d.value, color="tab:red", lw=1.3,
                        label="decoded" if curve == first else "_")
            ax.set_title(f"{variant}, step {int(step)}", fontsize=9)
    axes[0][0].legend(fontsize=7)
    return fig


def _fig_convergence(table: pd.DataFrame, axes=None):
    fig, axes = new_figure(1, 2, width=4.2, name="convergence", axes=axes)
    for ax, metric, label in ((axes[0], "rel_p_error", "relative p-error (validation)"),
                              (axes[1], "filter_error", "max |filter − [1, −2, 1]|")):
        for variant in VARIANTS if metric == "rel_p_error" else VARIANTS[1:]:
            sub = table[(table.metric == metric) & (table.variant == variant) & (table.step > 0)]
            piv = sub.pivot_table(index="step", columns="seed", values="value")
            ax.loglog(piv.index, piv.median(axis=1), label=variant, lw=2, color=COLORS[variant])
            ax.loglog(piv.index, piv.to_numpy(), color=COLORS[variant], lw=0.5, alpha=0.4)
        if metric == "rel_p_error":
            ax.axhline(TARGET_REL_ERROR, color="k", ls=":", lw=1)
        ax.set(xlabel="step", ylabel=label)
        ax.legend(fontsize=8)
    return fig


def _fig_condition(table: pd.DataFrame, axes=None):
    fig, ax = new_figure(1, 1, width=4.5, name="condition-number", axes=axes)
    for metric, label in (("condition_fc", "FC: κ(WᵀW)"), ("condition_conv", "conv: κ(3×3 covariance)")):
        med = table[table.metric == metric].groupby("n").value.median()
        ax.loglog(med.index, med.values, "o-", label=label)
        ns = np.asarray(med.index, dtype=float)
        power = 4.0 if metric == "condition_fc" else 3.0
        ax.loglog(ns, med.values[-1] * (ns / ns[-1]) ** power, ":", color="gray", lw=1)
    ax.set(xlabel="n (curve length)", ylabel="condition number",
           title="dotted: slopes n⁴ and n³")
    ax.set_xticks(ns, [str(int(v)) for v in ns])
    ax.minorticks_off()
    ax.legend(fontsize=8)
    return fig


ATOM = Atom(
    name="pwl-conditioning", family="failures",
    title="Piecewise-linear curves: conditioning decides the speed",
    question=("Why does learning the kinks of a piecewise-linear curve take a fully connected net "
              "forever, and what do a convolution and whitened inputs buy?"),
    claim=("κ(WᵀW) of the fully connected problem grows like n^3.5 or faster (1.35e8 at n = 100); "
           "the 3-tap convolution's input covariance has κ = Θ(n³); the FC map and the plain "
           "convolution converge slowly (tens of thousands of steps), while the convolution on "
           "whitened inputs is exact to ~1e-3 within 500 steps — orders of magnitude faster."),
    sources=("Shalev-Shwartz, Shamir & Shammah 2017, Failures of Gradient-Based Deep Learning, "
             "§4.1.1–4.1.3, Fig. 6 a–c (seed 000)", "code: shakedshammah/failures_of_DL, PWL_fail1.py"),
    method=("Curves f = p W on x = 0..n−1 with W_ij = [j − i + 1]₊ and p sparse: 3 kinks at "
            "3 + distinct draws from 0..n−7, slopes one of [1,−1,1], [1,−2,1], [−2,1,−1], [1,−1,2] "
            "(the code's data); 10,000 training and 1,000 validation curves per seed. Three "
            "zero-initialised linear inverses trained with Adam (TF defaults β = (0.9, 0.999), "
            "ε = 1e-8, as in this part of the code) on minibatches drawn with replacement: (a) FC "
            "100 → 100, lr 1e-4, batch 100, loss batch-mean of Σ_x (p̂ − p)²; (b) 3-tap "
            "convolution, lr 0.05, batch 100, mean squared error over all points; (c) the same on "
            "patches whitened by C^{−1/2} (C the 3×3 training patch covariance), lr 0.99, batch "
            "10, 500 steps. Seeds train together as one population; the convolutions use exact "
            "minibatch gradients from per-curve sufficient statistics (float64). Condition "
            "numbers: κ(WᵀW) by SVD and κ of the empirical patch covariance for n in cond_ns, "
            "slopes fitted on log–log axes. 'Converged' = relative validation p-error ≤ 1 %; the "
            "speed-up is censored at the plain convolution's run length. Default: FC 10,000 "
            "steps (paper 50,000); the `paper` preset restores it. Positive control (issue 16), "
            "guarding the claim: the whitened convolution's filter ends within 3e-3 of "
            "[1, −2, 1] in a majority of seeds (before: a claim row): the conditioned variant "
            "works, so the slow variants' errors and the speed-up are measured against a "
            "solved problem."),
    Params=PWLCondParams, run=run, judge=judge, figures=figures,
    presets={"quick": dict(n_train=500, n_val=100, fc_steps=200, conv_steps=2_000,
                           whitened_steps=200, cond_ns=(25, 50, 100), cond_curves=200,
                           eval_points=15),
             "paper": dict(fc_steps=50_000)},
    runtime_s=25, settings=("n",), index_columns=("variant", "x", "curve"),
    figure_metrics=("curve", "decoded", "filter_tap"),
)
