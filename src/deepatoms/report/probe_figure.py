"""The probe figure: a key estimate with its interval against the varied value, coloured by
verdict (drawn by a probe's `figure()` and on the report's atom pages)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..figures import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STATUS_COLOURS = {"reproduced": "tab:green", "not reproduced": "tab:red",
                  "inconclusive": "goldenrod"}
LEANING_STATUS = {"for the claim": "reproduced", "against the claim": "not reproduced",
                  "undecided": "inconclusive"}


def verdict_colour(point: dict[str, Any]) -> str:
    """A verdict's colour; a reduced-scale indication takes the colour of its leaning."""
    label = point["label"]
    status = LEANING_STATUS.get(label.partition(": ")[2], point["status"]) \
        if label.startswith("indicative") else point["status"]
    return STATUS_COLOURS.get(status, "grey")


def positions(values: list[str]) -> tuple[list[float], bool]:
    try:
        return [float(v) for v in values], True
    except ValueError:
        return [float(i) for i in range(len(values))], False


def probe_figure(record: dict[str, Any], ax=None) -> "Figure":
    """Key estimate (with its interval) against the varied value, coloured by verdict."""
    points = record["points"]
    xs, numeric = positions([p["value"] for p in points])
    if ax is None:
        fig, ax = new_figure(1, 1, width=5.2, height=3.4)
    else:
        fig = ax.figure
    for x, p in zip(xs, points):
        if p["estimate"] is None:
            continue
        lo, hi = p["ci_low"], p["ci_high"]
        err = None if lo is None or hi is None else [[p["estimate"] - lo], [hi - p["estimate"]]]
        indicative = p["label"].startswith("indicative")
        ax.errorbar([x], [p["estimate"]], yerr=err, fmt="D" if indicative else "o",
                    mfc="white" if indicative else verdict_colour(p), color=verdict_colour(p), capsize=3, ms=7)
    ax.plot(xs, [p["estimate"] if p["estimate"] is not None else math.nan for p in points],
            color="grey", lw=0.8, zorder=0)
    if not numeric:
        ax.set_xticks(xs, [p["value"] for p in points])
    for status, colour in STATUS_COLOURS.items():
        ax.plot([], [], "o", color=colour, label=status)
    if any(p["label"].startswith("indicative") for p in points):
        ax.plot([], [], "D", mfc="white", color="grey", label="reduced scale: indication")
    ax.legend(fontsize=7, loc="best")
    ax.set(xlabel=record["key"], ylabel=record["metric"][:50],
           title=f"{record['atom']} vs {record['key']} ({record['preset']})")
    return fig
