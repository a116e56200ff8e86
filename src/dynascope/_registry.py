"""One registry for tasks, models and metrics, and options whose constraints are declared next to their default.

An option is a field of a frozen dataclass. Its type is the field's annotation; its constraint (a bound, a set
of choices, non-empty) is declared with `option`:

    gain: float = option(1.0, gt=0)
    alpha: float = option(0.1, gt=0, le=1, doc="the Euler step dt/τ")
    activation: str = option("tanh", choices=("tanh", "relu"))
    coherences: tuple[float, ...] = option((0.1, 0.2), ge=0, nonempty=True)   # bounds apply to every item

`conform` checks a mapping of option values against a class once, at the boundary (`Registry.get`), and
returns them as the annotations want them (a list given for a tuple field becomes a tuple, an int given for
a float field a float). A bad value raises ConfigError naming the option, the value received and what is
expected. Rules that relate two options stay in the class's `validate`.

A subclass that only changes an option's default (`dt: float = 20.0`) keeps the constraint its base
declared; a subclass that declares `option(...)` again replaces it.

This module is the bottom layer next to `dynascope.errors`: it imports nothing else from dynascope.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from dynascope.errors import ConfigError, unknown_name

#: Key of an `Option` in a dataclass field's metadata.
_KEY = "dynascope.option"

_NO = object()  # a value that does not conform to an annotation

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Option:
    """The declared constraint of one option. Bounds apply to a number, or to every item of a tuple."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    choices: tuple[Any, ...] | None = None
    nonempty: bool = False
    doc: str = ""

    def broken_by(self, value: Any) -> Any:
        """The value (or tuple item) that breaks the constraint, or `_NO` if none does."""
        if self.nonempty and isinstance(value, tuple) and not value:
            return value
        for v in value if isinstance(value, tuple) else (value,):
            if self.choices is not None and v not in self.choices:
                return v
            if isinstance(v, numbers.Real) and not isinstance(v, bool) and not self._in_bounds(v):
                return v
        return _NO

    def _in_bounds(self, v: float) -> bool:
        return ((self.gt is None or v > self.gt) and (self.ge is None or v >= self.ge)
                and (self.lt is None or v < self.lt) and (self.le is None or v <= self.le))

    def describe(self) -> str:
        """The constraint in words: 'in (0, 1]', '>= 2', "one of 'tanh', 'relu'", or ''."""
        if self.choices is not None:
            return "one of " + ", ".join(map(repr, self.choices))
        low = (f"({_num(self.gt)}", self.gt) if self.gt is not None else (f"[{_num(self.ge)}", self.ge)
        high = (f"{_num(self.lt)})", self.lt) if self.lt is not None else (f"{_num(self.le)}]", self.le)
        if low[1] is not None and high[1] is not None:
            return f"in {low[0]}, {high[0]}"
        if low[1] is not None:
            return f"> {_num(self.gt)}" if self.gt is not None else f">= {_num(self.ge)}"
        if high[1] is not None:
            return f"< {_num(self.lt)}" if self.lt is not None else f"<= {_num(self.le)}"
        return ""


def _num(x: float | None) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def option(
    default: Any = dataclasses.MISSING,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    choices: tuple[Any, ...] | None = None,
    nonempty: bool = False,
    doc: str = "",
) -> Any:
    """A dataclass field with a default (none: the option is required) and a declared constraint.

    The registry (`get`) checks every value against it and names the option in a ConfigError.

    Args:
        default: the default value (omitted: the option is required).
        gt: exclusive lower bound of a number, or of every item of a tuple of numbers.
        ge: inclusive lower bound (give at most one of gt/ge).
        lt: exclusive upper bound.
        le: inclusive upper bound (give at most one of lt/le).
        choices: the allowed values (of a string option, or of every item of a tuple).
        nonempty: a tuple must hold at least one item.
        doc: a few words on what the option means, shown in error messages ("the Euler step dt/τ").

    Returns:
        A `dataclasses.field` carrying the constraint in its metadata.

    Raises:
        TypeError: both gt and ge, or both lt and le (a mistake in the declaring class, not in user input).
    """
    if gt is not None and ge is not None or lt is not None and le is not None:
        raise TypeError("option: give at most one lower bound (gt or ge) and one upper bound (lt or le)")
    spec = Option(gt, ge, lt, le, None if choices is None else tuple(choices), nonempty, doc)
    return dataclasses.field(default=default, metadata={_KEY: spec})


def declared(cls: type, name: str) -> Option:
    """The constraint of option `name` of dataclass `cls`: declared by the most derived class that used
    `option` for it (a plain default in a subclass keeps its base's constraint), else no constraint."""
    for klass in cls.__mro__:
        field = klass.__dict__.get("__dataclass_fields__", {}).get(name)
        if field is not None and _KEY in field.metadata:
            return field.metadata[_KEY]
    return Option()


# -- types --------------------------------------------------------------------------------------------
def _conform(value: Any, hint: Any) -> Any:
    """`value` as the annotation `hint` wants it (a list given for a tuple becomes a tuple), or `_NO`.
    Annotations this does not know (Any, a class of its own) accept every value."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for alternative in args:
            got = _conform(value, alternative)
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


def describe(hint: Any, constraint: Option = Option()) -> str:
    """What an option annotated `hint` with `constraint` must be, in words: 'a number in (0, 1]',
    'an integer >= 2', "one of 'tanh', 'relu'", 'a non-empty list of numbers >= 0'."""
    rule = constraint.describe()
    if constraint.choices is not None and typing.get_origin(hint) is not tuple:
        return rule
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a, constraint) if a is not type(None) else "None" for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            what = f"{'a non-empty' if constraint.nonempty else 'a'} list of {_plural(args[0])}"
        else:
            what = f"a list of {len(args)} {_plural(args[0]) if len(set(args)) == 1 else 'values'}"
        return f"{what}, each {rule}" if rule.startswith("one of") else f"{what} {rule}".rstrip()
    what = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            type(None): "None"}.get(hint, getattr(hint, "__name__", str(hint)))
    return f"{what} {rule}".rstrip()


def _plural(hint: Any) -> str:
    return {bool: "true/false values", int: "integers", float: "numbers", str: "strings"}.get(hint, "values")


def conform(owner: str, cls: type, options: Mapping[str, Any]) -> dict[str, Any]:
    """Check each of `options` against the annotation and the declared constraint of the field of dataclass
    `cls` it sets, and return them as the annotations want them (lists given for tuple fields made tuples:
    TOML and JSON have no tuples; integers given for float fields made floats).

    Raises ConfigError naming `owner` (e.g. "task 'flipflop'"), the option, the value received and what is
    expected, with the default as an example.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = {}
    for name, value in options.items():
        field = fields.get(name)
        default = field.default if field is not None else dataclasses.MISSING
        out[name] = check_value(owner, name, value, hints.get(name, Any), declared(cls, name), default)
    return out


def check_value(
    owner: str, name: str, value: Any, hint: Any, constraint: Option = Option(), default: Any = dataclasses.MISSING
) -> Any:
    """`value` of option `name` as the annotation `hint` wants it, if it conforms to `hint` and `constraint`;
    else ConfigError naming `owner`, the option, the value received and what is expected (with `default`,
    if given, as an example)."""
    got = _conform(value, hint)
    broken = _NO if got is _NO else constraint.broken_by(got)
    if got is not _NO and broken is _NO:
        return got
    example = f"; e.g. {name}={default!r} (the default)" if default is not dataclasses.MISSING else ""
    finite = " (NaN and inf are not allowed)" if _non_finite(value) else ""
    item = (f"; {broken!r} is not {constraint.describe()}"
            if got is not _NO and isinstance(got, tuple) and broken is not got else "")
    doc = f" ({constraint.doc})" if constraint.doc else ""
    raise ConfigError(
        f"{owner}: option {name}{doc} must be {describe(hint, constraint)}{finite}, got {value!r} "
        f"({type(value).__name__}{item}){example}."
    )


def _non_finite(value: Any) -> bool:
    values = value if isinstance(value, (list, tuple)) else (value,)
    return any(isinstance(v, float) and not math.isfinite(v) for v in values)


def check_names(owner: str, given: Mapping[str, Any] | list[str], known: list[str]) -> None:
    """ConfigError naming the options of `given` that are not in `known`, listing `known` and the closest one."""
    bad = sorted(set(given) - set(known))
    if not bad:
        return
    close = difflib.get_close_matches(bad[0], known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"{owner} has no option {', '.join(map(repr, bad))}; its options are: "
        f"{', '.join(sorted(known)) or '(none)'}.{hint}"
    )


# -- the registry -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """One option of a registered entry, as listed to a user: its name, what it must be ('a number in (0, 1]'),
    its default (`dataclasses.MISSING` when required) and what it means ('' when undocumented)."""

    name: str
    expects: str
    default: Any
    doc: str


class Registry(Generic[T]):
    """Entries found by name: task classes, model classes, metrics.

    kind: what an entry is, in messages ("task", "model", "metric"). required: keyword arguments every
    entry class takes in `get` (a model's sizes) that are checked like options but not listed among them.
    plugins: an entry-point group (`[project.entry-points."dynascope.tasks"]` in a package's pyproject.toml):
    its entries are registered under their entry-point names the first time the registry is listed or a name
    is not found, so an entry that lives in a higher layer or another package (the `recording` task, a
    lab's own tasks) is there whatever was imported first.
    """

    def __init__(self, kind: str, *, required: tuple[str, ...] = (), plugins: str | None = None) -> None:
        self.kind = kind
        self.required = required
        self._entries: dict[str, T] = {}
        self._plugins = plugins

    def _load_plugins(self) -> None:
        group, self._plugins = self._plugins, None  # once; a plugin's import may register entries itself
        if group is None:
            return
        from importlib.metadata import entry_points

        for point in entry_points(group=group):
            if point.name not in self._entries:
                entry = point.load()
                if point.name not in self._entries:  # its module did not register it as it was imported
                    self.register(point.name)(entry)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers its argument as `name` (a class also gets `cls.name = name`)."""

        def deco(entry: T) -> T:
            self.add(name, entry)
            if isinstance(entry, type):
                entry.name = name  # type: ignore[attr-defined]
            return entry

        return deco

    def add(self, name: str, entry: T) -> None:
        """Register `entry` as `name`; a name is registered once (a second one is a programming error)."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a {self.kind} name must be a non-empty string, got {name!r}.")
        if name in self._entries:
            raise ConfigError(f"{self.kind} {name!r} is registered twice; choose another name.")
        self._entries[name] = entry

    def names(self) -> list[str]:
        """Registered names, in the order they were registered."""
        self._load_plugins()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[T]:
        self._load_plugins()
        return iter(self._entries.values())

    def lookup(self, name: str) -> T:
        """The entry registered as `name`; UnknownNameError listing the names (and the closest one) if none."""
        if not isinstance(name, str):
            raise ConfigError(f"{self.kind} name must be a string, got {name!r} ({type(name).__name__}).")
        if name not in self._entries:
            self._load_plugins()
        if name not in self._entries:
            raise unknown_name(self.kind, name, sorted(self._entries))
        return self._entries[name]

    def options(self, name: str) -> list[str]:
        """The options of the entry class registered as `name` (its init fields, less `required`)."""
        cls = self.lookup(name)
        return [f.name for f in dataclasses.fields(cls) if f.init and f.name not in self.required]  # type: ignore[arg-type]

    def option_specs(self, name: str) -> list[OptionSpec]:
        """Every option of the entry class registered as `name`: its type and its declared constraint in
        words, its default (`dataclasses.MISSING` when required) and what it means — for listings (the
        CLI's `tasks NAME` / `models NAME`)."""
        cls = self.lookup(name)
        hints = typing.get_type_hints(cls)
        specs = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if not f.init or f.name in self.required:
                continue
            default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
            constraint = declared(cls, f.name)
            specs.append(OptionSpec(f.name, describe(hints.get(f.name, Any), constraint), default, constraint.doc))
        return specs

    def get(self, name: str, **options: Any) -> Any:
        """Build the entry class registered as `name` from `options`, checked once here: unknown options
        (ConfigError listing the options), each value's type and declared constraint (`conform`), then the
        class's own `validate` for rules that relate several options."""
        cls = self.lookup(name)
        owner = f"{self.kind} {name!r}"
        check_names(owner, [k for k in options if k not in self.required], self.options(name))
        instance = cls(**conform(owner, cls, options))  # type: ignore[operator]
        validate = getattr(instance, "validate", None)
        if validate is not None:
            validate()
        return instance
