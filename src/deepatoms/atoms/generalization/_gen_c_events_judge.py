"""Judge and figures of forgetting-events (from its table alone)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats as sps

from ... import stats
from ...figures import mean_sd_line, new_figure
from ...verdict import decide, setting_label

LARGE_FRACTION = 0.5   # "a large fraction of examples is never forgotten": more than half
STABLE_RHO = 0.3       # "Spearman ≫ 0": at least a moderate rank correlation across seeds
KEEP_MARGIN = 0.01     # "no loss": within one accuracy point of training on everything
KEEP_UP_TO = 0.3       # ... for removed fractions up to the paper's 30 %


def counts_wide(table, dataset, metric="forgetting_count") -> pd.DataFrame:
    sel = table[(table.dataset == dataset) & (table.metric == metric) & (table.ordering == "none")]
    return sel.pivot(index="seed", columns="example", values="value").sort_index()


def unforgettable(table, dataset) -> pd.Series:
    return (counts_wide(table, dataset) == 0).mean(axis=1)


def loo_spearman(wide: pd.DataFrame) -> np.ndarray:
    """Each seed's counts vs the mean rank of the other seeds' counts (inf ranks last)."""
    ranks = wide.rank(axis=1).to_numpy()
    if len(ranks) < 2:
        return np.array([])
    out = []
    for i in range(len(ranks)):
        others = np.delete(ranks, i, axis=0).mean(0)
        out.append(sps.spearmanr(ranks[i], others).statistic)
    return np.array(out)


def _acc(table, ordering, fraction=None) -> pd.Series:
    sel = table[(table.metric == "test_acc") & (table.ordering == ordering) & (table.dataset == "digits")]
    if fraction is not None:
        sel = sel[np.isclose(sel.fraction, fraction)]
    return sel.set_index("seed").value.sort_index()


def _data_rows(table) -> list:
    out = []
    for d in table.dataset.unique():
        wide = counts_wide(table, d)
        if len(wide) >= 2:
            out.append(stats.above(f"{d}: Spearman of counts, seed vs the others", loo_spearman(wide),
                                   STABLE_RHO, setting=setting_label(dataset=d)))
    clean = unforgettable(table, "digits")
    out.insert(0, stats.above("digits: unforgettable fraction", clean, LARGE_FRACTION,
                              setting=setting_label(dataset="digits")))
    if "noisy" in set(table.dataset):
        out.append(stats.difference("unforgettable fraction digits − noisy", clean,
                                    unforgettable(table, "noisy"), setting=setting_label(dataset="noisy")))
        counts, noisy = counts_wide(table, "noisy"), counts_wide(table, "noisy", "noisy_label") > 0
        forgettable = counts > 0
        rate_noisy = (forgettable & noisy).sum(axis=1) / noisy.sum(axis=1)
        rate_clean = (forgettable & ~noisy).sum(axis=1) / (~noisy).sum(axis=1)
        out.append(stats.difference("noisy: forgettable rate, noisy − clean labels", rate_noisy,
                                    rate_clean, setting=setting_label(dataset="noisy")))
    return out


def _removal_rows(table) -> list:
    full = _acc(table, "none")
    fracs = sorted(table[table.ordering == "forgetting"].fraction.unique())
    out = []
    for f in fracs:
        if f <= KEEP_UP_TO + 1e-9:
            out.append(stats.difference(f"remove {f:.0%} least forgotten: test acc − full data",
                                        _acc(table, "forgetting", f), full, -KEEP_MARGIN,
                                        claim=f"within {KEEP_MARGIN:g} of full data",
                                        setting=setting_label(ordering="forgetting", fraction=f)))
    gap = np.mean([(_acc(table, "forgetting", f) - _acc(table, "random", f)).to_numpy()
                   for f in fracs], axis=0)
    out.append(stats.above("test acc, least-forgotten removal − random removal (mean over f)",
                           gap, 0.0, setting=setting_label(ordering="*", fraction="*")))
    return out


def judge(table: pd.DataFrame):
    evidence = _data_rows(table) + _removal_rows(table)
    return decide(evidence, _finding(table))


def _finding(table) -> str:
    parts = [f"unforgettable {d} {unforgettable(table, d).mean():.1%}" for d in table.dataset.unique()]
    rho = loo_spearman(counts_wide(table, "digits"))
    rho_text = f"{rho.mean():.2f}" if rho.size else "n/a (one seed)"
    full = _acc(table, "none").mean()
    fracs = sorted(table[table.ordering == "forgetting"].fraction.unique())
    rem = ", ".join(f"{f:.0%}: {_acc(table, 'forgetting', f).mean():.3f} vs random "
                    f"{_acc(table, 'random', f).mean():.3f}" for f in fracs)
    return (f"{'; '.join(parts)} (paper: MNIST 91.7%, permuted MNIST 75.3%, CIFAR-10 31.3%); "
            f"seed-to-seed Spearman {rho_text}; test accuracy full {full:.3f}, after "
            f"removing least forgotten {rem} (paper: 30% of CIFAR-10 removed at no loss).")


def _histogram(ax, table, d):
    c = counts_wide(table, d).to_numpy().ravel()
    finite = c[np.isfinite(c)].astype(int)
    top = max(int(finite.max(initial=0)), 1)
    bins = np.bincount(finite, minlength=top + 1) / c.size
    ax.bar(np.arange(top + 1), bins, color="C0")
    ax.bar([top + 2], [np.isinf(c).mean()], color="C3", label="never learned")
    ax.set_xticks([*range(0, top + 1, max(1, top // 6)), top + 2],
                  [*map(str, range(0, top + 1, max(1, top // 6))), "∞"])
    ax.set(title=f"{d}: forgetting events per example", xlabel="forgetting events",
           ylabel="fraction of examples", yscale="log")
    ax.legend(fontsize=7)


def figures(table: pd.DataFrame, axes=None):
    ds = list(dict.fromkeys(table.dataset[table.ordering == "none"]))
    fig, panels = new_figure(1, len(ds), width=4.0, height=3.2, squeeze=False,
                             name="forgetting-histogram", axes=axes)
    for ax, d in zip(panels[0], ds):
        _histogram(ax, table, d)
    fig2, ax2 = new_figure(width=4.6, height=3.4, name="removal", axes=axes)
    fracs = sorted(table[table.ordering == "forgetting"].fraction.unique())
    full = _acc(table, "none")
    for o, color in (("forgetting", "C0"), ("random", "C3")):
        g = np.stack([_acc(table, o, f).to_numpy() for f in fracs], axis=1)
        g = np.concatenate([full.to_numpy()[:, None], g], axis=1)
        label = "least forgotten first" if o == "forgetting" else "random"
        mean_sd_line(ax2, np.array([0.0, *fracs]) * 100, g, label=label, color=color)
    ax2.set(xlabel="% of training set removed", ylabel="test accuracy after retraining",
            title="removing examples before training")
    ax2.legend(fontsize=8)
    return {"forgetting-histogram": fig, "removal": fig2}
