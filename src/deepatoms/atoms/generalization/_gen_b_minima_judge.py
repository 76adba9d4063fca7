"""Judge and figures of optimizer-minima (the thresholds of its claim live here)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ... import stats
from ...figures import new_figure
from ...verdict import decide, setting_label

BARRIER_MIN = 0.05   # nats: a barrier that size is a hill between two basins, not rounding
SIMILAR_ERROR = 0.03  # test errors of all optimisers within 3 points: "similar accuracy"
CLOSER_TO_SECOND = 0.5  # norm position (‖θ_switch‖ − ‖θ_a‖)/(‖θ_b‖ − ‖θ_a‖) beyond half way
RERUN = "/rerun"


def _by_seed(table, metric, run=None, other=None) -> pd.Series:
    sel = table[table.metric == metric]
    if run is not None:
        sel = sel[sel.run == run]
    if other is not None:
        sel = sel[sel.other == other]
    return sel.groupby("seed").value.mean().sort_index()


def _run_value(table, metric, run) -> pd.Series:
    return _by_seed(table, metric, run=run)


def optimisers(table) -> list[str]:
    runs = table[table.metric == "test_error"].run.unique()
    return [r for r in runs if ">" not in r and not r.endswith(RERUN)]


def switches(table) -> list[str]:
    return [r for r in table[table.metric == "test_error"].run.unique() if ">" in r]


def norm_position(table, switch) -> pd.Series:
    a, b = switch.split(">")
    na, nb = _run_value(table, "weight_norm", a), _run_value(table, "weight_norm", b)
    return (_run_value(table, "weight_norm", switch) - na) / (nb - na)


def _norm_gaps(table, kind) -> pd.Series:
    """Per seed, the mean |‖θ₁‖ − ‖θ₂‖| over the pairs of one kind (between / rerun)."""
    norms = table[table.metric == "weight_norm"].set_index(["seed", "run"]).value
    pairs = table[table.metric == f"barrier_{kind}"]
    gaps = [(r.seed, abs(norms[r.seed, r.run] - norms[r.seed, r.other])) for r in pairs.itertuples()]
    return pd.DataFrame(gaps, columns=["seed", "gap"]).groupby("seed").gap.mean().sort_index()


def _switch_rows(table, switch, rerun_barrier) -> list:
    a, _ = switch.split(">")
    left = _by_seed(table, "barrier_switch-first", run=switch)
    rerun = _by_seed(table, "barrier_rerun", run=a)
    return [stats.difference(f"{switch}: barrier to {a}'s solution − {a} rerun barrier", left,
                             rerun, claim="> 0 (left the first optimiser's basin)",
                             setting=setting_label(run=switch)),
            stats.above(f"{switch}: position of ‖θ‖ from {a}'s (0) to {switch.split('>')[1]}'s (1)",
                        norm_position(table, switch), CLOSER_TO_SECOND,
                        claim=f"> {CLOSER_TO_SECOND} (closer to the second optimiser's norm)",
                        setting=setting_label(run=switch))]


def judge(table: pd.DataFrame):
    between = _by_seed(table, "barrier_between")
    rerun = _by_seed(table, "barrier_rerun")
    errors = table[(table.metric == "test_error") & table.run.isin(optimisers(table))]
    spread = errors.groupby("seed").value.agg(lambda v: v.max() - v.min()).sort_index()
    everything = setting_label(run="*")
    ev = [stats.above("barrier between optimisers (mean over pairs, nats)", between, BARRIER_MIN,
                      setting=everything),
          stats.difference("barrier between optimisers − barrier between reruns", between, rerun,
                           setting=everything),
          stats.difference("distance between optimisers' solutions − between reruns'",
                           _by_seed(table, "distance_between"), _by_seed(table, "distance_rerun"),
                           claim="> 0 (different end points)", setting=everything),
          stats.difference("|Δ‖θ‖| between optimisers − between reruns (the paper's "
                           "characteristic norm)", _norm_gaps(table, "between"),
                           _norm_gaps(table, "rerun"), setting=everything),
          stats.below("test-error range over optimisers", spread, SIMILAR_ERROR,
                      claim=f"< {SIMILAR_ERROR} (similar accuracy)", setting=everything)]
    for s in switches(table):
        ev += _switch_rows(table, s, rerun)
    return decide(ev, _finding(table, between, rerun, errors))


def _finding(table, between, rerun, errors) -> str:
    err = errors.groupby("run").value.mean()
    dist_b, dist_r = _by_seed(table, "distance_between").mean(), _by_seed(table, "distance_rerun").mean()
    parts = [f"barrier between optimisers {between.mean():.3g} nats vs reruns {rerun.mean():.3g} "
             f"(distance {dist_b:.3g} vs {dist_r:.3g}); test error "
             + ", ".join(f"{r} {100 * v:.1f}%" for r, v in err.items())]
    for s in switches(table):
        parts.append(f"{s}: norm position {norm_position(table, s).mean():.2f}")
    return ("; ".join(parts) + " (Im, Tao & Branson 2016: different optimisers reach different "
            "minima; a late switch ends at a point characteristic of the second).")


def _mean_matrix(table, opts) -> np.ndarray:
    bars = table[table.metric == "barrier_between"].groupby(["run", "other"]).value.mean()
    mat = np.full((len(opts), len(opts)), np.nan)
    for i, a in enumerate(opts):
        for j, b in enumerate(opts):
            if (a, b) in bars.index:
                mat[i, j] = mat[j, i] = bars[a, b]
    reruns = table[table.metric == "barrier_rerun"].groupby("run").value.mean()
    for i, a in enumerate(opts):
        mat[i, i] = reruns.get(a, np.nan)
    return mat


def _paths_figure(table, axes):
    fig, ax = new_figure(width=4.6, height=3.4, name="interpolation-paths", axes=axes)
    curve = table[table.metric == "path_loss"]
    kinds = table[table.metric.str.startswith("barrier_")][["run", "other", "metric"]]
    kind_of = {(r.run, r.other): r.metric.removeprefix("barrier_") for r in kinds.itertuples()}
    for (a, b), g in curve.groupby(["run", "other"], sort=False):
        kind = kind_of.get((a, b), "")
        if kind in ("between", "rerun") or kind == "switch-first":
            m = g.groupby("alpha").value.mean()
            style = dict(between=("C0", "-"), rerun=("C2", ":"), **{"switch-first": ("C3", "--")})[kind]
            ax.plot(m.index, m.values, color=style[0], ls=style[1], lw=1, alpha=0.8)
    for label, (c, ls) in (("optimiser pairs", ("C0", "-")), ("reruns", ("C2", ":")),
                           ("switch vs first", ("C3", "--"))):
        ax.plot([], [], color=c, ls=ls, label=label)
    ax.set(xlabel="α (θ = (1 − α)θ₁ + αθ₂)", ylabel="training loss", yscale="log",
           title="loss on straight paths between solutions")
    ax.legend(fontsize=8)
    return fig


def figures(table: pd.DataFrame, axes=None):
    opts = optimisers(table)
    fig1, ax1 = new_figure(width=4.4, height=3.6, name="barrier-matrix", axes=axes)
    im = ax1.imshow(_mean_matrix(table, opts), cmap="viridis")
    ax1.set_xticks(range(len(opts)), opts, rotation=45)
    ax1.set_yticks(range(len(opts)), opts)
    ax1.set_title("mean barrier (nats); diagonal: reruns", fontsize=9)
    fig1.colorbar(im, ax=ax1)
    fig3, ax3 = new_figure(width=4.6, height=3.4, name="weight-norm", axes=axes)
    curve = table[table.metric == "norm_curve"]
    runs = [r for r in curve.run.unique() if not r.endswith(RERUN)]
    for k, r in enumerate(runs):
        m = curve[curve.run == r].groupby("alpha").value.mean()
        ax3.plot(m.index, m.values, label=r, ls="--" if ">" in r else "-", color=f"C{k % 10}")
    ax3.set(xlabel="step", ylabel="‖θ‖", title="weight norm during training (mean over seeds)")
    ax3.legend(fontsize=7)
    fig4, ax4 = new_figure(width=4.4, height=3.2, name="test-error", axes=axes)
    err = table[(table.metric == "test_error") & ~table.run.str.endswith(RERUN)]
    order = list(err.run.unique())
    for k, r in enumerate(order):
        v = err[err.run == r].value.to_numpy()
        ax4.scatter(np.full(v.size, k), 100 * v, s=12, color="C0")
    ax4.set_xticks(range(len(order)), order, rotation=45, fontsize=8)
    ax4.set(ylabel="test error (%)", title="test error per run")
    return {"barrier-matrix": fig1, "interpolation-paths": _paths_figure(table, axes),
            "weight-norm": fig3, "test-error": fig4}
