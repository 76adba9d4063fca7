"""Typed, validated atom parameters.

Every atom declares a frozen dataclass subclassing `Params`; each field is made with `param()`,
whose default is the source's configuration. Presets are *overrides* of those defaults, never
copies. Values given as text (`--set key=value`) are parsed by the field's declared type.
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
import typing
from typing import Any, Literal, get_args, get_origin

from .errors import ParamError, did_you_mean


def param(default: Any, help: str = "", *, ge: float | None = None, gt: float | None = None,
          le: float | None = None, lt: float | None = None, choices: tuple | None = None,
          nonempty: bool = True, finite: bool = True, distinct: bool = True,
          requires: tuple = (), min_len: int = 1) -> Any:
    """A parameter field: default, one-line help, and bounds checked on every element.

    Numbers must be finite unless `finite=False`. For list parameters: values must be distinct
    unless `distinct=False` (layer widths may repeat, a sweep's settings may not), `requires`
    names the reference arms the claim compares against (each must be listed), and `min_len`
    the fewest values the claim needs (a trend needs two settings).
    """
    meta = dict(help=help, ge=ge, gt=gt, le=le, lt=lt, choices=choices, nonempty=nonempty,
                finite=finite, distinct=distinct, requires=tuple(requires), min_len=min_len)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class Params:
    """Base class. Subclasses add fields with `param()` and may override `check()`."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            _check_type(f.name, value, hints[f.name])
            _check_bounds(f.name, value, f.metadata)
        self.check()

    def check(self) -> None:
        """Cross-field constraints; raise ParamError naming the fields."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def canonical(self) -> str:
        """Canonical JSON of the parameters (the cache key's parameter part)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


_TYPE_WORDS = {int: ("an integer", "integers"), float: ("a number", "numbers"),
               str: ("a string", "strings"), bool: ("true or false", "booleans")}


def describe_type(tp: Any, plural: bool = False) -> str:
    """Type in words, with its article: "an integer", "a list of numbers", "one of a|b"."""
    origin = get_origin(tp)
    if origin is tuple:
        return f"a list of {describe_type(get_args(tp)[0], plural=True)} (a,b,c)"
    if origin is Literal:
        return "one of " + "|".join(map(str, get_args(tp)))
    words = _TYPE_WORDS.get(tp)
    return words[plural] if words else getattr(tp, "__name__", str(tp))


def _check_type(name: str, value: Any, tp: Any) -> None:
    origin = get_origin(tp)
    if origin is tuple:
        if not isinstance(value, tuple):
            raise ParamError(f"parameter '{name}' must be {describe_type(tp)}, got {value!r}")
        for v in value:
            _check_type(name, v, get_args(tp)[0])
        return
    if origin is Literal:
        if value not in get_args(tp):
            raise ParamError(f"parameter '{name}' must be {describe_type(tp)}, got {value!r}")
        return
    ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ParamError(f"parameter '{name}' must be {describe_type(tp)}, got {value!r}")


_COUNT_WORDS = {2: "two", 3: "three", 4: "four"}
INT_LIMIT = 2**63  # integers are 64-bit (tensors, NumPy, SQLite)


def _check_list(name: str, value: tuple, meta: Any) -> None:
    """The list rules of `param()`: non-empty, distinct, reference arms present, long enough."""
    if meta.get("nonempty", True) and not value:
        raise ParamError(f"parameter '{name}' must not be empty")
    if meta.get("distinct", True) and len(set(value)) != len(value):
        twice = next(v for i, v in enumerate(value) if v in value[:i])
        raise ParamError(f"parameter '{name}' must not repeat a value (lists {twice} twice), "
                         f"got {_fmt(value)}")
    missing = [r for r in meta.get("requires", ()) if r not in value]
    if missing:
        need = " and ".join(map(str, meta["requires"]))
        need = f"both {need}" if len(meta["requires"]) == 2 else need
        raise ParamError(f"parameter '{name}' must include {need} (the reference the claim "
                         f"compares against), got {_fmt(value)}")
    least = meta.get("min_len", 1)
    if len(set(value)) < least:
        raise ParamError(f"parameter '{name}' needs at least {_COUNT_WORDS.get(least, least)} "
                         f"distinct values (the claim compares them), got {_fmt(value)}")


def _fmt(value: tuple) -> str:
    return ",".join(map(str, value))


def _check_bounds(name: str, value: Any, meta: Any) -> None:
    values = value if isinstance(value, tuple) else (value,)
    if isinstance(value, tuple) and not value:
        _check_list(name, value, meta)
    for v in values:
        if isinstance(v, float) and not math.isfinite(v) and meta.get("finite", True):
            raise ParamError(f"parameter '{name}' must be a finite number, got {v!r}")
        if isinstance(v, int) and not -INT_LIMIT <= v < INT_LIMIT:  # a 64-bit integer
            raise ParamError(f"parameter '{name}' must be between -2**63 and 2**63 - 1, "
                             f"got {str(v)[:30]}")
        for key, op, word in (("ge", lambda a, b: a >= b, ">="), ("gt", lambda a, b: a > b, ">"),
                              ("le", lambda a, b: a <= b, "<="), ("lt", lambda a, b: a < b, "<")):
            bound = meta.get(key)
            if bound is not None and isinstance(v, (int, float)) and not op(v, bound):
                raise ParamError(f"parameter '{name}' must be {word} {bound}, got {v!r}")
        choices = meta.get("choices")
        if choices is not None and v not in choices:
            allowed = ", ".join(map(str, choices))
            raise ParamError(f"parameter '{name}' must be one of {allowed}; got {v!r}")
    if isinstance(value, tuple):
        _check_list(name, value, meta)  # after the values: a bad value is named first


def parse_value(name: str, text: str, tp: Any) -> Any:
    """Parse `text` as a value of type `tp` (lists as `a,b,c`)."""
    origin = get_origin(tp)
    if origin is tuple:
        inner = get_args(tp)[0]
        parts = [t.strip() for t in text.split(",") if t.strip() != ""]
        return tuple(parse_value(name, t, inner) for t in parts)
    if origin is Literal:
        for option in get_args(tp):
            if str(option) == text:
                return option
        raise ParamError(f"parameter '{name}' must be {describe_type(tp)}, got {text!r}")
    try:
        if tp is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        return tp(text)
    except ValueError:
        raise ParamError(f"parameter '{name}' must be {describe_type(tp)}, got {text!r}") from None


def field_types(params_cls: type[Params]) -> dict[str, Any]:
    hints = typing.get_type_hints(params_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(params_cls)}


def build(params_cls: type[Params], presets: dict[str, dict[str, Any]], preset: str = "default",
          overrides: dict[str, Any] | None = None) -> Params:
    """Defaults, then the preset's overrides, then the user's (text values are parsed)."""
    if preset != "default" and preset not in presets:
        allowed = ", ".join(["default", *presets])
        hint = did_you_mean(preset, ["default", *presets])
        raise ParamError(f"unknown preset '{preset}'{hint}; allowed: {allowed}")
    types = field_types(params_cls)
    values: dict[str, Any] = dict(presets.get(preset, {}))
    for key, value in (overrides or {}).items():
        if key not in types:
            import difflib
            close = difflib.get_close_matches(key, list(types), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ParamError(f"unknown parameter '{key}'{hint}; allowed: {', '.join(types)}")
        if isinstance(value, str) and types[key] is not str:
            value = parse_value(key, value, types[key])
        elif isinstance(value, (list, range)) or type(value).__name__ == "ndarray":
            value = tuple(value)
        values[key] = _python_numbers(value)
    return params_cls(**values)


def _python_numbers(value: Any) -> Any:
    """NumPy integers and floats as Python ones (`hidden=np.arange(2, 5)` works like a list)."""
    if isinstance(value, tuple):
        return tuple(_python_numbers(v) for v in value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, float)):
        return float(value)
    return value
