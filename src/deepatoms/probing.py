"""Where does a claim hold? Run one atom once per value of one parameter and collect, for each
value, the verdict and a key estimate with its interval.

    probe("parity", "steps", ["2000", "20000"], seeds=5) -> ProbeResult

Every point is an ordinary run (stored, cached, resumable); the probe itself is stored too, so
the report can show the latest one on the atom's page.
"""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Sequence, get_origin

from . import registry
from .errors import ParamError
from .params import field_types

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from .api import Outcome
    from .lab import Progress
    from .store import Store

STATUS_COLOURS = {"reproduced": "tab:green", "not reproduced": "tab:red",
                  "inconclusive": "goldenrod"}
LEANING_STATUS = {"for the claim": "reproduced", "against the claim": "not reproduced",
                  "undecided": "inconclusive"}


def _colour(point: dict[str, Any]) -> str:
    """A verdict's colour; a reduced-scale indication takes the colour of its leaning."""
    label = point["label"]
    status = LEANING_STATUS.get(label.partition(": ")[2], point["status"]) \
        if label.startswith("indicative") else point["status"]
    return STATUS_COLOURS.get(status, "grey")


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
    """A probe needs at least two distinct values of its parameter."""
    texts = [str(v) for v in values]
    if len(texts) < 2:
        raise ParamError(f"probing '{key}' needs at least two values (separate them by ',', or by "
                         f"';' for a list-valued parameter), got {texts}")
    if len(set(texts)) != len(texts):
        raise ParamError(f"probing '{key}' repeats a value: {texts}")


def _key_row(outcome: "Outcome", metric: str | None) -> Any:
    rows = outcome.verdict.evidence
    if metric:
        found = [e for e in rows if metric.lower() in e.metric.lower()]
        if not found:
            names = "; ".join(e.metric for e in rows)
            raise ParamError(f"no evidence row of {outcome.atom.name} matches --metric {metric!r}; "
                             f"rows: {names}")
        return found[0]
    return rows[0]


def _point(value: str, outcome: "Outcome", metric: str | None) -> dict[str, Any]:
    e = _key_row(outcome, metric)
    finite = lambda x: float(x) if x is not None and math.isfinite(x) else None
    return dict(value=value, status=outcome.verdict.status, label=outcome.verdict.label,
                metric=e.metric, estimate=finite(e.estimate), ci_low=finite(e.ci_low),
                ci_high=finite(e.ci_high), n=len(outcome.seeds), finding=outcome.verdict.finding)


def check_probe(name: str, key: str, values: Sequence[Any], *, preset: str = "default",
                seeds: Any = None, overrides: dict[str, Any] | None = None) -> None:
    """Every point of a probe validated (atom, values, parameters, seeds) before the store is
    opened or anything trains."""
    from .runner import is_auto, parse_seeds
    atom = registry.get(name)
    check_values(key, values)
    overrides = overrides or {}
    if key in overrides:
        raise ParamError(f"parameter '{key}' is both varied (--vary) and set (--set); give it once")
    for value in values:
        atom.params(preset, **overrides, **{key: value})
    if not is_auto(seeds):
        parse_seeds(seeds, atom.default_seeds)


def probe(name: str, key: str, values: Sequence[str], *, preset: str = "default",
          seeds: Any = None, metric: str | None = None, store: "Store | None" = None,
          device: str = "auto", progress: "Progress | None" = None,
          **overrides: Any) -> ProbeResult:
    """Run `name` once per value of parameter `key` (other parameters: preset + overrides)."""
    from . import api
    check_probe(name, key, values, preset=preset, seeds=seeds, overrides=overrides)
    points = []
    for value in values:
        out = api.run(name, preset, seeds, device=device, store=store, progress=progress,
                      **overrides, **{key: value})
        points.append(_point(str(value), out, metric))
    result = ProbeResult(name, key, preset, points[0]["metric"] if metric is None else metric, points)
    if store is not None:
        store.save_probe(name, key, preset, result.to_dict())
    return result


def _positions(values: list[str]) -> tuple[list[float], bool]:
    try:
        return [float(v) for v in values], True
    except ValueError:
        return [float(i) for i in range(len(values))], False


def probe_figure(record: dict[str, Any], ax=None) -> "Figure":
    """Key estimate (with its interval) against the varied value, coloured by verdict."""
    from .figures import new_figure
    points = record["points"]
    xs, numeric = _positions([p["value"] for p in points])
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
                    mfc="white" if indicative else _colour(p), color=_colour(p), capsize=3, ms=7)
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
