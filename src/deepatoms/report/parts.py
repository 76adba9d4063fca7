"""A verdict's claim parts as plain text, shared by the CLI, the report, the lab and the Markdown
catalog: one line per part (title, status, reason) and each evidence row's part and control mark.

A run stored before parts existed has none; it shows as it did (no part lines)."""
from __future__ import annotations

from typing import Any

from ..verdict import Evidence, Part, Verdict

CONTROL_MARK = "control"


def stored_parts(verdict: dict[str, Any] | None) -> list[dict[str, str]]:
    """The parts of a stored verdict dict (`Verdict.to_dict`), [] for an old run without them."""
    parts = (verdict or {}).get("parts") or []
    return [Part.from_dict(p).to_dict() for p in parts if isinstance(p, dict)]


def shows_parts(verdict: Verdict) -> bool:
    """Whether the parts say more than the headline: several parts, or a reason (a failed
    control) on the only one."""
    return len(verdict.parts) > 1 or any(p.reason for p in verdict.parts)


def part_line(part: Part) -> str:
    """'batch norm at 1,000 blocks: not reproduced' or '...: inconclusive — control failed: ...'."""
    text = f"{part.title}: {part.status}"
    return f"{text} — {part.reason}" if part.reason else text


def part_lines(verdict: Verdict) -> list[str]:
    """One line per part (the central one first) where `shows_parts`, else []."""
    return [part_line(p) for p in verdict.parts] if shows_parts(verdict) else []


def secondary_lines(verdict: Verdict) -> list[str]:
    """The parts a headline does not already say: every part but the central one, and the
    central one only when it carries a reason (a failed control)."""
    return [part_line(p) if p.name else p.reason for p in verdict.parts
            if p.name or p.reason]


def part_title(name: str) -> str:
    """A part's name for a reader: 'central claim' for "", 'every part' for a "*" control."""
    return {"": "central claim", "*": "every part"}.get(name, name)


def evidence_part(e: Evidence) -> str:
    """What an evidence row bears on: '' for a claim row of the central part, else the part's
    name, 'every part' for a control guarding all; controls are prefixed 'control'."""
    part = "every part" if e.part == "*" else e.part
    if not e.control:
        return part
    return f"{CONTROL_MARK} ({part})" if part else CONTROL_MARK
