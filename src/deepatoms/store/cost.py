"""What a stored run cost: the seconds its trials computed and where they ran.

A run's `wall_s` is the time of its own step in the driver. After a cross-atom prefetch
(`deepatoms run A B ...` on worker processes) the trials computed before that step, so its wall
time is only the judging (0.01 s for 49 s of training); `computed_s` is the training time of the
trials this run computed, wherever they ran, and the run's environment names the place
(`env["computed_on"]`: "this process", "2 worker processes (cross-atom prefetch)", ...).
Every display of a run's cost shows `computed_s` and the place, and the wall time only beside.
"""
from __future__ import annotations

import math
from typing import Any

CACHED = "nothing computed (all cached)"


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def run_cost(run: dict[str, Any]) -> tuple[float | None, str]:
    """(computed seconds, where) of a stored run; where is "" when the run did not record it
    (runs stored before this field), CACHED when nothing was computed."""
    seconds = _seconds(run.get("computed_s"))
    env = run.get("env") if isinstance(run.get("env"), dict) else {}
    where = str(env.get("computed_on") or "")
    if seconds == 0.0:
        return 0.0, CACHED
    if where.startswith("nothing"):
        where = ""
    return seconds, where


def cost_text(run: dict[str, Any], fmt: Any) -> str:
    """'49 s on 2 worker processes (cross-atom prefetch)', 'cached', or '49 s' (`fmt` formats
    seconds: the CLI's and the report's own)."""
    seconds, where = run_cost(run)
    if where == CACHED:
        return "cached"
    if seconds is None:
        return fmt(None)
    return f"{fmt(seconds)} on {where}" if where else fmt(seconds)
