"""The metric registry: one entry per metric carries everything the study, the CLI and the report need.

A metric module registers its own distance where it defines it:

    @register_metric("cka", kind=GEOMETRY, units="unitless", takes=TRAJECTORIES, prepare=principal_basis,
                     description="1 − linear CKA", invariant_to="rotations, reflections and isotropic scaling")
    def cka_distance(X, Y): ...

`prepare` runs once per network before the n(n−1)/2 comparisons (e.g. one SVD each instead of one per
pair); `distance` then compares two prepared networks. Keyword options of either function (SVCCA's `keep`,
DSA's `n_delays`) are the metric's options: `get_metric(name, **options)` checks their names and types and
binds them. Adding a metric is writing one file that calls `register_metric` and importing it (a package's
`__init__`, or the user's own code before `study` runs); `study`, the CLI's `--metric` and the report read
this registry and change nowhere.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from dynascope._registry import Registry, check_names, check_value
from dynascope.errors import ConfigError

#: What a metric compares, in the order the study computes and shows them.
GEOMETRY = "geometry"
DYNAMICS = "dynamics"
TOPOLOGY = "topology"
KINDS = (GEOMETRY, DYNAMICS, TOPOLOGY)

#: Which input of each network a metric takes.
#: States `[trials, time, units]` of every network on the same task trials (zero-padded to the widest
#: network when the metric runs inside JAX).
TRAJECTORIES = "trajectories"
#: The skeleton signatures of a network under each analysis input (a list of dicts, as
#: `dynascope.dynamics.signature` returns and the `skeletons` table stores; needs `dynascope analyze`).
SIGNATURES = "signatures"
TAKES = (TRAJECTORIES, SIGNATURES)

#: Keyword a `prepare` function may take to receive the unit count of the smallest network compared
#: (a fact about the population, not an option: DSA caps its operator rank with it).
MIN_UNITS = "min_units"

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class Metric:
    """A registered distance between two networks and what it means.

    name: the metric's name (catalog, CLI, report). distance: `distance(a, b) -> scalar` between two
    prepared networks. kind: GEOMETRY, DYNAMICS or TOPOLOGY. units: unit of the distance ('unitless',
    'rad'). description: what the distance measures, for axes and captions. invariant_to: the
    transformations that leave it unchanged. takes: TRAJECTORIES or SIGNATURES. prepare: per-network step
    run once before the comparisons, or None. jit: True when `prepare` and `distance` are JAX functions
    (all pairs run vmapped in one compiled program); False for host (NumPy, Python) code compared in a
    loop. classify: for a metric whose inputs fall into discrete classes (topology), a network's class as
    text; the study then reports the share of each architecture in the modal class. expensive: an
    optimisation per pair, so the study runs it on a subset of at most `StudyOptions.max_dsa_networks`
    networks. min_trials: the fewest task trials (conditions) it needs. options: the option values bound
    by `get_metric`.
    """

    name: str
    distance: Callable[[Any, Any], Any]
    kind: str
    units: str
    description: str
    invariant_to: str
    takes: str = TRAJECTORIES
    prepare: Callable[..., Any] | None = None
    jit: bool = True
    classify: Callable[[Any], str] | None = None
    expensive: bool = False
    min_trials: int = 1
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    def option_defaults(self) -> dict[str, Any]:
        """Every option of the metric (keyword options of `prepare` and `distance`) with its default."""
        out: dict[str, Any] = {}
        for fn in (self.prepare, self.distance):
            out.update(_keyword_defaults(fn))
        out.pop(MIN_UNITS, None)  # a fact the study passes, not an option
        return out

    def bind(self, **options: Any) -> "Metric":
        """This metric with `options` bound (checked: unknown names listed, types against the annotations)."""
        defaults = self.option_defaults()
        check_names(f"metric {self.name!r}", options, list(defaults))
        hints = {**_hints(self.prepare), **_hints(self.distance)}
        owner = f"metric {self.name!r}"
        checked = {k: check_value(owner, k, v, hints.get(k, Any), default=defaults[k]) for k, v in options.items()}
        return dataclasses.replace(self, options={**self.options, **checked})

    def prepare_fn(self, **population: Any) -> Callable[[Any], Any] | None:
        """`prepare` with the bound options and the population facts it asks for (`min_units`), or None."""
        if self.prepare is None:
            return None
        accepted = _keyword_defaults(self.prepare)
        kwargs = {k: v for k, v in {**self.options, **population}.items() if k in accepted}
        return functools.partial(self.prepare, **kwargs) if kwargs else self.prepare

    def distance_fn(self) -> Callable[[Any, Any], Any]:
        """`distance` with the bound options that it takes."""
        accepted = _keyword_defaults(self.distance)
        kwargs = {k: v for k, v in self.options.items() if k in accepted}
        return functools.partial(self.distance, **kwargs) if kwargs else self.distance


def _keyword_defaults(fn: Callable[..., Any] | None) -> dict[str, Any]:
    """Keyword parameters of `fn` that have a default (its options), with the default."""
    if fn is None:
        return {}
    params = inspect.signature(fn).parameters.values()
    return {p.name: p.default for p in params
            if p.default is not inspect.Parameter.empty
            and p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)}


def _hints(fn: Callable[..., Any] | None) -> dict[str, Any]:
    """Annotations of `fn` (unwrapping a functools.partial); unknown ones accept any value."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if fn is None:
        return {}
    try:
        return typing.get_type_hints(fn)
    except (NameError, TypeError):  # a forward reference the checker cannot resolve: accept any value
        return {}


_METRICS: Registry[Metric] = Registry("metric")


def register_metric(
    name: str,
    *,
    kind: str,
    units: str,
    description: str,
    invariant_to: str,
    takes: str = TRAJECTORIES,
    prepare: Callable[..., Any] | None = None,
    jit: bool = True,
    classify: Callable[[Any], str] | None = None,
    expensive: bool = False,
    min_trials: int = 1,
) -> Callable[[F], F]:
    """Decorator that registers a distance function `f(a, b) -> scalar` as the metric `name`.

    Returns the function unchanged, so a module can decorate its public distance where it defines it.
    The arguments become the fields of the registered `Metric`.

    Args:
        name: the metric's name (catalog, CLI, report).
        kind: GEOMETRY, DYNAMICS or TOPOLOGY.
        units: unit of the distance ('unitless', 'rad').
        description: what the distance measures, for axes and captions.
        invariant_to: the transformations that leave it unchanged.
        takes: TRAJECTORIES (states) or SIGNATURES (skeleton signatures).
        prepare: per-network step run once before the comparisons, or None.
        jit: True when `prepare` and `distance` are JAX functions (all pairs run vmapped in one compiled
            program); False for host code compared in a loop (required for SIGNATURES).
        classify: a network's class as text, for metrics whose inputs fall into discrete classes, or None.
        expensive: an optimisation per pair, so `study` runs it on a subset of the networks.
        min_trials: the fewest task trials (conditions) it needs (≥ 1).

    Returns:
        The decorator.

    Raises:
        ConfigError: an unknown `kind` or `takes`, `takes=SIGNATURES` with `jit=True`, a non-callable
        `prepare`/`classify`, `min_trials` < 1, a non-callable decorated object, or a name registered twice.
    """
    if kind not in KINDS:
        raise ConfigError(f"register_metric({name!r}): kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}.")
    if takes not in TAKES:
        raise ConfigError(f"register_metric({name!r}): takes must be one of {', '.join(map(repr, TAKES))}, got {takes!r}.")
    if takes == SIGNATURES and jit:
        raise ConfigError(f"register_metric({name!r}): signatures (dicts) cannot be compared inside JAX; pass jit=False.")
    for arg, fn in (("prepare", prepare), ("classify", classify)):
        if fn is not None and not callable(fn):
            raise ConfigError(f"register_metric({name!r}): {arg} must be a function or None, got {fn!r}.")
    if isinstance(min_trials, bool) or not isinstance(min_trials, int) or min_trials < 1:
        raise ConfigError(f"register_metric({name!r}): min_trials must be an integer >= 1, got {min_trials!r}.")

    def deco(distance: F) -> F:
        if not callable(distance):
            raise ConfigError(f"register_metric({name!r}) decorates a distance function, got {distance!r}.")
        _METRICS.add(name, Metric(name, distance, kind, units, description, invariant_to, takes, prepare, jit,
                                  classify, expensive, min_trials))
        return distance

    return deco


def metrics() -> list[Metric]:
    """Every registered metric, in the order the study computes and shows them: geometry, dynamics,
    topology, each in the order registered."""
    return sorted(_METRICS, key=lambda m: KINDS.index(m.kind))


def metric_names() -> list[str]:
    """Names of every registered metric, in the order of `metrics()`."""
    return [m.name for m in metrics()]


def get_metric(name: str, **options: Any) -> Metric:
    """The metric registered as `name`, with `options` bound (see `Metric.bind`).

    Args:
        name: a registered metric name, e.g. 'cca', 'dsa', 'topology'.
        **options: keyword options of the metric's `prepare`/`distance` to bind (e.g. `keep=0.95`).

    Returns:
        The `Metric`, with `options` holding the bound values.

    Raises:
        UnknownNameError: no metric of that name (lists the registered ones and the closest name);
        ConfigError: an option the metric does not take or a value of the wrong type.
    """
    return _METRICS.lookup(name).bind(**options) if options else _METRICS.lookup(name)
