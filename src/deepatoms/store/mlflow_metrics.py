"""What a stored run becomes in MLflow: short, stable metric keys and step curves.

Parent run (one per deepatoms run): `ev00`, `ev01`, ... the estimate of the verdict's evidence
rows in order, with `.ci_low`, `.ci_high` and `.supports` (1, 0, or NaN when undecided); the row's sentence is the tag
`evidence.ev00`. The same atom judged again gives the same keys for the same rows, so its runs
line up column by column in MLflow's comparison view. Also `wall_s`, `computed_s`, `seeds`.

Child run (one per seed): the atom's measurement rows of that seed. Rows with a `step` are
curves, logged with their steps; rows without one are single values at step 0. The key is the
row's metric, then each setting column that has a value, as `metric/column_value/...` (characters
MLflow refuses become `_`), so a key names one curve and is the same in every seed and run.
A metric whose rows spread over more than 32 values of one setting (a prediction at each input
`x`, a value per weight) is point data, not a curve: it stays in the run's table.csv artifact.
"""
from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

KEY_OK = re.compile(r"[^0-9A-Za-z_\-. /]")
MAX_KEY = 250          # MLflow's limit on a metric key (characters)
MAX_SEED_KEYS = 500    # per child run: more keys than this are left out (noted in a tag)
MAX_LEVELS = 32        # a metric whose rows spread over more values of a setting is point data
NOT_SETTINGS = {"seed", "step", "metric", "value", "kind", "run_id", "atom", "preset",
                "created", "code_version", "device", "dtype", "params"}


def clean_key(text: str) -> str:
    """`text` as a metric key MLflow accepts: refused characters become `_`, at most 250."""
    key = KEY_OK.sub("_", " ".join(str(text).split())).strip(" /")
    return key[:MAX_KEY] or "metric"


def finite(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def evidence_key(index: int) -> str:
    return f"ev{index:02d}"


def evidence_sentence(row: dict[str, Any]) -> str:
    """'setting metric', with '[part]' or '[control (part)]' first where the row has them."""
    part = "every part" if row.get("part") == "*" else str(row.get("part") or "")
    if row.get("control"):
        part = f"control ({part})" if part else "control"
    words = (f"[{part}]" if part else "", row.get("setting", ""), row.get("metric", ""))
    return " ".join(str(p) for p in words if p)


def run_metrics(run: dict[str, Any]) -> dict[str, float]:
    """The parent run's metrics: times, number of seeds, and every evidence row by position.
    Each row always has its four keys, so that runs of an atom share them: a missing or
    non-finite number, or an undecided `supports`, is NaN."""
    out = {"wall_s": float(run["wall_s"]), "computed_s": float(run["computed_s"]),
           "seeds": float(len(run["seeds"]))}
    for i, row in enumerate(run["verdict"].get("evidence", [])):
        key = evidence_key(i)
        for suffix, field in (("", "estimate"), (".ci_low", "ci_low"), (".ci_high", "ci_high")):
            out[key + suffix] = float(row[field]) if finite(row.get(field)) else math.nan
        supports = row.get("supports")
        out[key + ".supports"] = float(supports) if isinstance(supports, bool) else math.nan
    return out


def part_tags(run: dict[str, Any]) -> dict[str, str]:
    """`verdict.part00` → 'title: status' (and '— reason', a failed control) of each claim part,
    the central one first; none for a run stored before verdicts had parts."""
    out = {}
    for i, p in enumerate(run["verdict"].get("parts") or []):
        reason = f" — {p['reason']}" if p.get("reason") else ""
        title = p.get("title") or p.get("name") or "central claim"
        out[f"verdict.part{i:02d}"] = f"{title}: {p.get('status', '')}{reason}"
    return out


def evidence_tags(run: dict[str, Any]) -> dict[str, str]:
    """`evidence.ev00` → the sentence of that evidence row (what the key measures)."""
    return {f"evidence.{evidence_key(i)}": evidence_sentence(row)
            for i, row in enumerate(run["verdict"].get("evidence", []))}


def _value_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def curve_key(row: pd.Series, settings: list[str]) -> str:
    parts = [str(row["metric"])]
    parts += [f"{c}_{_value_text(row[c])}" for c in settings if pd.notna(row[c])]
    return clean_key("/".join(p.replace("/", "_") for p in parts))


def point_metrics(rows: pd.DataFrame, settings: list[str]) -> list[str]:
    """The metrics whose rows spread over more than MAX_LEVELS values of one setting."""
    out = []
    for metric, group in rows.groupby("metric", sort=True):
        if any(group[c].nunique() > MAX_LEVELS for c in settings):
            out.append(str(metric))
    return out


def seed_curves(rows: pd.DataFrame) -> tuple[dict[str, list[tuple[int, float]]], list[str]]:
    """One seed's measurement rows as {key: [(step, value), ...]} (steps ascending; rows
    without a step at step 0; non-finite values left out), and notes of what was left out:
    point metrics (see `point_metrics`) and keys beyond MAX_SEED_KEYS."""
    settings = [c for c in rows.columns if c not in NOT_SETTINGS]
    has_step = "step" in rows.columns
    points = point_metrics(rows, settings)
    notes = [f"point data not logged as metrics (see table.csv): {', '.join(points)}"] \
        if points else []
    curves: dict[str, list[tuple[int, float]]] = {}
    for _, row in rows[~rows["metric"].isin(points)].iterrows():
        value = row["value"]
        if not finite(value if not hasattr(value, "item") else value.item()):
            continue
        step = row["step"] if has_step else None
        step = int(step) if step is not None and pd.notna(step) else 0
        curves.setdefault(curve_key(row, settings), []).append((step, float(value)))
    keys = sorted(curves)
    if len(keys) > MAX_SEED_KEYS:
        notes.append(f"{len(keys) - MAX_SEED_KEYS} metric keys beyond {MAX_SEED_KEYS} left out")
    return {k: sorted(curves[k]) for k in keys[:MAX_SEED_KEYS]}, notes
