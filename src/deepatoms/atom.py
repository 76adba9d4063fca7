"""The atom contract: metadata, typed parameters, presets, run, judge, figures.

Each atom module ends with `ATOM = Atom(...)`. Registration refuses an atom without a claim,
a source, a method, or a judge.
"""
from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any, Callable, Mapping

from . import __version__
from .code_version import atom_digest
from .params import Params, build
from .verdict import Verdict

if TYPE_CHECKING:  # pandas is not imported at run time: `deepatoms --help` and `list` stay light
    import pandas as pd
    from matplotlib.figure import Figure
    from .lab import Lab

RunFn = Callable[[Any, "Lab"], "pd.DataFrame"]
JudgeFn = Callable[["pd.DataFrame"], Verdict]
FiguresFn = Callable[..., "dict[str, Figure]"]  # figures(table, axes=None)

TABLE_COLUMNS = ("seed", "metric", "value")
NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# Integer parameters with these names measure the run's scale (how long, how much data): below
# the atom's declared minimum (by default, the default value) a run is "reduced" and indicative.
SCALE_NAME_RE = re.compile(r"(^|_)(steps|epochs|iterations|updates|samples|tuples|images|n|"
                           r"n_train|n_test|points|examples|repeats)(_|$)")


@dataclasses.dataclass(frozen=True)
class Atom:
    name: str
    family: str
    title: str
    question: str
    claim: str
    sources: tuple[str, ...]
    method: str
    Params: type[Params]
    run: RunFn
    judge: JudgeFn
    figures: FiguresFn
    presets: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    runtime_s: float = 10.0  # estimated wall time of the default preset with 5 seeds on 2 cores
    default_seeds: int = 5
    # Table columns that are swept settings (every value gets evidence rows) and columns that
    # index measurements without being settings (layer, x, ...); together: all extra columns.
    settings: tuple[str, ...] = ()
    index_columns: tuple[str, ...] = ()
    # Scale parameter -> smallest value at the claim's scale (default: its default value).
    minimum_scale: Mapping[str, float] = dataclasses.field(default_factory=dict)
    # Name of the random streams (data, init, batches): the atom's own name unless it shares a
    # protocol with another atom ("same data as layer-convergence").
    data_stream: str = ""
    # Metrics that are drawing data rather than measurements (decision-surface grids, point
    # clouds, predictions along x, weight traces): `Outcome.figure_data`, not `Outcome.table`.
    # The judge and the figures still read every row.
    figure_metrics: tuple[str, ...] = ()
    # Metrics that are wall-clock timings (seconds per step, per Hessian): they differ between
    # runs of the same seed, so the common same-seed and alone-vs-batch checks skip their rows.
    timing_metrics: tuple[str, ...] = ()
    # Tuple parameters whose values can run as separate populations (setting groups: trials
    # that worker processes or Ray compute in parallel); the tables of a seed's groups,
    # concatenated in the parameter's order, must equal the unsplit run's (trials.py).
    split_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise ValueError(f"atom name must be kebab-case, got {self.name!r}")
        for key in ("title", "question", "claim", "method"):
            if not getattr(self, key).strip():
                raise ValueError(f"atom {self.name}: '{key}' must not be empty")
        if not self.sources or not all(s.strip() for s in self.sources):
            raise ValueError(f"atom {self.name}: needs at least one source")
        for key in ("run", "judge", "figures"):
            if not callable(getattr(self, key)):
                raise ValueError(f"atom {self.name}: '{key}' must be callable")
        if not (isinstance(self.Params, type) and issubclass(self.Params, Params)):
            raise ValueError(f"atom {self.name}: Params must subclass deepatoms.params.Params")
        if not (isinstance(self.figure_metrics, tuple)
                and all(isinstance(m, str) for m in self.figure_metrics)):
            raise ValueError(f"atom {self.name}: figure_metrics must be a tuple of metric names")
        if not (isinstance(self.timing_metrics, tuple)
                and all(isinstance(m, str) for m in self.timing_metrics)):
            raise ValueError(f"atom {self.name}: timing_metrics must be a tuple of metric names")
        fields = {f.name for f in dataclasses.fields(self.Params)}
        if not isinstance(self.split_by, tuple) or not set(self.split_by) <= fields:
            raise ValueError(f"atom {self.name}: split_by must be a tuple of parameter names")
        if "quick" not in self.presets:
            raise ValueError(f"atom {self.name}: needs a 'quick' preset")
        if "default" in self.presets:
            raise ValueError(f"atom {self.name}: 'default' is the Params defaults, not a preset")

    def params(self, preset: str = "default", **overrides: Any) -> Params:
        return build(self.Params, dict(self.presets), preset, overrides)

    @property
    def preset_names(self) -> tuple[str, ...]:
        return ("default", *self.presets)

    @property
    def stream(self) -> str:
        return self.data_stream or self.name

    def scale_reasons(self, params: Params, preset: str = "default") -> tuple[str, ...]:
        """Why a run is below the claim's scale (empty: at full scale). The quick preset always
        is; so is any scale parameter (steps, epochs, samples, n, ...) set below its minimum."""
        reasons = [f"preset '{preset}' is a smoke test"] if preset == "quick" else []
        defaults = self.Params()
        for field in dataclasses.fields(params):
            value = getattr(params, field.name)
            floor = self.minimum_scale.get(field.name)
            if floor is None and SCALE_NAME_RE.search(field.name) and type(value) is int:
                floor = getattr(defaults, field.name)
            if floor is not None and value < floor:
                reasons.append(f"{field.name}={value} is below the claim's scale ({floor})")
        return tuple(reasons)

    @property
    def code_version(self) -> str:
        """Package version + hash of the code a trial depends on: every module of the package
        that the atom's module imports, transitively, and the versions of torch, numpy and
        scipy (code_version.py). Editing any of them invalidates the cached trials."""
        return f"{__version__}+{atom_digest(self.run.__module__)}"

    def split(self, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(measurements, figure data) of a table this atom returned: the rows whose metric is
        one of `figure_metrics` are drawing data, the rest are measurements; each keeps the
        table's columns and row order, with a fresh index."""
        is_figure = table["metric"].isin(self.figure_metrics)
        return (table[~is_figure].reset_index(drop=True),
                table[is_figure].reset_index(drop=True))
