"""Verdicts: the status of a claim, a one-sentence finding, and the evidence rows behind it.

The confidence level in force lives here (`stats` re-exports it): `decide` needs it to correct
the rows' contradictions for multiplicity (Holm), judges need it for their intervals.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
from typing import Iterator, Literal

Status = Literal["reproduced", "not reproduced", "inconclusive"]
STATUSES: tuple[str, ...] = ("reproduced", "not reproduced", "inconclusive")

CONFIDENCE = 0.95
_LEVEL: contextvars.ContextVar[float] = contextvars.ContextVar("confidence", default=CONFIDENCE)


def confidence() -> float:
    """The two-sided confidence level in force (0.95 unless `at_confidence` says otherwise)."""
    return _LEVEL.get()


def one_sided_alpha() -> float:
    """The error rate of each direction of a two-sided interval at the level in force (.025)."""
    return (1 - confidence()) / 2


@contextlib.contextmanager
def at_confidence(level: float) -> Iterator[None]:
    """Judge at another two-sided confidence level inside the block (e.g. a Bonferroni-adjusted
    level for one look of a sequential procedure)."""
    if not 0.5 <= level < 1:
        raise ValueError(f"confidence level must be in [0.5, 1), got {level}")
    token = _LEVEL.set(level)
    try:
        yield
    finally:
        _LEVEL.reset(token)


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
    note: str = ""      # e.g. censoring ("≥ 1,500 steps in 2 of 5 seeds") or the test used instead
    setting: str = ""   # the setting the row is about, as "key=value" (judges cover what was run)
    # One-sided p of the contradiction (the data against the claim); None where the row's
    # decision is no test (an exact count of what was observed, an exact computation).
    p_against: float | None = None
    # p_against after Holm's correction over the tested rows of its claim part (set by `decide`).
    p_adjusted: float | None = None
    # The claim part the row bears on: "" is the source's central claim; other parts are
    # secondary (an extension, a catalog add-on), each with its own status.
    part: str = ""
    # A positive control: a row that must hold for the experiment to be able to show the
    # effect at this scale. `supports` True means the control holds. A control guards its
    # `part` ("*": every part); a control that does not hold makes the part inconclusive.
    control: bool = False

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("estimate", "ci_low", "ci_high"):
            d[k] = None if d[k] is None or not math.isfinite(d[k]) else float(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Evidence":
        vals = {k: (math.nan if d[k] is None and k in ("estimate", "ci_low", "ci_high") else d[k])
                for k in (f.name for f in dataclasses.fields(cls)) if k in d}
        return cls(**vals)


CENTRAL = ""  # the part name of the source's central claim


@dataclasses.dataclass(frozen=True)
class Part:
    """The status of one part of the claim: the central one (name "") decides the headline."""
    name: str
    status: Status
    reason: str = ""  # why the rows' own status was not kept ("control failed: ...")

    @property
    def title(self) -> str:
        return self.name or "central claim"

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "status": self.status,
                "reason": self.reason}

    @classmethod
    def from_dict(cls, d: dict) -> "Part":
        return cls(d["name"], d["status"], d.get("reason", ""))


SCALES = ("full", "reduced")
# What a reduced-scale run's evidence points to (it never refutes nor confirms a claim).
LEANINGS = {"reproduced": "for the claim", "not reproduced": "against the claim",
            "inconclusive": "undecided"}


@dataclasses.dataclass(frozen=True)
class Verdict:
    status: Status
    finding: str
    evidence: tuple[Evidence, ...]
    scale: str = "full"            # "reduced": below the claim's scale (quick preset, shrunk steps)
    scale_reasons: tuple[str, ...] = ()
    indicative: str = ""           # for a reduced run: what the evidence alone would say
    seeds_note: str = ""           # --seeds auto: "decided after 15 seeds (...)"
    parts: tuple[Part, ...] = ()   # each claim part's status (`decide`); the central one first

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if not self.evidence:
            raise ValueError("a verdict needs at least one evidence row")
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale!r}")

    @property
    def label(self) -> str:
        """The status as shown to a reader: a reduced run is an indication, visibly apart."""
        if self.scale == "reduced":
            return f"indicative: {LEANINGS[self.indicative or 'inconclusive']}"
        return self.status

    def at_scale(self, scale: str, reasons: tuple[str, ...] = ()) -> "Verdict":
        """This verdict for a run at `scale`: below the claim's scale the status is
        'inconclusive' and the measured status is kept only as an indication."""
        if scale == "full":
            return dataclasses.replace(self, scale="full", scale_reasons=(), indicative="")
        raw = self.indicative or self.status
        return dataclasses.replace(self, status="inconclusive", scale=scale,
                                   scale_reasons=tuple(reasons), indicative=raw)

    def to_dict(self) -> dict:
        return {"status": self.status, "label": self.label, "finding": self.finding,
                "scale": self.scale, "scale_reasons": list(self.scale_reasons),
                "indicative": self.indicative or None, "seeds_note": self.seeds_note,
                "evidence": [e.to_dict() for e in self.evidence],
                "parts": [p.to_dict() for p in self.parts]}

    @classmethod
    def from_dict(cls, d: dict) -> "Verdict":
        return cls(d["status"], d["finding"], tuple(Evidence.from_dict(e) for e in d["evidence"]),
                   d.get("scale", "full"), tuple(d.get("scale_reasons", ())),
                   d.get("indicative") or "", d.get("seeds_note", ""),
                   tuple(Part.from_dict(p) for p in d.get("parts", ())))

    @property
    def controls(self) -> tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if e.control)


def combine(evidence: list[Evidence] | tuple[Evidence, ...]) -> Status:
    """All rows support → reproduced; any contradicts → not reproduced; otherwise inconclusive."""
    flags = [e.supports for e in evidence]
    if any(f is False for f in flags):
        return "not reproduced"
    if all(f is True for f in flags):
        return "reproduced"
    return "inconclusive"


def holm(evidence: list[Evidence] | tuple[Evidence, ...], alpha: float | None = None
         ) -> list[Evidence]:
    """The rows with Holm's step-down correction applied to their contradictions.

    A verdict refutes the claim if any row contradicts it, so with m tested rows (those with a
    `p_against`) each contradiction must survive Holm's correction at the one-sided level
    `alpha` (that of the level in force by default): the familywise chance of a false refutation
    stays ≤ alpha. A contradiction that does not survive becomes undecided. Every tested row
    gets its adjusted p; support needs no correction (all rows must support at once).
    """
    alpha = one_sided_alpha() if alpha is None else alpha
    tested = sorted((e.p_against, i) for i, e in enumerate(evidence) if e.p_against is not None)
    m, running, adjusted = len(tested), 0.0, {}
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    out = []
    for i, e in enumerate(evidence):
        if i not in adjusted:
            out.append(e)
            continue
        p_adj, change = adjusted[i], {"p_adjusted": adjusted[i]}
        if e.supports is False:
            kept = p_adj < alpha
            change["supports"] = False if kept else None
            text = (f"contradicts: p = {e.p_against:.2g}, Holm-adjusted over {m} rows "
                    f"p = {p_adj:.2g}" + ("" if kept else f" ≥ {alpha:.3g}: undecided"))
            change["note"] = f"{e.note}; {text}" if e.note else text
        out.append(dataclasses.replace(e, **change))
    return out


def control_text(e: Evidence) -> str:
    """A control row as a reason: "control failed: teacher − student errors (T=4) = 3.5
    [−0.2, 7.1], needs > 5; at 20 seeds it would pass"."""
    where = f" ({e.setting})" if e.setting else ""
    text = (f"control failed: {e.metric}{where} = {e.estimate:.4g} "
            f"[{e.ci_low:.4g}, {e.ci_high:.4g}], needs {e.threshold}")
    return f"{text}; {e.note}" if e.note else text


def judge_parts(rows: list[Evidence]) -> tuple[Part, ...]:
    """Each part's status: its claim rows' combined status, made inconclusive by any control
    guarding it (its own or a "*" control) that does not hold. The central part comes first."""
    names = [CENTRAL] + [n for n in dict.fromkeys(e.part for e in rows)
                         if n not in (CENTRAL, "*")]
    parts = []
    for name in names:
        claim = [e for e in rows if e.part == name and not e.control]
        if not claim:
            raise ValueError(f"claim part {name or 'central'!r} has no claim row (controls only)")
        failed = [e for e in rows if e.control and e.part in (name, "*") and e.supports is not True]
        status = combine(claim)
        if failed:
            parts.append(Part(name, "inconclusive", "; ".join(control_text(e) for e in failed)))
        else:
            parts.append(Part(name, status))
    return tuple(parts)


def decide(evidence: list[Evidence], finding: str) -> Verdict:
    """The verdict of the evidence rows alone. Contradictions are corrected for multiplicity by
    `holm` within each claim part (controls are not corrected: each must hold by itself); each
    part gets its status (`judge_parts`), and the central part's status is the headline."""
    rows: list[Evidence] = list(evidence)
    for name in dict.fromkeys(e.part for e in evidence if not e.control):
        idx = [i for i, e in enumerate(evidence) if e.part == name and not e.control]
        for i, fixed in zip(idx, holm([evidence[i] for i in idx])):
            rows[i] = fixed
    parts = judge_parts(rows)
    if parts[0].reason:  # the finding reads the rows; say why they decide nothing
        finding = f"{finding} Undecided: {parts[0].reason}."
    return Verdict(parts[0].status, finding, tuple(rows), parts=parts)


def setting_value(value: object) -> str:
    """How a setting's value is written in an evidence row ("d=28", "lr=0.01", "init=ones")."""
    if isinstance(value, (bool, str)):
        return str(value)
    try:
        f = float(value)  # numbers, numpy scalars
    except (TypeError, ValueError):
        return str(value)
    return str(int(f)) if f.is_integer() else f"{f:.6g}"


def setting_label(**settings: object) -> str:
    """`setting_label(d=28)` → "d=28"; several keys joined by "; ". A value "*" means the row
    uses every value of that setting (a trend over all widths)."""
    return "; ".join(f"{k}={setting_value(v)}" for k, v in settings.items())


def covered_settings(evidence: "tuple[Evidence, ...] | list[Evidence]") -> dict[str, set[str]]:
    """Setting name -> the values that some evidence row is about ("*": all of them)."""
    out: dict[str, set[str]] = {}
    for e in evidence:
        for part in filter(None, (p.strip() for p in e.setting.split(";"))):
            key, _, value = part.partition("=")
            out.setdefault(key.strip(), set()).add(value.strip())
    return out
