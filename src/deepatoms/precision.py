"""Opt-in reduced precision: `--precision bf16` runs an atom with oneDNN's bf16 math mode.

Every tensor stays float32 (or float64 where the atom asks for it), so each atom runs as
written; float32 matmuls, batched matmuls and convolutions are computed by oneDNN with bfloat16
arithmetic inside (`torch.backends.mkldnn.{matmul,conv}.fp32_precision = "bf16"`). Measured on
the 2-core development CPU (avx512_bf16, one thread): a 2048×512 by 512×512 matmul 2.5× faster,
a 64×256×256 bmm 1.6× faster, max |Δ| ≈ 1e-4 against fp32. (`torch.autocast` to bfloat16 is
faster still, 4.7× on that matmul, but its outputs are bfloat16 tensors that many atoms pass on
to NumPy, which has no bfloat16.) Trials computed this way are stored under their own dtype key,
so they never mix with fp32 trials, and `deepatoms precision-check` reports whether bf16
changes any atom's verdict.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import torch

from .errors import DeepatomsError

PRECISIONS = ("fp32", "bf16")
# The dtype recorded in the store for each precision (the trial key has device and dtype).
STORE_DTYPE = {"fp32": "float32", "bf16": "float32-bf16-math"}


def check_precision(precision: object) -> str:
    if precision not in PRECISIONS:
        raise DeepatomsError(f"unknown precision {precision!r:.40}; allowed: "
                             f"{', '.join(PRECISIONS)}")
    return str(precision)


def check_device(precision: str, device: torch.device) -> None:
    """bf16 math mode is oneDNN's: refuse it for a CUDA run before anything runs."""
    if check_precision(precision) != "fp32" and device.type != "cpu":
        raise DeepatomsError(f"--precision {precision} is CPU-only (oneDNN's bf16 math mode); "
                             f"use --device cpu or --precision fp32")


def precision_of(store_dtype: str) -> str:
    """The precision a trial's stored dtype stands for (a plain dtype: fp32 arithmetic)."""
    return next((k for k, v in STORE_DTYPE.items() if v == store_dtype and k != "fp32"), "fp32")


@contextlib.contextmanager
def math_mode(precision: str, device: torch.device) -> Iterator[None]:
    """The context an atom's run executes in: nothing for fp32; for bf16, oneDNN's bf16 math
    mode for float32 matmuls and convolutions (tensors stay float32, so every atom runs as
    written; the previous mode is restored after). CPU only."""
    if check_precision(precision) == "fp32":
        yield
        return
    check_device(precision, device)
    backends = (torch.backends.mkldnn.matmul, torch.backends.mkldnn.conv)
    before = [b.fp32_precision for b in backends]
    try:
        for b in backends:
            b.fp32_precision = "bf16"
        yield
    finally:
        for b, mode in zip(backends, before):
            b.fp32_precision = mode


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
    from . import api
    from .errors import DeepatomsError as Refused
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
