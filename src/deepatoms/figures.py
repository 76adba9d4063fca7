"""Figure helpers: matplotlib Figures built without pyplot (no global state, nothing shown)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
from matplotlib.figure import Figure  # noqa: E402


def new_figure(nrows: int = 1, ncols: int = 1, width: float = 4.0, height: float = 3.2,
               **kwargs) -> tuple[Figure, object]:
    """A Figure with an (nrows, ncols) grid of axes (squeezed like plt.subplots)."""
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, **kwargs)
    return fig, axes


def save(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def mean_sd_line(ax, x, values, label: str | None = None, **kwargs):
    """Mean ± sd over seeds; values (n_seeds, len(x))."""
    import numpy as np
    v = np.asarray(values, dtype=float)
    mean, sd = np.nanmean(v, axis=0), np.nanstd(v, axis=0)
    line, = ax.plot(x, mean, marker="o", ms=3, label=label, **kwargs)
    ax.fill_between(x, mean - sd, mean + sd, alpha=0.2, color=line.get_color())
    return ax


def curves_by_group(ax, curve, column: str, groups=None):
    """One mean ± sd line over seeds per value of `column`; curve: tidy rows with seed, step,
    value. `groups` fixes the order (default: order of appearance)."""
    import pandas as pd
    for group in (pd.unique(curve[column]) if groups is None else groups):
        wide = curve[curve[column] == group].pivot(index="seed", columns="step", values="value")
        mean_sd_line(ax, wide.columns.to_numpy(), wide.to_numpy(), label=str(group))
    return ax
