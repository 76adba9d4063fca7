"""An atom's typed `Params` as a form schema (field kinds, bounds, defaults, presets), and its
metadata and latest verdict as plain JSON for the pages and the API."""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from ..params import field_types

if TYPE_CHECKING:
    from ..atom import Atom

_KINDS = {int: "int", float: "float", str: "str", bool: "bool"}


def _kind(tp: Any) -> tuple[str, str | None, list[Any] | None]:
    """(kind, item kind of a list, choices) of a parameter type."""
    origin = get_origin(tp)
    if origin is tuple:
        inner, item, choices = _kind(get_args(tp)[0])
        return "list", inner, choices
    if origin is Literal:
        return "choice", None, list(get_args(tp))
    return _KINDS.get(tp, "str"), None, None


def json_value(value: Any) -> Any:
    """A parameter value as JSON (lists for tuples; non-finite floats as text)."""
    if isinstance(value, tuple):
        return [json_value(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def params_schema(atom: "Atom") -> list[dict[str, Any]]:
    """One entry per parameter: name, kind (int, float, str, bool, choice, list), item kind and
    choices, the source's value (`default`), help, bounds and list rules."""
    types = field_types(atom.Params)
    out = []
    for f in dataclasses.fields(atom.Params):
        kind, item, choices = _kind(types[f.name])
        meta = f.metadata
        out.append({"name": f.name, "kind": kind, "item": item,
                    "choices": json_value(tuple(meta.get("choices") or ())) or choices,
                    "default": json_value(f.default), "help": meta.get("help", ""),
                    **{k: meta.get(k) for k in ("ge", "gt", "le", "lt")},
                    "min_len": meta.get("min_len", 1), "requires": list(meta.get("requires", ()))})
    return out


def presets(atom: "Atom") -> dict[str, dict[str, Any]]:
    """Every preset's full parameter values (the source's defaults for "default")."""
    return {name: {k: json_value(v) for k, v in atom.params(name).to_dict().items()}
            for name in atom.preset_names}


def verdict_summary(run: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stored run's verdict as the pages show it: id, status, label, scale, seeds, when."""
    if not run or not isinstance(run.get("verdict"), dict):
        return None
    v = run["verdict"]
    scale = v.get("scale", "full")
    label = v.get("status") if scale == "full" else \
        "indicative: " + {"reproduced": "for the claim", "not reproduced": "against the claim"
                          }.get(v.get("indicative") or "", "undecided")
    return {"run_id": run["id"], "status": v.get("status"), "label": label, "scale": scale,
            "finding": v.get("finding", ""), "seeds": run.get("seeds"),
            "preset": run.get("preset"), "created": run.get("created"),
            "evidence": v.get("evidence", []), "scale_reasons": v.get("scale_reasons", []),
            "seeds_note": v.get("seeds_note", ""), "indicative": v.get("indicative", ""),
            "parts": v.get("parts") or []}


def finite(value: Any) -> Any:
    """`value` with every non-finite float as None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def atom_summary(atom: "Atom", latest: dict[str, Any] | None) -> dict[str, Any]:
    return {"name": atom.name, "family": atom.family, "title": atom.title,
            "claim": atom.claim, "runtime_s": atom.runtime_s,
            "verdict": finite(verdict_summary(latest))}


def atom_detail(atom: "Atom", latest: dict[str, Any] | None) -> dict[str, Any]:
    return {**atom_summary(atom, latest), "question": atom.question, "method": atom.method,
            "sources": list(atom.sources), "default_seeds": atom.default_seeds,
            "params": params_schema(atom), "presets": presets(atom)}
