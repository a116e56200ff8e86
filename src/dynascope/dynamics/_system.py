"""The dynamical system a model or a bare step function defines — its map and its vector field — and the one
way every analysis builds it (`as_system`), for dynascope Models, any object with the model methods, and
bare step functions alike."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Protocol, runtime_checkable

import jax
import numpy as np

from dynascope.errors import ConfigError

StepFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


@runtime_checkable
class ModelLike(Protocol):
    """What the dynamics needs of a model: the methods of dynascope's Model contract (DESIGN.md). Any
    object with them is analysed like a `models.Model`, without subclassing it. It may also declare
    `continuous` and `alpha` (an Euler step s + alpha·f(s) of a flow f; default: a map), `flow` (the
    vector field; default (F(s) − s)/alpha), `n_state` and `n_inputs` (checked against the arrays passed),
    `name` and `check_params(params)`."""

    def init(self, key: jax.Array) -> Any: ...

    def initial_state(self, params: Any) -> jax.Array: ...

    def step(self, params: Any, state: jax.Array, x: jax.Array) -> jax.Array: ...

    def readout(self, params: Any, state: jax.Array) -> jax.Array: ...


_METHODS = ("init", "initial_state", "step", "readout")


@dataclasses.dataclass(frozen=True)
class _EulerFlow:
    """The vector field (F(s) − s)/alpha of a bare step function F (hashable, so jit can key on it)."""

    step: StepFn
    alpha: float

    def __call__(self, params: Any, state: jax.Array, x: jax.Array) -> jax.Array:
        return (self.step(params, state, x) - state) / self.alpha


class _Method:
    """`owner.name` as a callable that jit can key its compiled programs on (they are keyed on the System).
    Equal for equal owners: by value where the owner is hashable (dynascope's models are frozen dataclasses,
    so a model built again with the same options reuses the programs of the first), by identity otherwise (a
    user's plain dataclass is not hashable). A bound method would not do: Python compares a bound method's
    owner by identity, so every new but equal model compiled every program again."""

    def __init__(self, owner: Any, name: str):
        self.owner, self.name = owner, name
        try:
            self._key, self._by_value = hash((owner, name)), True
        except TypeError:
            self._key, self._by_value = hash((id(owner), name)), False

    def __call__(self, *args: Any) -> Any:
        return getattr(self.owner, self.name)(*args)

    def __hash__(self) -> int:
        return self._key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Method) or other.name != self.name or other._by_value != self._by_value:
            return False
        return bool(self.owner == other.owner) if self._by_value else other.owner is self.owner

    def __repr__(self) -> str:
        return f"{self.owner!r}.{self.name}"


@dataclasses.dataclass(frozen=True)
class System:
    """A map `step` F and its vector field `flow`; `continuous` says which of the two is analysed.

    For maps `flow` is F(s) − s and alpha is 1. For flows F(s) = s + alpha·flow(s) is the Euler step.
    `name`, `n_state` and `n_inputs` are what the model declares (None for a bare step function), for
    checking the arrays passed against it.
    """

    step: StepFn
    flow: StepFn
    continuous: bool
    alpha: float
    name: str | None = None
    n_state: int | None = None
    n_inputs: int | None = None

    def residual(self, params: Any, state: jax.Array, x: jax.Array) -> jax.Array:
        """F(s) − s `[S]`, computed as alpha·flow so that a continuous model keeps full precision."""
        return self.alpha * self.flow(params, state, x)

    def analysed(self) -> StepFn:
        """The function whose Jacobian is analysed: the flow of a flow, the map F of a map."""
        return self.flow if self.continuous else self.step


def _kind(continuous: Any, alpha: Any) -> tuple[bool, float]:
    """(continuous, alpha) given for a step function that does not declare them (default: a map)."""
    cont = False if continuous is None else continuous
    if not isinstance(cont, bool):
        raise ConfigError(f"continuous must be True or False, got {continuous!r}.")
    a = 1.0 if alpha is None else alpha
    if isinstance(a, bool) or not isinstance(a, (int, float)) or not a > 0:
        raise ConfigError(
            f"alpha (the Euler step dt/τ of a continuous-time step function) must be a positive number, got {alpha!r}."
        )
    if not cont and a != 1.0:
        raise ConfigError(
            f"alpha={alpha!r} was given for a map; pass continuous=True as well if the step function "
            "is an Euler step s + alpha·f(s) of a flow f."
        )
    return cont, float(a)


def _size(model: Any, name: str) -> int | None:
    value = getattr(model, name, None)
    return int(value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else None


def as_system(model: Any, *, continuous: bool | None = None, alpha: float | None = None) -> System:
    """The System of a model: a dynascope `Model`, any object with the model methods (`ModelLike`), or a
    bare callable `step(params, state [S], x [I]) -> state [S]`. Every analysis builds its System here.

    A model that declares `continuous` brings its own `continuous` and `alpha` (passing them too is an
    error); otherwise they default to a map (`continuous=False`, `alpha=1`) and `continuous=True, alpha=a`
    declares the step an Euler step s + a·f(s) of a flow f, analysed as the flow.
    """
    if isinstance(model, type):
        raise ConfigError(
            f"model must be a model object, got the class {model.__name__}; pass an instance, e.g. {model.__name__}(...)."
        )
    if isinstance(model, ModelLike):
        name = getattr(model, "name", None) or type(model).__name__
        declared = getattr(model, "continuous", None)
        if declared is not None:
            if continuous is not None or alpha is not None:
                raise ConfigError(
                    f"continuous={continuous!r} and alpha={alpha!r} were given with the model {name!r}, "
                    f"which defines its own (continuous={declared}, alpha={getattr(model, 'alpha', 1.0)}); "
                    "pass them only with a bare step function."
                )
            cont, a = _kind(bool(declared), getattr(model, "alpha", None) if declared else None)
        else:
            cont, a = _kind(continuous, alpha)
        step = _Method(model, "step")
        flow = _Method(model, "flow") if callable(getattr(model, "flow", None)) else _EulerFlow(step, a)
        return System(step, flow, cont, a, str(name), _size(model, "n_state"), _size(model, "n_inputs"))
    if not callable(model):
        missing = [m for m in _METHODS if not callable(getattr(model, m, None))]
        raise ConfigError(
            "model must be a dynascope Model, an object with the model methods (init, initial_state, step, "
            f"readout), or a callable step(params, state, x) -> state; got {type(model).__name__} {model!r}"
            + (f", which lacks {', '.join(missing)}." if len(missing) < len(_METHODS) else ".")
        )
    cont, a = _kind(continuous, alpha)
    return System(model, _EulerFlow(model, a), cont, a)
