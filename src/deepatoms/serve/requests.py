"""What a page or a script submits, checked by the CLI's own validators before anything runs:
the atom, the preset, the seeds (a count, a list or "auto"), the parameters (through the atom's
typed `Params`), the memory estimate against this machine; a probe's parameter and values.

Every failure is a `FieldError` naming the field (a parameter's name, "atom", "preset",
"seeds", "key", "values") with the validator's one-line message."""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..catalog import registry
from ..errors import DeepatomsError, UnknownAtomError
from ..execution import resources
from ..execution.seeds import is_auto, parse_seeds, seed_plan
from ..execution.validate import MAX_SEEDS, check_optional_count
from ..params import Params

MAX_TEXT = 10_000  # longest parameter text accepted (longer is refused, not parsed)
_FIELD_RE = re.compile(r"parameter '([^']+)'")


class FieldError(DeepatomsError):
    """Bad input: `field` names what is wrong (422 in the API)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A checked run: the atom, its preset, seeds (a tuple or "auto"), the parameters that
    differ from the preset (`overrides`), the full parameters and the run's estimate."""
    atom: str
    preset: str
    seeds: tuple[int, ...] | str
    overrides: dict[str, Any]
    params: Params
    estimate_s: float
    memory_bytes: float
    seeds_per_batch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        from .schema import json_value
        return {"atom": self.atom, "preset": self.preset,
                "seeds": self.seeds if isinstance(self.seeds, str) else list(self.seeds),
                "overrides": {k: json_value(v) for k, v in self.overrides.items()},
                "params": {k: json_value(v) for k, v in self.params.to_dict().items()},
                "estimate_s": round(self.estimate_s, 1), "memory_bytes": self.memory_bytes,
                "seeds_per_batch": self.seeds_per_batch}


def _text(field: str, value: Any, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise FieldError(field, f"{field} must be a non-empty name, got {str(value)[:60]!r}")
    return value.strip()


def check_atom(body: dict[str, Any]) -> Any:
    name = _text("atom", body.get("atom"))
    try:
        return registry.get(name)
    except UnknownAtomError as exc:
        raise FieldError("atom", str(exc)) from None


def _plain(value: Any) -> Any:
    """A submitted value as the CLI's parser takes it: text stays text, JSON lists become
    tuples; anything else (objects, nested lists) is refused by the type check."""
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise ValueError("is too long")
    return value


def check_params(atom: Any, preset: str, submitted: Any) -> tuple[Params, dict[str, Any]]:
    """(parameters, overrides): the preset's values with the submitted ones, through `Params`."""
    if submitted is None:
        submitted = {}
    if not isinstance(submitted, dict):
        raise FieldError("params", "params must be an object of parameter: value")
    if preset != "default" and preset not in atom.presets:
        try:
            atom.params(preset)
        except DeepatomsError as exc:
            raise FieldError("preset", str(exc)) from None
    base = atom.params(preset).to_dict()
    try:
        values = {str(k): _plain(v) for k, v in submitted.items()}
        params = atom.params(preset, **values)
    except ValueError as exc:
        raise FieldError("params", f"a parameter value {exc}") from None
    except DeepatomsError as exc:
        found = _FIELD_RE.search(str(exc))
        raise FieldError(found.group(1) if found else "params", str(exc)) from None
    full = params.to_dict()
    overrides = {k: getattr(params, k) for k in full if full[k] != base[k]}
    return params, overrides


def check_seeds(atom: Any, seeds: Any) -> tuple[tuple[int, ...] | str, int]:
    """(seeds, how many compute first): a count, a list, text "7,8,9", or "auto"."""
    try:
        if is_auto(seeds):
            return "auto", seed_plan(atom, None).start
        if isinstance(seeds, bool):
            raise DeepatomsError(f"seeds must be a count, a list or auto, got {seeds!r}")
        parsed = parse_seeds(seeds, atom.default_seeds)
        return parsed, len(parsed)
    except DeepatomsError as exc:
        raise FieldError("seeds", str(exc)) from None


def check_run(body: Any) -> RunSpec:
    """A run request `{"atom", "preset", "seeds", "params"}` (and optionally
    `seeds_per_batch`, as `--seeds-per-batch`) checked; FieldError on bad input."""
    if not isinstance(body, dict):
        raise FieldError("body", "the request must be a JSON object")
    atom = check_atom(body)
    preset = _text("preset", body.get("preset"), "default")
    params, overrides = check_params(atom, preset, body.get("params"))
    seeds, n_first = check_seeds(atom, body.get("seeds"))
    try:
        per_batch = check_optional_count("seeds_per_batch", body.get("seeds_per_batch"), 1,
                                         MAX_SEEDS)
    except DeepatomsError as exc:
        raise FieldError("seeds_per_batch", str(exc)) from None
    try:
        est = resources.check(atom, params, n_first, "cpu", seeds_per_batch=per_batch)
    except DeepatomsError as exc:
        raise FieldError("seeds" if n_first > 1 else "params", str(exc)) from None
    return RunSpec(atom.name, preset, seeds, overrides, params, est.seconds, est.memory_bytes,
                   per_batch)


def estimate(body: Any) -> dict[str, Any]:
    """What the form shows while the user edits: the estimate, or the field at fault."""
    try:
        spec = check_run(body)
    except FieldError as exc:
        return {"ok": False, "field": exc.field, "message": str(exc)}
    return {"ok": True, **spec.to_dict()}


def probe_values(atom: Any, body: dict[str, Any]) -> tuple[str, list[Any]]:
    """(key, values) of a probe: `values` a list or text "a,b,c" (";" between list values), or
    `range` {"start", "stop", "num"} of evenly spaced numbers."""
    from ..params import field_types
    key = _text("key", body.get("key"))
    types = field_types(atom.Params)
    if key not in types:
        raise FieldError("key", f"unknown parameter '{key}'; allowed: {', '.join(types)}")
    values = body.get("values")
    if body.get("range") is not None:
        values = _range(body["range"], types[key])
    elif isinstance(values, str):
        sep = ";" if getattr(types[key], "__origin__", None) is tuple else ","
        values = [v.strip() for v in values.split(sep) if v.strip()]
    if not isinstance(values, list) or not 2 <= len(values) <= 20:
        raise FieldError("values", "a probe needs a list of 2 to 20 values (or a range)")
    if len({str(v) for v in values}) != len(values):
        raise FieldError("values", f"probing '{key}' repeats a value: {values}")
    return key, values


def _range(spec: Any, tp: Any) -> list[Any]:
    try:
        start, stop, num = float(spec["start"]), float(spec["stop"]), int(spec["num"])
    except (TypeError, KeyError, ValueError):
        raise FieldError("values", "range must be {start, stop, num} numbers") from None
    if not 2 <= num <= 20:
        raise FieldError("values", f"range num must be between 2 and 20, got {num}")
    points = [start + (stop - start) * i / (num - 1) for i in range(num)]
    return [int(round(p)) for p in points] if tp is int else points


def check_probe(body: Any) -> tuple[RunSpec, str, list[Any]]:
    """A probe request: a run request plus `key` and `values` (or `range`); every value is
    checked through `Params` (the field at fault is the key)."""
    if not isinstance(body, dict):
        raise FieldError("body", "the request must be a JSON object")
    atom = check_atom(body)
    key, values = probe_values(atom, body)
    params = dict(body.get("params") or {}) if isinstance(body.get("params"), dict) else {}
    params.pop(key, None)
    specs = [check_run({**body, "params": {**params, key: v}}) for v in values]
    total = sum(s.estimate_s for s in specs)
    spec = dataclasses.replace(specs[0], estimate_s=total)
    return spec, key, [str(v) if not isinstance(v, list) else ",".join(map(str, v))
                       for v in values]
