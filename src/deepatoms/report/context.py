"""What each report page shows, computed from a stored run and the catalog (no HTML here).

A stored run is the dict of `Store.latest_runs()` (the run that stands for the atom: its latest
full-scale run; store/standing.py): atom, preset, params, canonical, code_version, seeds, verdict,
wall_s, computed_s, env, command, created. A run's cost is its computed time and where it ran
(store/cost.py), not the wall time of its own step.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Any

from .. import registry
from ..atom import Atom
from ..store.cost import cost_text
from ..verdict import STATUSES, Verdict
from .format import duration, plain, value_text, when
from .html import evidence_row
from .parts import secondary_lines, shows_parts

NOT_RUN = "not run"
UNREADABLE = "unreadable"
FAMILY_TITLES: dict[str, str] = {
    "atoms": "Atomic Experiments in Deep Learning (seed 003)",
    "failures": "Failures of Gradient-Based Deep Learning (seed 000)",
    "generalization": "Memorisation, loss surfaces, forgetting, evaluation (seeds 001, 002, 004)",
    "robustness": "Adversarial examples, fooling images, fragile explanations",
    "architecture": "Initialisation, convolutions, derivatives, meta-learning (seeds 001, 004)",
}
ENV_ORDER = ("deepatoms", "python", "torch", "numpy", "platform", "device", "gpu", "threads")
RUN_KEYS = ("computed_on",)  # in a run's env record, shown under Runtime, not Environment
FINDING_CHARS = 160  # a one-line finding in tables; the page keeps the paragraph


@dataclasses.dataclass
class FigureFile:
    name: str
    src: str  # path relative to the atom page
    caption: str = ""  # a sentence: what the figure shows (captions.py)


@dataclasses.dataclass
class AtomPage:
    """Everything one atom page shows; `atom` is None when the atom left the catalog."""
    name: str
    slug: str
    run: dict[str, Any]
    atom: Atom | None
    status: str
    finding: str
    evidence: list[dict[str, str]]
    params: list[dict[str, Any]]
    runtime: list[tuple[str, str]]
    env: list[tuple[str, str]]
    notes: list[str]
    figures: list[FigureFile] = dataclasses.field(default_factory=list)
    table_csv: str | None = None
    scale_reasons: tuple[str, ...] = ()   # non-empty: a reduced-scale run (an indication)
    seeds_note: str = ""                  # --seeds auto: when it decided
    probe: dict[str, Any] | None = None   # the latest `deepatoms probe` of this atom
    newer_reduced: dict[str, Any] | None = None  # a later reduced-scale run, shown beside
    undecided: list[str] = dataclasses.field(default_factory=list)  # evidence rows undecided
    # the claim parts (title, status, reason) where they say more than the headline
    parts: list[dict[str, str]] = dataclasses.field(default_factory=list)
    secondary: list[str] = dataclasses.field(default_factory=list)  # for the index: see parts.py

    @property
    def href(self) -> str:
        return f"atoms/{self.slug}.html"

    @property
    def wall(self) -> str:
        return duration(self.run.get("wall_s"))

    @property
    def cost(self) -> str:
        """Computed time and where it ran ('49 s on 2 worker processes ...', 'cached')."""
        return cost_text(self.run, duration)

    @property
    def short_finding(self) -> str:
        return one_line(self.finding)

    @property
    def when(self) -> str:
        return when(self.run.get("created"))


def read_verdict(run: dict[str, Any]) -> Verdict | None:
    """The stored verdict, or None when the record cannot be decoded."""
    try:
        return Verdict.from_dict(run["verdict"])
    except (KeyError, TypeError, ValueError):
        return None


def param_rows(values: dict[str, Any], atom: Atom | None) -> list[dict[str, Any]]:
    """name, value, default, help, changed — stored values against the catalog's defaults."""
    fields = {f.name: f for f in dataclasses.fields(atom.Params)} if atom else {}
    rows = []
    for name in [*values, *(n for n in fields if n not in values)]:
        f = fields.get(name)
        default = _default(f) if f is not None else None
        value = values.get(name)
        rows.append({"name": name,
                     "value": value_text(value) if name in values else "— (not recorded)",
                     "default": value_text(default) if f is not None else "— (no longer a parameter)",
                     "help": f.metadata.get("help", "") if f is not None else "",
                     "changed": f is None or name not in values or value != default})
    return rows


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return plain(f.default)
    if f.default_factory is not dataclasses.MISSING:
        return plain(f.default_factory())
    return None


def one_line(finding: str, limit: int = FINDING_CHARS) -> str:
    """A finding's first sentence, capped at `limit` characters (tables show this; the atom's
    page keeps the whole paragraph)."""
    text = " ".join(str(finding).split())
    for i, ch in enumerate(text):
        if ch in ".;" and (i + 1 == len(text) or text[i + 1] == " ") and i > 20:
            text = text[:i + 1] if ch == "." else text[:i]
            break
    return text if len(text) <= limit else text[:limit - 1].rsplit(" ", 1)[0] + "…"


def env_rows(env: dict[str, Any], trial_threads: str | None = None) -> list[tuple[str, str]]:
    """The run's environment; `trial_threads` (the torch threads its stored trials recorded)
    replaces the driver's own thread count, which is not what computed."""
    env = {k: v for k, v in env.items() if k not in RUN_KEYS}
    if trial_threads:
        env["threads"] = trial_threads
    keys = [k for k in ENV_ORDER if k in env] + sorted(k for k in env if k not in ENV_ORDER)
    return [(k, value_text(env[k])) for k in keys]


def trial_threads(records: list[dict[str, Any]]) -> str | None:
    """'1' (or '1, 2') from the trial records of a run; None when none recorded threads."""
    found = sorted({int(t["threads"]) for t in records if t.get("threads") is not None})
    return ", ".join(map(str, found)) + " (per trial)" if found else None


def runtime_rows(run: dict[str, Any], atom: Atom | None) -> list[tuple[str, str]]:
    """Computed time and where, wall time, which seeds came from the cache, the estimate."""
    seeds = run.get("seeds") or []
    cached = run.get("cached_seeds")
    if cached is not None:
        cached_text = value_text(cached) if cached else "none"
    elif run.get("computed_s") == 0:
        cached_text = f"all {len(seeds)} (nothing was computed)"
    else:
        cached_text = "not recorded in the run record"
    rows = [("computed (training) time", cost_text(run, duration)),
            ("wall time of its own step", duration(run.get("wall_s"))),
            ("seeds", value_text(seeds)), ("seeds loaded from the cache", cached_text),
            ("run at", when(run.get("created")))]
    if atom is not None:
        rows.append((f"catalog estimate (default preset, {atom.default_seeds} seeds)",
                     duration(atom.runtime_s)))
    return rows


def page_notes(run: dict[str, Any], atom: Atom | None, verdict: Verdict | None) -> list[str]:
    notes = []
    if atom is None:
        notes.append(f"'{run['atom']}' is no longer in the catalog: this page shows the stored "
                     "verdict only; its figures cannot be redrawn.")
    elif run.get("code_version") != atom.code_version:
        notes.append(f"The atom's code changed since this run (run with {run.get('code_version')}, "
                     f"now {atom.code_version}); rerun it to refresh the verdict.")
    if run.get("preset", "default") != "default" and not (verdict and verdict.scale == "reduced"):
        notes.append(f"Run with the '{run.get('preset')}' preset; the source's configuration is "
                     "the default preset.")
    if verdict is None:
        notes.append("The stored verdict could not be read.")
    return notes


def undecided_rows(verdict: Verdict | None) -> list[str]:
    """'metric (setting)' of each evidence row that neither supports nor contradicts."""
    if verdict is None:
        return []
    return [e.metric + (f" ({e.setting})" if e.setting else "")
            for e in verdict.evidence if e.supports is None]


def atom_page(run: dict[str, Any], atom: Atom | None, slug: str,
              threads: str | None = None) -> AtomPage:
    """The page of one stored run (figures and table are added by the builder); `threads`:
    what its trials recorded (`trial_threads`)."""
    verdict = read_verdict(run)
    return AtomPage(
        name=run["atom"], slug=slug, run=run, atom=atom,
        status=verdict.label if verdict else UNREADABLE,
        finding=verdict.finding if verdict else "",
        scale_reasons=verdict.scale_reasons if verdict else (),
        seeds_note=verdict.seeds_note if verdict else "",
        evidence=[evidence_row(e) for e in verdict.evidence] if verdict else [],
        params=param_rows(run.get("params") or {}, atom), runtime=runtime_rows(run, atom),
        env=env_rows(run.get("env") or {}, threads), notes=page_notes(run, atom, verdict),
        undecided=undecided_rows(verdict) if verdict and verdict.status == "inconclusive"
        and verdict.scale == "full" and not (verdict.parts and verdict.parts[0].reason) else [],
        parts=[p.to_dict() for p in verdict.parts] if verdict and shows_parts(verdict) else [],
        secondary=secondary_lines(verdict) if verdict else [])


def index_groups(pages: dict[str, AtomPage]) -> list[dict[str, Any]]:
    """Catalog atoms by family (in catalog order), each with its page or None when never run."""
    groups = []
    for family in registry.FAMILIES:
        atoms = registry.family(family)
        if atoms:
            groups.append({"family": family, "title": FAMILY_TITLES.get(family, family),
                           "rows": [{"atom": a, "page": pages.get(a.name)} for a in atoms]})
    return groups


def status_counts(pages: dict[str, AtomPage]) -> list[tuple[str, int]]:
    """How many catalog atoms have each status (including 'not run')."""
    catalog = registry.all_atoms()
    counts = collections.Counter(pages[n].status if n in pages else NOT_RUN for n in catalog)
    indicative = sorted(s for s in counts if s.startswith("indicative"))
    order = [*STATUSES, *indicative, NOT_RUN, UNREADABLE]
    return [(s, counts[s]) for s in order if counts[s] or s in (*STATUSES, NOT_RUN)]


def environment_summary(runs: dict[str, dict[str, Any]],
                        threads: dict[str, str | None] | None = None) -> list[tuple[str, str]]:
    """Each environment key with its distinct values across runs (and how many runs each);
    `threads`: per atom, the torch threads its trials recorded (`trial_threads`)."""
    values: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    threads = threads or {}
    for name, run in runs.items():
        for key, value in env_rows(run.get("env") or {}, threads.get(name)):
            values[key][value] += 1
    keys = [k for k in ENV_ORDER if k in values] + sorted(k for k in values if k not in ENV_ORDER)
    out = []
    for key in keys:
        counter = values[key]
        if len(counter) == 1:
            out.append((key, next(iter(counter))))
        else:
            out.append((key, " · ".join(f"{v} ({n} run{'s' if n > 1 else ''})"
                                        for v, n in counter.most_common())))
    return out
