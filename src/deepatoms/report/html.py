"""HTML fragments shared by the report and notebook display."""
from __future__ import annotations

import html
import math

from ..verdict import Evidence, Verdict
from .parts import evidence_part, part_lines, part_title

BEARS: dict[bool | None, str] = {True: "supports", False: "contradicts", None: "undecided"}
# A control neither supports nor contradicts the claim: it holds, or the experiment cannot tell.
CONTROL_BEARS: dict[bool | None, str] = {True: "control holds", False: "control fails",
                                         None: "control undecided"}


def fmt_num(x: float | None) -> str:
    """A measured number for display: 4 significant digits, '—' when missing or NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.4g}"


def evidence_row(e: Evidence) -> dict[str, str]:
    """One evidence row as display strings (not escaped: templates autoescape)."""
    return {"metric": e.metric, "estimate": fmt_num(e.estimate),
            "ci": f"[{fmt_num(e.ci_low)}, {fmt_num(e.ci_high)}]", "n": str(e.n), "test": e.test,
            "threshold": e.threshold, "note": e.note, "bears_class": BEARS[e.supports],
            "bears": (CONTROL_BEARS if e.control else BEARS)[e.supports],
            "setting": e.setting, "part": evidence_part(e), "control": e.control,
            "part_title": part_title(e.part)}


def evidence_html(verdict: Verdict) -> str:
    """The evidence table of a verdict as an HTML fragment (every string escaped)."""
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(r[k])}</td>" for k in
                         ("part", "metric", "estimate", "ci", "n"))
        + f"<td>{html.escape(r['test'])}<br><small>{html.escape(r['note'])}</small></td>"
        + f"<td>{html.escape(r['threshold'])}</td>"
        + f"<td class='bears-{r['bears_class']}'>{r['bears']}</td></tr>"
        for r in map(evidence_row, verdict.evidence))
    parts = "".join(f"<li>{html.escape(line)}</li>" for line in part_lines(verdict))
    return ((f"<ul class='parts'>{parts}</ul>" if parts else "")
            + "<table class='evidence'><tr><th>part</th><th>metric</th><th>estimate</th>"
            f"<th>CI</th><th>n</th><th>test</th><th>threshold</th><th>bears</th></tr>{rows}</table>")
