"""What the pages read from the store: the latest run of every atom, an atom's runs, a diff,
and the figures of a stored run drawn as PNG (cached in memory, one drawing at a time)."""
from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

from ..catalog import registry
from ..errors import DeepatomsError
from ..store.database import DB_NAME, Store
from ..store.history import diff_runs, history_rows

_DRAW = threading.Lock()
_PNG: dict[tuple[int, int, bool], bytes] = {}
FIGURE_CACHE = 256


class StoreView:
    def __init__(self, location: str | Path):
        self.location = str(location)

    def _open(self) -> Store:
        return Store(self.location, readonly=True)

    def latest(self) -> dict[str, dict[str, Any]]:
        try:
            with self._open() as store:
                return store.latest_runs(tolerant=True)
        except DeepatomsError:
            return {}

    def history(self, atom: str) -> list[dict[str, Any]]:
        if not (Path(self.location) / DB_NAME).is_file():  # nothing stored yet
            return []
        with self._open() as store:
            return history_rows(store, atom)

    def diff(self, a: str, b: str) -> dict[str, Any]:
        with self._open() as store:
            return diff_runs(store, a, b)

    def run(self, run_id: int) -> dict[str, Any]:
        with self._open() as store:
            return store.run(run_id)

    def figure_names(self, run_id: int) -> list[str]:
        return list(self._figures(run_id))

    def figure_png(self, run_id: int, index: int, thumb: bool = False) -> bytes:
        key = (run_id, index, thumb)
        if key not in _PNG:
            with _DRAW:
                figures = list(self._figures(run_id).values())
                if not 0 <= index < len(figures):
                    raise KeyError(index)
                buf = io.BytesIO()
                figures[index].savefig(buf, format="png", dpi=40 if thumb else 90,
                                       bbox_inches="tight")
                if len(_PNG) > FIGURE_CACHE:
                    _PNG.clear()
                _PNG[key] = buf.getvalue()
                import matplotlib.pyplot as plt
                plt.close("all")
        return _PNG[key]

    def _figures(self, run_id: int) -> dict[str, Any]:
        import matplotlib
        matplotlib.use("Agg")
        with self._open() as store:
            run = store.run(run_id)
            table = store.run_table(run)
        return registry.get(run["atom"]).figures(table)


def report_file(store: str, path: str) -> Path | None:
    """The file of the store's report at `path`, or None: missing, or outside the report."""
    root = (Path(store) / "report").resolve()
    target = (root / path).resolve()
    if root not in target.parents or not target.is_file():
        return None
    return target


def with_lab_link(page: str, atom: str) -> str:
    """A report page with a link to the atom's lab page after <body> (when served)."""
    from html import escape
    if atom not in registry.all_atoms():
        return page
    link = (f'<p style="margin:0;padding:.4rem 1rem;background:#20303f"><a style="color:#fff" '
            f'href="/atom/{escape(atom)}">Open {escape(atom)} in the lab: change its '
            f'conditions and run it</a></p>')
    head, sep, rest = page.partition("<body>")
    return f"{head}{sep}{link}{rest}" if sep else link + page
