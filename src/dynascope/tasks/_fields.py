"""Option values checked against the annotations of a dataclass's fields: one generic check at the registry
boundary (`tasks.get`, `models.get`) instead of one per option, so `pulse_prob="abc"` is refused with a
message naming the option, the value and the type expected, before any option is used."""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any

from dynascope.errors import ConfigError

_NO = object()  # a value that does not conform


def _conform(value: Any, hint: Any) -> Any:
    """`value` as the annotation `hint` wants it (a list given for a tuple becomes a tuple), or `_NO`.
    Annotations this does not know (Any, a class of its own) accept every value."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            got = _conform(value, option)
            if got is not _NO:
                return got
        return _NO
    if hint is type(None):
        return value if value is None else _NO
    if hint is bool:
        return value if isinstance(value, bool) else _NO
    if hint is int:
        return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else _NO
    if hint is float:
        # NaN and inf are never a meaningful option (a gain, a time constant, a probability): NaN poisons
        # every network silently, and NaN != NaN made a stored config never equal itself on --resume.
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        return float(value) if ok else _NO  # 2 and 2.0 are one option value (and one fingerprint)
    if hint is str:
        return value if isinstance(value, str) else _NO
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return _NO
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(items) != len(value):
            return _NO
        out = tuple(_conform(v, h) for v, h in zip(value, items))
        return _NO if any(v is _NO for v in out) else out
    return value


def describe(hint: Any) -> str:
    """The annotation `hint` in words: 'a number', 'an integer', 'a list of numbers', ..."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        return f"a list of {len(args)} {_plural(args[0]) if len(set(args)) == 1 else 'values'}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            type(None): "None"}.get(hint, getattr(hint, "__name__", str(hint)))


def _plural(hint: Any) -> str:
    return {bool: "true/false values", int: "integers", float: "numbers", str: "strings"}.get(hint, "values")


def check_option_types(owner: str, cls: type, options: Mapping[str, Any]) -> dict[str, Any]:
    """Check each of `options` against the annotation of the field of dataclass `cls` it sets; return them
    with lists given for tuple fields made tuples (TOML and JSON have no tuples). Raise ConfigError naming
    `owner` (e.g. "task 'flipflop'"), the option, the value and the type expected, with the default as an
    example."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = {}
    for name, value in options.items():
        got = _conform(value, hints.get(name, Any))
        if got is _NO:
            default = fields[name].default if name in fields else dataclasses.MISSING
            example = f"; e.g. {name}={default!r} (the default)" if default is not dataclasses.MISSING else ""
            finite = "" if not isinstance(value, float) or math.isfinite(value) else " (NaN and inf are not allowed)"
            raise ConfigError(
                f"{owner}: option {name} must be {describe(hints[name])}{finite}, got {value!r} "
                f"({type(value).__name__}){example}."
            )
        out[name] = got
    return out
