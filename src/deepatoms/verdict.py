"""Verdicts: the status of a claim, a one-sentence finding, and the evidence rows behind it."""
from __future__ import annotations

import dataclasses
import math
from typing import Literal

Status = Literal["reproduced", "not reproduced", "inconclusive"]
STATUSES: tuple[str, ...] = ("reproduced", "not reproduced", "inconclusive")


@dataclasses.dataclass(frozen=True)
class Evidence:
    """One measured quantity that bears on the claim.

    `supports` is True when the measurement backs the claim (its CI clears the threshold in the
    claimed direction), False when it contradicts it, None when the data cannot tell.
    """
    metric: str
    estimate: float
    ci_low: float
    ci_high: float
    n: int
    test: str
    threshold: str
    supports: bool | None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("estimate", "ci_low", "ci_high"):
            d[k] = None if d[k] is None or not math.isfinite(d[k]) else float(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Evidence":
        vals = {k: (math.nan if d[k] is None and k in ("estimate", "ci_low", "ci_high") else d[k])
                for k in (f.name for f in dataclasses.fields(cls))}
        return cls(**vals)


@dataclasses.dataclass(frozen=True)
class Verdict:
    status: Status
    finding: str
    evidence: tuple[Evidence, ...]

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if not self.evidence:
            raise ValueError("a verdict needs at least one evidence row")

    def to_dict(self) -> dict:
        return {"status": self.status, "finding": self.finding,
                "evidence": [e.to_dict() for e in self.evidence]}

    @classmethod
    def from_dict(cls, d: dict) -> "Verdict":
        return cls(d["status"], d["finding"], tuple(Evidence.from_dict(e) for e in d["evidence"]))


def combine(evidence: list[Evidence] | tuple[Evidence, ...]) -> Status:
    """All rows support → reproduced; any contradicts → not reproduced; otherwise inconclusive."""
    flags = [e.supports for e in evidence]
    if any(f is False for f in flags):
        return "not reproduced"
    if all(f is True for f in flags):
        return "reproduced"
    return "inconclusive"


def decide(evidence: list[Evidence], finding: str) -> Verdict:
    """The verdict whose status follows from the evidence rows alone."""
    return Verdict(combine(evidence), finding, tuple(evidence))
