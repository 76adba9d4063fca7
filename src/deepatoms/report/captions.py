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


def _plot(ax: Any) -> str:
    """'loss against step (SGD, Adam)', 'images', or ''."""
    y, x = ax.get_ylabel().strip(), ax.get_xlabel().strip()
    text = f"{y} against {x}" if y and x else ("images" if ax.images else "")
    series = _series(ax)
    if series:
        more = f" and {len(series) - MAX_SERIES} more" if len(series) > MAX_SERIES else ""
        text += f" ({', '.join(series[:MAX_SERIES])}{more})"
    return text


def figure_caption(name: str, fig: Any, number: int) -> str:
    """'Figure 2. Accuracy vs width: test accuracy against width (SGD, Adam).', or with several
    panels 'Figure 1. Scores, 3 panels (L = 1; L = 2; L = 3): score against x.'"""
    axes = [ax for ax in fig.get_axes() if ax.get_visible()]
    plots = list(dict.fromkeys(p for p in map(_plot, axes) if p))
    titles = list(dict.fromkeys(t for t in (ax.get_title().strip() for ax in axes) if t))
    head = f"Figure {number}. {_words(name)}"
    if len(axes) > 1:
        shown = "; ".join(titles[:4]) + ("; …" if len(titles) > 4 else "")
        head += f", {len(axes)} panels" + (f" ({shown})" if shown else "")
    elif titles and titles[0].lower() != _words(name).lower():
        head += f" — {titles[0]}"
    if not plots:
        return f"{head}, drawn from the run's stored measurements."
    return f"{head}: {'; '.join(plots[:4])}{'; …' if len(plots) > 4 else ''}."
