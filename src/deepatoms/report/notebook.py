"""What `deepatoms.history` and `deepatoms.diff` return: their usual data (a DataFrame, a dict)
that also draws itself in Jupyter (`_repr_html_`): the runs of an atom with their verdicts, and
two runs side by side with the evidence and key numbers."""
from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

HISTORY_COLUMNS = ("id", "created", "preset", "seeds", "device", "verdict", "wall_s")


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


class History(pd.DataFrame):
    """Every stored run of one atom, a row per run (a DataFrame: `.id`, `.verdict`, ...)."""
    _metadata = ["atom"]

    @property
    def _constructor(self) -> type:
        return History

    def _repr_html_(self) -> str:
        cols = [c for c in HISTORY_COLUMNS if c in self.columns]
        rows = [[r[c] for c in cols] for r in self.to_dict("records")]
        title = f"runs of {getattr(self, 'atom', '') or 'an atom'} (oldest first)"
        return f"<h4>{html.escape(title)}</h4>" + _table(cols, rows)


class Diff(dict):
    """Two runs side by side (a dict: runs, params, evidence, numbers, note)."""

    def _repr_html_(self) -> str:
        a, b = self["runs"]
        keys = ("atom", "created", "preset", "seeds", "device", "dtype", "code_version",
                "verdict", "wall_s")
        parts = [f"<h4>run {html.escape(str(a['id']))} vs run {html.escape(str(b['id']))}</h4>",
                 _table(["", "A", "B"], [[k, a.get(k), b.get(k)] for k in keys])]
        if self["params"]:
            parts += ["<h5>parameters that differ</h5>",
                      _table(["parameter", "A", "B"],
                             [[p["name"], p["a"], p["b"]] for p in self["params"]])]
        est = lambda e: None if e is None else e.get("estimate")
        parts += ["<h5>evidence</h5>", _table(
            ["setting", "metric", "A", "B", "B − A"],
            [[e["setting"] or "—", e["metric"], est(e["a"]), est(e["b"]), e["delta"]]
             for e in self["evidence"]])]
        if self["numbers"]:
            parts += ["<h5>key numbers (means)</h5>", _table(
                ["metric", "A", "B", "B − A"],
                [[n["metric"], n["a"], n["b"], n["delta"]] for n in self["numbers"]])]
        if self.get("note"):
            parts.append(f"<p>{html.escape(self['note'])}</p>")
        return "".join(parts)
