"""HTML fragments shared by the report and notebook display."""
from __future__ import annotations

import html
import math

from ..verdict import Verdict


def _num(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def evidence_html(verdict: Verdict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(e.metric)}</td><td>{_num(e.estimate)}</td>"
        f"<td>[{_num(e.ci_low)}, {_num(e.ci_high)}]</td><td>{e.n}</td>"
        f"<td>{html.escape(e.test)}</td><td>{html.escape(e.threshold)}</td>"
        f"<td>{ {True: 'supports', False: 'contradicts', None: 'undecided'}[e.supports] }</td></tr>"
        for e in verdict.evidence)
    return ("<table class='evidence'><tr><th>metric</th><th>estimate</th><th>95% CI</th><th>n</th>"
            f"<th>test</th><th>threshold</th><th>bears</th></tr>{rows}</table>")
