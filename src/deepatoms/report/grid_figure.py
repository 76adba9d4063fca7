"""The verdict map of a two-parameter probe: one cell per pair of values, coloured by verdict
(its reduced-scale leaning hatched), with the key estimate written in the cell."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..figures import new_figure
from .probe_figure import STATUS_COLOURS, verdict_colour

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def grid_figure(record: dict[str, Any], ax: Any = None) -> "Figure":
    """Rows: the second parameter's values; columns: the first's."""
    from matplotlib.patches import Patch, Rectangle
    (kx, xs), (ky, ys) = record["values"].items()
    if ax is None:
        fig, ax = new_figure(1, 1, width=1.4 * len(xs) + 2.6, height=0.9 * len(ys) + 1.6)
    else:
        fig = ax.figure
    for cell in record["cells"]:
        i, j = xs.index(cell["x"]), ys.index(cell["y"])
        indicative = cell["label"].startswith("indicative")
        ax.add_patch(Rectangle((i, j), 1, 1, facecolor=verdict_colour(cell), edgecolor="white",
                               hatch="//" if indicative else None, alpha=0.55 if indicative else 0.9))
        est = "—" if cell["estimate"] is None else f"{cell['estimate']:.3g}"
        ax.text(i + 0.5, j + 0.5, est, ha="center", va="center", fontsize=8)
    ax.set_xlim(0, len(xs))
    ax.set_ylim(0, len(ys))
    ax.set_xticks([i + 0.5 for i in range(len(xs))], xs)
    ax.set_yticks([j + 0.5 for j in range(len(ys))], ys)
    handles = [Patch(color=c, label=s) for s, c in STATUS_COLOURS.items()]
    handles.append(Patch(facecolor="white", edgecolor="grey", hatch="//",
                         label="reduced scale: indication"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set(xlabel=kx, ylabel=ky, title=f"{record['atom']}: verdict by {kx} × {ky} "
                                       f"({record['preset']}; cell: {record['metric'][:30]})")
    return fig
