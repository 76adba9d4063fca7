"""Where does a claim hold over two parameters? Run one atom once per pair of values (each cell
an ordinary stored, cached run) and collect each cell's verdict and key estimate.

    probe_grid("parity", {"steps": [200, 400], "lr": [0.01, 0.1]}, preset="quick") -> GridResult
"""
from __future__ import annotations

import dataclasses
import html
from typing import TYPE_CHECKING, Any, Sequence

from .. import api
from .. import registry
from ..errors import ParamError
from ..report.grid_figure import grid_figure
from ..errors import DeepatomsError
from ..execution.validate import check_device, check_progress, check_text, open_store
from .probe import cell_html, check_probe, check_values, point, probe as probe_one

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from ..lab import Progress
    from ..store.database import Store


@dataclasses.dataclass
class GridResult:
    atom: str
    preset: str
    metric: str
    values: dict[str, list[str]]     # the two varied parameters, in order (x, then y)
    cells: list[dict[str, Any]]      # x, y, status, label, estimate, ci_low, ci_high, n, finding

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def figure(self) -> "Figure":
        return grid_figure(self.to_dict())

    def _repr_html_(self) -> str:
        (kx, xs), (ky, ys) = self.values.items()
        at = {(c["x"], c["y"]): c for c in self.cells}
        head = "".join(f"<th>{html.escape(x)}</th>" for x in xs)
        body = "".join(f"<tr><th>{html.escape(y)}</th>"
                       + "".join(cell_html(at[(x, y)]) for x in xs) + "</tr>" for y in ys)
        return (f"<h4>{html.escape(self.atom)}: {html.escape(ky)} (rows) × {html.escape(kx)} "
                f"(columns), {html.escape(self.preset)} preset</h4><table><tr><th></th>{head}"
                f"</tr>{body}</table><p>cell: {html.escape(self.metric)}</p>")


def check_grid(name: str, vary: dict[str, Sequence[Any]], preset: str, seeds: Any,
               overrides: dict[str, Any]) -> None:
    """Every cell validated before anything runs."""
    (kx, xs), (ky, ys) = vary.items()
    if kx == ky:
        raise ParamError(f"a grid varies two different parameters, got '{kx}' twice")
    check_values(ky, [str(y) for y in ys])
    for y in ys:
        check_probe(name, kx, list(xs), preset=preset, seeds=seeds,
                    overrides={**overrides, ky: y})
    registry.get(name)


def probe_grid(name: str, vary: dict[str, Sequence[Any]], preset: str = "default",
               seeds: Any = None, *, metric: str | None = None, store: "Store | None" = None,
               device: str = "auto", progress: "Progress | None" = None,
               note: Any = None, **overrides: Any) -> GridResult:
    """Run `name` once per (x, y) pair of the two varied parameters; `note(text)` hears when
    each cell starts."""
    check_grid(name, vary, preset, seeds, overrides)
    (kx, xs), (ky, ys) = vary.items()
    cells, total = [], len(xs) * len(ys)
    for y in ys:
        for x in xs:
            if note is not None:
                note(f"[{len(cells) + 1}/{total}] {name}: {kx}={x}, {ky}={y}")
            out = api.run(name, preset, seeds, device=device, store=store, progress=progress,
                          **overrides, **{kx: x, ky: y})
            cell = point(str(x), out, metric)
            cells.append({"x": cell.pop("value"), "y": str(y), **cell})
    return GridResult(name, preset, cells[0]["metric"] if metric is None else metric,
                      {kx: [str(x) for x in xs], ky: [str(y) for y in ys]}, cells)


def probe(name: str, vary: dict[str, Sequence[Any]], preset: str = "default",
          seeds: Any = None, *, metric: str | None = None, device: str = "auto",
          store: "Store | str | None" = None, progress: "Progress | None" = None,
          **overrides: Any) -> Any:
    """`deepatoms.probe`: one parameter → `ProbeResult` (studies/probe.py); two →
    `GridResult`, one run per pair of values, `.figure()` a verdict map."""
    if not isinstance(vary, dict) or len(vary) not in (1, 2):
        raise DeepatomsError("vary must name one or two parameters: {'key': [v1, v2, ...]}")
    common = dict(metric=metric, device=device, store=store, progress=progress)
    if len(vary) == 1:
        return probe_one(name, vary, preset, seeds, **common, **overrides)
    for key, values in vary.items():
        check_text("a varied parameter", key)
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise DeepatomsError(f"vary's values must be a list, got {values!r:.60}")
    vary = {k: list(v) for k, v in vary.items()}
    check_device(device)
    check_progress(progress)
    check_grid(name, vary, preset, seeds, overrides)
    return probe_grid(name, vary, preset, seeds, metric=metric, store=open_store(store),
                      device=device, progress=progress, **overrides)
