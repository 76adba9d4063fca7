"""Tensor calculus vs autodiff for Hessians (Laue, Mitterreiter & Giesen 2018, "Computing higher
order derivatives of matrix and tensor expressions"; seed 004, "TensorFlow is a matrix, not a
tensor library").

Claim: a Hessian derived symbolically in tensor (Einstein) notation and compiled to einsum is
exact — it matches reverse-mode autodiff to float rounding — and is one to two orders of
magnitude faster than reverse mode row by row at large n (paper: up to ~100× on CPU, ~1000× on
GPU). Functions: xᵀAx, logistic regression, matrix factorisation ‖T − UVᵀ‖². Budget: ~25 s default
(3 seeds × 3 timed rounds, n ≤ 1000), ~2 s quick. Timings are CPU seconds: `timing_metrics` rows
differ run to run, so the judge replicates over rounds, not seeds (_tensor_calculus_hessians_judge).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import torch

from ...atom import Atom
from ...figures import new_figure
from ...lab import Lab, resolve_device
from ...params import Params, param
from . import _tensor_calculus_hessians_methods as hs
from ._tensor_calculus_hessians_judge import EXACT, LOAD, judge, speedups
from ._timing import timed

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TIMES = tuple(f"seconds_{m}" for m in hs.METHODS)


@dataclass(frozen=True)
class HessianParams(Params):
    sizes: tuple[int, ...] = param((30, 100, 300, 1000), "problem sizes n (variables: n for "
                                   "xᵀAx and logistic regression, n·rank for factorisation)",
                                   ge=2, le=20_000, min_len=2, distinct=True)
    functions: tuple[str, ...] = param(hs.FUNCTIONS, "functions whose Hessian is computed",
                                       choices=hs.FUNCTIONS, min_len=1, distinct=True)
    rank: int = param(3, "factorisation rank r (U is n × r)", ge=1, le=64)
    cols: int = param(8, "columns c of T in the factorisation", ge=1, le=1024)
    rounds: int = param(3, "timed rounds per seed (each times every method at every n, the "
                        "methods' order alternating); the judge's replicates are rounds",
                        ge=1, le=50)
    repeats: int = param(3, "calls per method within a round (the best is kept)", ge=1, le=50)
    budget_s: float = param(0.2, "stop repeating a method once this many seconds are spent", gt=0)


def _measure(p: HessianParams, lab: Lab, seed: int, function: str, n: int, order: int = 0
             ) -> dict[str, float]:
    """One round's block: every method timed once (best of `repeats`), in the given order
    (0: row by row first; 1: reversed), with the Hessians' agreement and the load average."""
    var, env = hs.problem(function, n, lab.torch_generator(seed, "data", function, n), p.rank, p.cols)
    env = {k: v.to(lab.device) for k, v in env.items()}
    values, hessians = {LOAD: os.getloadavg()[0]}, {}
    for method in hs.METHODS[::-1] if order % 2 else hs.METHODS:
        values[f"seconds_{method}"], hessians[method] = timed(
            lambda: hs.compute(method, function, var, env), lab.device, p.repeats, p.budget_s)
    ref = hessians["rowwise"].double()
    scale = float(ref.abs().max())
    values["hessian_frobenius"] = float(ref.norm())
    for m in ("symbolic", "functorch"):
        values[f"rel_diff_{m}"] = float((hessians[m].double() - ref).abs().max()) / scale
    return values


def run(p: HessianParams, lab: Lab) -> pd.DataFrame:
    """Rounds outermost: round r times every seed's problems before round r + 1 starts; the
    methods' order alternates between rounds and between neighbouring seeds."""
    hs.warm_up(lab.device)
    rows = []
    for r in lab.steps(p.rounds, "hessian timing rounds"):
        for i, seed in enumerate(lab.seeds):
            for function in p.functions:
                for n in p.sizes:
                    values = _measure(p, lab, seed, function, n, order=r + i)
                    rows += [dict(seed=seed, function=function, n=n, round=r, metric=k, value=v)
                             for k, v in values.items()]
    return pd.DataFrame(rows)[["seed", "function", "n", "round", "metric", "value"]]


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    functions = list(table.function.unique())
    fig, panels = new_figure(1, len(functions), width=3.4, height=3.0, squeeze=False,
                             name="time-vs-n", axes=axes)
    for ax, f in zip(panels[0], functions):
        sel = table[table.function == f]
        for method, marker in zip(hs.METHODS, "osd"):
            g = sel[sel.metric == f"seconds_{method}"].groupby("n").value
            ax.loglog(g.median().index, g.median(), marker=marker, label=method)
        ax.set(title=f, xlabel="n", ylabel="seconds per Hessian (median over rounds)")
        ax.legend(fontsize=8)
    fig2, ax2 = new_figure(width=4.2, height=3.0, name="speed-up", axes=axes)
    for f in functions:
        ratio = speedups(table, f)
        line, = ax2.loglog(ratio.columns, ratio.median(), marker="o", label=f)
        ax2.fill_between(ratio.columns, ratio.min(), ratio.max(), color=line.get_color(), alpha=.2)
    ax2.axhline(1, color="k", ls=":", lw=1)
    ax2.set(xlabel="n", ylabel="row-by-row time / symbolic time", title="speed-up of the einsum Hessian")
    ax2.legend(fontsize=8)
    return {"time-vs-n": fig, "speed-up": fig2}


def speedup_at_largest_n(device: str = "cpu", seed: int = 0, preset: str = "default"
                         ) -> dict[str, float]:
    """For `deepatoms bench`: {function: row-by-row seconds / symbolic seconds} at the preset's
    largest n, one seed (the atom's own measurement, without the store)."""
    p = ATOM.params(preset)
    lab = Lab((seed,), device=resolve_device(device), stream=ATOM.stream)
    hs.warm_up(lab.device)
    top = max(p.sizes)
    out = {}
    for f in p.functions:
        values = _measure(p, lab, seed, f, top)
        out[f] = values["seconds_rowwise"] / values["seconds_symbolic"]
    return out


ATOM = Atom(
    name="tensor-calculus-hessians",
    family="architecture",
    title="Symbolic tensor calculus beats row-by-row autodiff for Hessians",
    question="Is a Hessian derived in tensor notation and compiled to einsum exact, and how much "
             "faster is it than reverse-mode autodiff one row at a time?",
    claim="The einsum Hessian equals the autodiff Hessian to float rounding (relative max "
          f"difference < {EXACT:g}) and is faster than row-by-row reverse mode at the largest n "
          "in every timed round; for xᵀAx, whose einsum has a lower order of cost, the speed-up "
          "grows with n (paper: up to ~100× CPU, ~1000× GPU).",
    sources=("Laue, Mitterreiter & Giesen (2018), Computing Higher Order Derivatives of Matrix "
             "and Tensor Expressions, NeurIPS", "seed 004: TensorFlow is a matrix, not a tensor library"),
    method="Per seed and n, float32: xᵀAx (A ~ N(0,1), n×n); logistic loss Σ log(1+exp(−y_k x_kᵀw)) "
           "with 2n points X ~ N(0, 1/n), y = ±1, w ~ N(0, 1/n); ‖T − UVᵀ‖²_F in U (n × 3), V (8 × 3), "
           "T (n × 8). Hessians by (a) reverse mode row by row (gradient with a graph, then one "
           "backward pass per entry), (b) torch.func.hessian (forward over reverse, vmapped), "
           "(c) our own Einstein-notation differentiator (product rule, chain rule through "
           "elementwise functions with SymPy's derivative, deltas contracted by index renaming), "
           "compiled to torch.einsum: A_ij + A_ji; σ''-weighted y_k X_kp y_k X_kq; 2 δ_ik V_bl V_bj. "
           "Time: CPU time of the calling thread with torch on one thread (wall-clock on CUDA), best "
           "of up to 3 calls (stop after 0.2 s), after an untimed warm-up. Timing in rounds "
           "(changed, issue 16): each round times every method once at every n for every seed, "
           "the methods' order alternating between rounds and seeds, and the judge replicates "
           "over rounds (3 seeds × 3 rounds = 9 by default), not over data seeds: the seed does "
           "not move a timing, and earlier runs on one machine gave logistic 7.5–31× and "
           "factorisation 10–35× across runs, each with a tight interval over seeds. A round's "
           "ratio (row-by-row time / einsum time) is free of what the machine did during that "
           "round. Judged: (1) exact — the einsum Hessian within a relative 1e-5 of row by row "
           "(max |H − H_rowwise| / max |H_rowwise|) in every seed; (2) faster — the per-round "
           "speed-up at the largest n above 1 by the exact sign test over rounds; the factor is "
           "reported as the median with its order-statistic interval, no longer gated at 10× "
           "(for logistic regression and the factorisation the einsum has the same order of "
           "cost as the n backward passes, so their factor is a machine constant — memory "
           "bandwidth against per-call overhead); (3) for xᵀAx, whose einsum costs O(n²) "
           "against n backward passes, the speed-up grows with n: the per-round slope of "
           "log speed-up on log n over n ≥ 300 is positive (sign test over rounds; a machine "
           "factor constant over n cancels). Below n ≈ 300 the einsum's time is its per-call "
           "overhead (≈ 30 µs at n = 30 and 100 alike), so the speed-up there is a ratio of "
           "Python overheads: a first version took the slope over every n and came out "
           "inconclusive in 1 of 5 consecutive runs (one round's slope −0.007); over n ≥ 300 too, "
           "1 of 5 (one round −0.24): with 6 rounds the sign test needs every round. Hence 9 "
           "rounds by default (3 per seed): one round against the others still decides "
           "(8 of 9: p = .020); yet 5 consecutive runs at 9 rounds (load 3–4) gave the slope's "
           "sign in 7 and 6 of 9 rounds in 2 of them (median slopes .18–.20: the speed-up "
           "grows only ≈ 1.25× from n = 300 to 1000 here). The catalog's claim is 'exact and "
           "faster at large n', so (3) is a secondary part, 'the xᵀAx speed-up grows with n', "
           "with its own status; (1) and (2) held in every round of every run. Secondary part: "
           "faster than torch.func.hessian (sign test over rounds). Controls: torch.func.hessian agrees with row by row to 1e-5 (the reference "
           "is right and the timed methods compute the same Hessian), and ≥ 6 rounds (fewer "
           "cannot reach a one-sided 2.5% sign test even when unanimous). The 1-minute load "
           "average is stored with every timed block (and the CPU model and load with the run's "
           "environment record).",
    Params=HessianParams,
    run=run,
    judge=judge,
    figures=figures,
    presets={"quick": {"sizes": (10, 30, 100), "repeats": 2, "rounds": 1},
             "paper": {"sizes": (30, 100, 300, 1000, 3000)}},
    runtime_s=38.0,
    default_seeds=3,
    settings=("function", "n"),
    index_columns=("round",),
    timing_metrics=(*TIMES, LOAD),
)
