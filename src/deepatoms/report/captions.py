"""A caption sentence for each figure of an atom's page, read from the drawn figure itself: its
name (as words), and for each panel what is plotted against what and which series it has
(the axes' labels, titles and legend entries). Atom files are not touched."""
from __future__ import annotations

from typing import Any

MAX_SERIES = 6


def _words(name: str) -> str:
    text = " ".join(name.replace("-", " ").replace("_", " ").split())
    return text[:1].upper() + text[1:] if text else "Figure"


def _series(ax: Any) -> list[str]:
    legend = ax.get_legend()
    if legend is None:
        return []
    return [t.get_text() for t in legend.get_texts() if t.get_text()]


def _panel(ax: Any) -> str:
    """'loss (log) against step, for width 8, width 64' or the panel's title alone."""
    y, x = ax.get_ylabel().strip(), ax.get_xlabel().strip()
    title = ax.get_title().strip()
    if y and x:
        text = f"{y} against {x}"
    elif ax.images:
        text = "images"
    else:
        text = ""
    if title and title.lower() not in text.lower():
        text = f"{title}: {text}" if text else title
    series = _series(ax)
    if series:
        more = f" and {len(series) - MAX_SERIES} more" if len(series) > MAX_SERIES else ""
        text += f" ({', '.join(series[:MAX_SERIES])}{more})"
    return text


def figure_caption(name: str, fig: Any, number: int) -> str:
    """'Figure 2. Accuracy vs width: test accuracy against width (SGD, Adam), one panel per …'"""
    panels = [p for p in (_panel(ax) for ax in fig.get_axes() if ax.get_visible()) if p]
    unique = list(dict.fromkeys(panels))
    head = f"Figure {number}. {_words(name)}"
    if not unique:
        return f"{head}, drawn from the run's stored measurements."
    body = "; ".join(unique[:4]) + ("; …" if len(unique) > 4 else "")
    count = len(fig.get_axes())
    where = f" ({count} panels)" if count > 1 else ""
    return f"{head}{where}: {body}."
