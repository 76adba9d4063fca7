"""Figure helpers: matplotlib Figures built without pyplot (no global state, nothing shown).

The matplotlib backend is never chosen here: the user's (Jupyter's, a GUI's) stays as it is.
Every atom's `figures(table, axes=None)` draws either onto new Figures or onto axes the caller
gives: `axes` maps a figure's name to one Axes or a sequence of them, as many as that figure's
grid has (`figure_grid` of the figure drawn without `axes` tells the shape).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Mapping

import matplotlib.figure

from .errors import DeepatomsError


class Figure(matplotlib.figure.Figure):
    """A matplotlib Figure that shows itself in Jupyter even when pyplot was never imported."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100)
        return buf.getvalue()


def new_figure(nrows: int = 1, ncols: int = 1, width: float = 4.0, height: float = 3.2, *,
               name: str = "", axes: Mapping[str, Any] | None = None,
               **kwargs) -> tuple[matplotlib.figure.Figure, Any]:
    """A Figure with an (nrows, ncols) grid of axes (squeezed like plt.subplots), or, when
    `axes` has an entry for `name`, the caller's axes in that grid shape and their Figure."""
    if axes is not None and name in axes:
        return given_axes(axes[name], nrows, ncols, name, kwargs.get("squeeze", True))
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    return fig, fig.subplots(nrows, ncols, **kwargs)


def given_axes(given: Any, nrows: int, ncols: int, name: str, squeeze: bool = True
               ) -> tuple[matplotlib.figure.Figure, Any]:
    """The caller's axes (one Axes, or any nesting of them) as an (nrows, ncols) grid."""
    import numpy as np
    flat = np.empty(0, dtype=object)
    if given is not None:
        items = [given] if hasattr(given, "figure") else list(np.asarray(given, dtype=object).flat)
        flat = np.array(items + [None], dtype=object)[:-1]
    if flat.size != nrows * ncols or not all(hasattr(a, "plot") for a in flat):
        raise DeepatomsError(f"figure '{name}' draws on a {nrows}x{ncols} grid of axes; "
                             f"got {flat.size} axes")
    grid = flat.reshape(nrows, ncols)
    if squeeze and grid.size == 1:
        return grid[0, 0].figure, grid[0, 0]
    return grid[0, 0].figure, grid.ravel() if squeeze and 1 in (nrows, ncols) else grid


def figure_grid(fig: matplotlib.figure.Figure) -> tuple[int, int]:
    """(nrows, ncols) of the grid a figure's axes were drawn on (colorbars aside)."""
    specs = [ax.get_subplotspec() for ax in fig.axes if ax.get_subplotspec() is not None]
    return specs[0].get_gridspec().get_geometry()


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
