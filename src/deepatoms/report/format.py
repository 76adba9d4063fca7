"""Small display helpers for the report: durations, dates, parameter values, file-safe names."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def duration(seconds: float | None) -> str:
    """'0.42 s', '3.4 s', '2 min 05 s', '2 min', '1 h 03 min'; '—' when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "—"
    if seconds < 10:
        return f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def when(iso: str | None) -> str:
    """An ISO timestamp from the store as 'YYYY-MM-DD HH:MM UTC' (unparsable text is kept)."""
    if not iso:
        return "—"
    try:
        stamp = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def value_text(value: Any) -> str:
    """A parameter value as the user would type it after `--set key=`."""
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def plain(value: Any) -> Any:
    """Tuples as lists, as parameters come back from the store's JSON."""
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


def unique_slug(name: str, taken: set[str]) -> str:
    """A file-safe, case-insensitively unique name for `name`; adds it to `taken`."""
    base = _UNSAFE.sub("-", name).strip("-")[:80] or "item"
    slug, i = base, 2
    while slug.lower() in taken:
        slug, i = f"{base}-{i}", i + 1
    taken.add(slug.lower())
    return slug
