"""HTML fragments shared by the report and notebook display."""
from __future__ import annotations

import html
import math

from ..verdict import Evidence, Verdict

BEARS: dict[bool | None, str] = {True: "supports", False: "contradicts", None: "undecided"}


def fmt_num(x: float | None) -> str:
    """A measured number for display: 4 significant digits, '—' when missing or NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.4g}"


def evidence_row(e: Evidence) -> dict[str, str]:
    """One evidence row as display strings (not escaped: templates autoescape)."""
    return {"metric": e.metric, "estimate": fmt_num(e.estimate),
            "ci": f"[{fmt_num(e.ci_low)}, {fmt_num(e.ci_high)}]", "n": str(e.n), "test": e.test,
            "threshold": e.threshold, "bears": BEARS[e.supports], "note": e.note,
            "setting": e.setting}


def evidence_html(verdict: Verdict) -> str:
    """The evidence table of a verdict as an HTML fragment (every string escaped)."""
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(r[k])}</td>" for k in
                         ("metric", "estimate", "ci", "n"))
        + f"<td>{html.escape(r['test'])}<br><small>{html.escape(r['note'])}</small></td>"
        + f"<td>{html.escape(r['threshold'])}</td>"
        + f"<td class='bears-{r['bears']}'>{r['bears']}</td></tr>"
        for r in map(evidence_row, verdict.evidence))
    return ("<table class='evidence'><tr><th>metric</th><th>estimate</th><th>CI</th><th>n</th>"
            f"<th>test</th><th>threshold</th><th>bears</th></tr>{rows}</table>")
