"""Positive controls shared by the families: rows that must hold for an experiment to be able
to show its effect at this scale (issue 16 §1.4). A control guards its claim part ("*": every
part); `verdict.decide` makes a guarded part inconclusive when its control does not hold."""
from __future__ import annotations

import dataclasses
from typing import Sequence

from .. import stats
from ..verdict import CENTRAL, Evidence

EVERY_PART = "*"


def as_control(row: Evidence, part: str = EVERY_PART, if_failed: str = "") -> Evidence:
    """`row` as a positive control guarding `part`. `if_failed`: what would make it pass (the
    scale, budget or seeds), added to the note only when the control does not hold."""
    note = row.note
    if if_failed and row.supports is not True:
        note = f"{note}; {if_failed}" if note else if_failed
    return dataclasses.replace(row, control=True, part=part, note=note)


def learns(metric: str, accuracies: Sequence[float], chance: float, margin: float = 0.1, *,
           part: str = EVERY_PART, setting: str = "", n_points: int | None = None,
           what: str = "learns", if_failed: str = "") -> Evidence:
    """Control: the accuracies are clearly above chance (mean > chance + margin), judged like
    any accuracy row (`stats.above`; `n_points` test points per seed)."""
    bar = chance + margin
    row = stats.above(metric, accuracies, bar, claim=f"{what}: > {bar:.3g} (chance {chance:.3g})",
                      setting=setting, n_points=n_points, bounds=(0.0, 1.0))
    return as_control(row, part, if_failed)


def separable(ceilings: Sequence[float], bar: float, *, part: str = EVERY_PART,
              what: str = "the data allow the claimed accuracy") -> Evidence:
    """Control: the seeds' best possible accuracies (their Bayes ceilings, computed exactly from
    each seed's generator) exceed `bar`, the accuracy the claim needs."""
    row = stats.above("seeds' Bayes ceiling", ceilings, bar, claim=f"{what}: > {bar:.3g}",
                      exact=True, bounds=(0.0, 1.0))
    return as_control(row, part)


def secondary_or_central(rows: Sequence[Evidence]) -> list[Evidence]:
    """`rows` as they are, unless the settings run leave the central part without a claim row
    (only a secondary part's settings were run): then every part's rows stand as the central
    claim, since a part needs a claim row to be judged."""
    rows = list(rows)
    if any(r.part == CENTRAL and not r.control for r in rows):
        return rows
    return [r if r.part == EVERY_PART else dataclasses.replace(r, part=CENTRAL) for r in rows]
