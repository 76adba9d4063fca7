"""Opt-in reduced precision: `--precision bf16` runs an atom under bfloat16 autocast.

Parameters, optimiser state and the atom's own arithmetic stay float32 (or float64 where the atom
asks for it); matmuls, batched matmuls and convolutions run in bfloat16 (on CPUs with avx512_bf16
their throughput is several times fp32's, but a batch-1 matmul is slower). Trials computed this
way are stored under their own dtype key, so they never mix with fp32 trials, and
`deepatoms precision-check` reports whether bf16 changes any atom's verdict.
"""
from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

from .errors import DeepatomsError

PRECISIONS = ("fp32", "bf16")
# The dtype recorded in the store for each precision (the trial key has device and dtype).
STORE_DTYPE = {"fp32": "float32", "bf16": "bfloat16-autocast"}


def check_precision(precision: object) -> str:
    if precision not in PRECISIONS:
        raise DeepatomsError(f"unknown precision {precision!r:.40}; allowed: "
                             f"{', '.join(PRECISIONS)}")
    return str(precision)


def autocast(precision: str, device: torch.device) -> ContextManager:
    """The context an atom's run executes in: nothing for fp32, bf16 autocast for bf16."""
    if check_precision(precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


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
