"""Where does a claim hold? Run one atom once per value of one parameter and collect, for each
value, the verdict and a key estimate with its interval.

    probe("parity", "steps", ["2000", "20000"], seeds=5) -> ProbeResult

Every point is an ordinary run (stored, cached, resumable); the probe itself is stored too, so
the report can show the latest one on the atom's page.
"""
from __future__ import annotations

import dataclasses
import html
import math
from typing import TYPE_CHECKING, Any, Callable, Sequence, get_origin

from .. import api
from .. import registry
from ..errors import DeepatomsError, ParamError
from ..execution.executors import ExecOptions
from ..execution.seeds import bounded, is_auto, parse_seeds
from ..execution.validate import check_device, check_progress, check_text, open_store
from ..params import field_types
from ..report.probe_figure import probe_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from ..lab import Progress
    from ..store.database import Store

MAX_VALUES = 100  # values of one probe: each is a whole run


@dataclasses.dataclass
class ProbeResult:
    atom: str
    key: str
    preset: str
    metric: str                      # the evidence row followed as the key estimate
    points: list[dict[str, Any]]     # value, status, label, estimate, ci_low, ci_high, n, finding

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def figure(self) -> "Figure":
        return probe_figure(self.to_dict())

    def _repr_html_(self) -> str:
        """Jupyter: a row per value with its verdict, estimate and interval."""
        rows = "".join(f"<tr><th>{html.escape(p['value'])}</th>{cell_html(p)}</tr>"
                       for p in self.points)
        return (f"<h4>probe of {html.escape(self.atom)}: {html.escape(self.key)} "
                f"({html.escape(self.preset)} preset)</h4><table><tr><th>"
                f"{html.escape(self.key)}</th><th>verdict · {html.escape(self.metric)} [95% CI]"
                f"</th></tr>{rows}</table>")


def cell_html(p: dict[str, Any]) -> str:
    """One point as a table cell: verdict label, estimate [interval], seeds."""
    fmt = lambda x: "—" if x is None else f"{x:.4g}"
    return (f"<td>{html.escape(p['label'])}<br>{fmt(p['estimate'])} [{fmt(p['ci_low'])}, "
            f"{fmt(p['ci_high'])}] · {p['n']} seeds</td>")


def split_values(atom_name: str, key: str, text: str) -> list[str]:
    """`--vary key=a,b,c` → ["a", "b", "c"]; for a list-valued parameter the values are
    separated by ';' (`--vary dims=5,10;5,10,30`)."""
    atom = registry.get(atom_name)
    types = field_types(atom.Params)
    if key not in types:
        atom.params(**{key: text})  # raises the usual "unknown parameter ..., did you mean"
    sep = ";" if get_origin(types[key]) is tuple else ","
    values = [v.strip() for v in text.split(sep) if v.strip()]
    check_values(key, values)
    return values


def check_values(key: str, values: Sequence[Any]) -> None:
    """A probe needs at least two distinct values of its parameter, and at most MAX_VALUES."""
    texts = [str(v) for v in bounded(values, MAX_VALUES, f"values of '{key}' in one probe")]
    if len(texts) < 2:
        raise ParamError(f"probing '{key}' needs at least two values (separate them by ',', or by "
                         f"';' for a list-valued parameter), got {texts}")
    if len(set(texts)) != len(texts):
        raise ParamError(f"probing '{key}' repeats a value: {texts}")


def _key_row(outcome: "api.Outcome", metric: str | None) -> Any:
    rows = outcome.verdict.evidence
    if metric:
        found = [e for e in rows if metric.lower() in e.metric.lower()]
        if not found:
            names = "; ".join(e.metric for e in rows)
            raise ParamError(f"no evidence row of {outcome.atom.name} matches --metric {metric!r}; "
                             f"rows: {names}")
        return found[0]
    return rows[0]


def point(value: str, outcome: "api.Outcome", metric: str | None) -> dict[str, Any]:
    e = _key_row(outcome, metric)
    finite = lambda x: float(x) if x is not None and math.isfinite(x) else None
    return dict(value=value, status=outcome.verdict.status, label=outcome.verdict.label,
                metric=e.metric, estimate=finite(e.estimate), ci_low=finite(e.ci_low),
                ci_high=finite(e.ci_high), n=len(outcome.seeds), finding=outcome.verdict.finding)


def check_probe(name: str, key: str, values: Sequence[Any], *, preset: str = "default",
                seeds: Any = None, overrides: dict[str, Any] | None = None) -> None:
    """Every point of a probe validated (atom, values, parameters, seeds) before the store is
    opened or anything trains."""
    atom = registry.get(name)
    check_values(key, values)
    overrides = overrides or {}
    if key in overrides:
        raise ParamError(f"parameter '{key}' is both varied (--vary) and set (--set); give it once")
    parsed: dict[str, Any] = {}
    for value in values:
        one = repr(getattr(atom.params(preset, **overrides, **{key: value}), key))
        if one in parsed:
            raise ParamError(f"probing '{key}' repeats a value: {parsed[one]!r} and {value!r} are "
                             f"both {one}")
        parsed[one] = value
    if not is_auto(seeds):
        parse_seeds(seeds, atom.default_seeds)
    ExecOptions()  # a bad DEEPATOMS_WORKERS: refused before the store is opened


def check_metric(name: str, key: str, values: Sequence[Any], metric: str | None, *,
                 preset: str = "default", seeds: Any = None, device: str = "auto",
                 **overrides: Any) -> None:
    """An unknown `metric` refused before anything is stored: the evidence rows exist only once
    the atom has judged, so the first point runs once without the store (it runs again, stored,
    with the probe)."""
    if metric is None:
        return
    first = api.run(name, preset, seeds, device=device, store=None, **overrides,
                    **{key: values[0]})
    _key_row(first, metric)


def probe_values(name: str, key: str, values: Sequence[str], *, preset: str = "default",
                 seeds: Any = None, metric: str | None = None, store: "Store | None" = None,
                 device: str = "auto", progress: "Progress | None" = None,
                 note: "Callable[[str], None] | None" = None,
                 on_point: "Callable[[dict[str, Any]], None] | None" = None,
                 **overrides: Any) -> ProbeResult:
    """Run `name` once per value of parameter `key` (other parameters: preset + overrides);
    `note(text)` hears when each value starts; `on_point(point)` sees each value's point as soon
    as it is measured (`deepatoms serve`)."""
    check_probe(name, key, values, preset=preset, seeds=seeds, overrides=overrides)
    points = []
    for value in values:
        if note is not None:
            note(f"[{len(points) + 1}/{len(values)}] {name}: {key}={value}")
        out = api.run(name, preset, seeds, device=device, store=store, progress=progress,
                      **overrides, **{key: value})
        points.append(point(str(value), out, metric))
        if on_point is not None:
            on_point(points[-1])
    result = ProbeResult(name, key, preset, points[0]["metric"] if metric is None else metric, points)
    if store is not None:
        store.save_probe(name, key, preset, result.to_dict())
    return result


def probe(name: str, vary: dict[str, Sequence[Any]], preset: str = "default",
          seeds: int | Sequence[int] | str | None = None, *, metric: str | None = None,
          device: str = "auto", store: "Store | str | None" = None,
          progress: "Progress | None" = None, **overrides: Any) -> ProbeResult:
    """Where does the claim hold? `probe("parity", {"steps": [2000, 20000]})` runs the atom once
    per value (each run stored and cached like `run`) and returns a `ProbeResult` with each
    value's verdict and key estimate (`metric`: the evidence row to follow, by substring;
    default the first row); `.figure()` draws it. (`deepatoms.probe` also takes two parameters:
    studies/grid.py.)"""
    if not isinstance(vary, dict) or len(vary) != 1:
        raise DeepatomsError("vary must name exactly one parameter: {'key': [v1, v2, ...]}")
    (key, values), = vary.items()
    check_text("the atom name", name)
    check_text("the varied parameter", key)
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise DeepatomsError(f"vary's values must be a list, got {values!r:.60}")
    if metric is not None:
        check_text("metric", metric)
    check_device(device)
    check_progress(progress)
    values = bounded(values, MAX_VALUES, f"values of '{key}' in one probe")
    check_probe(name, key, values, preset=preset, seeds=seeds, overrides=overrides)
    if store is not None:
        check_metric(name, key, values, metric, preset=preset, seeds=seeds, device=device,
                     **overrides)
    store = open_store(store)
    return probe_values(name, key, values, preset=preset, seeds=seeds, metric=metric,
                        store=store, device=device, progress=progress, **overrides)

