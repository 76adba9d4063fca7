"""Time estimates: how long an atom takes at given parameters and seeds, and the run clock.

An atom's cost per seed is its measured cost when measured_costs.json has it (seconds per seed
of its default run in a full `make run`), else its declared `runtime_s` (the default preset's
wall time with its default seeds on a 2-core CPU) over its default seeds. A run of other
parameters scales that by the seeds and by the scale parameters (steps, epochs, samples, ...:
the same rule as `Atom.scale_reasons`) relative to the defaults; cached seeds cost nothing.
Several atoms on worker processes run side by side, longest first (dispatch.py): `schedule_s`
is the makespan of that longest-processing-time schedule. The progress lines correct estimates
by the speed measured so far.
"""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from ..atom import SCALE_NAME_RE
from . import measured_costs

# Per atom, whatever the scale: building the table, judging, storing (seconds on 2 cores).
OVERHEAD_S = 1.0

if TYPE_CHECKING:
    from ..atom import Atom
    from ..params import Params


def scale_ratio(atom: "Atom", params: "Params") -> float:
    """Π value / default over the scale parameters that the run changes (1.0: default scale)."""
    defaults, ratio = atom.Params(), 1.0
    for field in dataclasses.fields(params):
        value, default = getattr(params, field.name), getattr(defaults, field.name)
        is_scale = field.name in atom.minimum_scale or SCALE_NAME_RE.search(field.name)
        if is_scale and type(value) is int and type(default) is int and default > 0:
            ratio *= value / default
    return ratio


def per_seed_s(atom: "Atom") -> float:
    """Seconds per seed of the atom's default run: measured when known, else declared."""
    measured = measured_costs.per_seed_s(atom.name)
    return measured if measured is not None else atom.runtime_s / max(atom.default_seeds, 1)


def estimate_s(atom: "Atom", params: "Params", n_seeds: int) -> float:
    """Estimated time of computing `n_seeds` seeds of `atom` at `params` (2-core CPU)."""
    if n_seeds <= 0:
        return 0.0
    return OVERHEAD_S + per_seed_s(atom) * n_seeds * scale_ratio(atom, params)


def schedule_s(costs: "list[float]", workers: int) -> float:
    """Makespan of `costs` on `workers` processes, longest first, each to the least-loaded
    worker (the order dispatch.py submits a cross-atom prefetch in)."""
    loads = [0.0] * max(int(workers), 1)
    for cost in sorted(costs, reverse=True):
        loads[loads.index(min(loads))] += cost
    return max(loads)


@dataclasses.dataclass
class RunClock:
    """Elapsed time and an estimate of what is left while planned atoms run one after another.

    The estimates of the atoms still to run are multiplied by the measured speed: the time the
    computed atoms took over their estimates (cached atoms do not count)."""
    estimates: list[float]
    done: int = 0
    elapsed_s: float = 0.0
    total_s: float | None = None  # the dry run's figure: atoms side by side on the workers
    _measured: float = 0.0
    _expected: float = 0.0

    def finish(self, wall_s: float, computed_s: float) -> None:
        estimate = self.estimates[self.done] if self.done < len(self.estimates) else 0.0
        self.done += 1
        self.elapsed_s += wall_s
        if computed_s > 0 and estimate > 0:
            self._measured += computed_s
            self._expected += estimate

    @property
    def speed(self) -> float:
        return self._measured / self._expected if self._expected > 0 else 1.0

    @property
    def left_s(self) -> float:
        left = sum(self.estimates[self.done:]) * self.speed
        return left if math.isfinite(left) else float("nan")
