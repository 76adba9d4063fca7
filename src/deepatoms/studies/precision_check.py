"""The precision check: each atom in fp32 and in bf16 math mode, and whether the verdict changes
(`deepatoms precision-check`). A study built on runs: it calls `api.run` twice per atom."""
from __future__ import annotations

from typing import Any, Callable

from .. import api
from ..errors import DeepatomsError as Refused
from ..execution.precision import PRECISIONS


def verdict_changes(pairs: list[tuple[str, dict, dict]]) -> list[dict]:
    """Rows of the precision check: per atom the fp32 and bf16 verdict (status and, for reduced
    runs, the indicative label) and whether they differ. `pairs`: (atom, fp32, bf16) verdict
    dicts as `Verdict.to_dict()` gives them."""
    rows = []
    for name, ref, low in pairs:
        same = (ref.get("status"), ref.get("indicative")) == (low.get("status"),
                                                              low.get("indicative"))
        rows.append(dict(atom=name, fp32=_label(ref), bf16=_label(low), changed=not same))
    return rows


def _label(verdict: dict) -> str:
    status = verdict.get("status", "?")
    indication = verdict.get("indicative")
    return f"{status} ({indication})" if indication else status


def compare(names: list[str], preset: str, seeds: Any, store: Any, device: str = "cpu",
            progress: Any = None, on_atom: Callable[[str], None] | None = None) -> list[dict]:
    """The precision check: each atom at `preset` in fp32 and in bf16 (both stored and cached),
    its two verdicts, whether they differ and the bf16/fp32 compute time. An atom whose run fails
    in either precision gets the error instead of a verdict."""
    out = []
    for name in names:
        if on_atom is not None:
            on_atom(name)
        try:
            ref, low = (api.run(name, preset, seeds, device=device, store=store,
                                progress=progress, precision=p) for p in PRECISIONS)
        except Refused as exc:
            out.append(dict(atom=name, fp32="", bf16="", changed=None, error=str(exc)))
            continue
        row, = verdict_changes([(name, ref.verdict.to_dict(), low.verdict.to_dict())])
        ratio = low.computed_s / ref.computed_s if ref.computed_s > 0 and low.computed_s > 0 else None
        out.append(dict(row, bf16_over_fp32_time=ratio, error=None))
    return out
