"""The dynamical system a model or a bare step function defines: its map, its vector field, their Jacobians."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.dynamics._precision import cast, float_dtype, is_floating, x64_scope
from dynascope.dynamics._scheduler import bucket, chunk_networks, map_chunks, pad_rows
from dynascope.errors import ConfigError, ShapeError

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
    """`owner.name` as a callable that is hashed and compared by the identity of `owner`: jit keys its
    compiled programs on the System, and a user's model need not be hashable (a plain dataclass is not)."""

    def __init__(self, owner: Any, name: str):
        self.owner, self.name = owner, name

    def __call__(self, *args: Any) -> Any:
        return getattr(self.owner, self.name)(*args)

    def __hash__(self) -> int:
        return hash((id(self.owner), self.name))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Method) and other.owner is self.owner and other.name == self.name


def _method(owner: Any, name: str) -> StepFn:
    try:
        hash(owner)
    except TypeError:
        return _Method(owner, name)
    return getattr(owner, name)


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
        step = _method(model, "step")
        flow = _method(model, "flow") if callable(getattr(model, "flow", None)) else _EulerFlow(step, a)
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


def check_params(model: Any, params: Any) -> None:
    """The model's own check of its parameters (`Model.check_params`), where it has one."""
    check = getattr(model, "check_params", None)
    if callable(check):
        check(params)


def check_step(
    system: System,
    params: Any,
    n_state: int,
    n_inputs: int,
    names: tuple[str, str] = ("initial_states", "inputs"),
    dtype: Any = None,
) -> None:
    """Raise ShapeError unless step(params, state [S], x [I]) returns a state `[S]` (checked abstractly).

    `names` are the caller's arguments that hold the states and the inputs, with their expected shapes,
    for the message; sizes the model declares (`System.n_state`, `n_inputs`) are checked first. With
    `dtype`, params, state and input are given in that floating dtype (inside an x64 scope for float64)
    and the step must return its state in it too, as a compiled loop needs."""
    for name, got, want in (("state", n_state, system.n_state), ("input", n_inputs, system.n_inputs)):
        if want is not None and got != want:
            raise ShapeError(
                f"the {system.name!r} model has {name} size {want}, but the arrays passed have {name} "
                f"size {got}; pass {names[0]} with state size {system.n_state} and {names[1]} with input "
                f"size {system.n_inputs}."
            )
    want = np.dtype(dtype) if dtype is not None else float_dtype(params, np.zeros(0, np.float32))
    prm = params if dtype is None else jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(np.shape(a), want) if is_floating(a) else a, params
    )
    state = jax.ShapeDtypeStruct((n_state,), want)
    x = jax.ShapeDtypeStruct((n_inputs,), want)
    try:
        with x64_scope(dtype is not None and want == np.float64):
            out = jax.eval_shape(system.step, prm, state, x)
    except Exception as err:  # re-raised with the shapes that were tried; never swallowed
        raise ShapeError(
            f"step(params, state [{n_state}], x [{n_inputs}]) failed: {err}. "
            f"Check that {names[0]} (state size {n_state} here) and {names[1]} (input size {n_inputs} here) have "
            "the sizes this step function expects."
        ) from err
    if getattr(out, "shape", None) != (n_state,):
        raise ShapeError(
            f"step(params, state [{n_state}], x [{n_inputs}]) must return a state of shape ({n_state},), "
            f"got {getattr(out, 'shape', type(out).__name__)}: the next state, of the size of {names[0]}."
        )
    if dtype is not None and np.dtype(out.dtype) != want:
        raise ShapeError(
            f"step(params, state [{n_state}] {want}, x [{n_inputs}]) returned its state as {np.dtype(out.dtype)}; "
            f"it must keep the dtype it is given ({want}, in which this analysis runs): do not cast inside the step."
        )


def check_finite(name: str, value: Any, hint: str = "") -> None:
    """Raise ConfigError naming `name` (for a pytree, `name` plus the leaf's path), how many values are
    NaN or ±inf, and the first of them with its index, when a floating leaf of `value` is not finite."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(value):
        a = np.asarray(leaf)
        if not np.issubdtype(a.dtype, np.inexact):
            continue
        bad = ~np.isfinite(a)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            where = name + jax.tree_util.keystr(path)
            at = f" at index {first}" if first else ""
            value = complex(a[first]) if np.iscomplexobj(a) else float(a[first])
            raise ConfigError(
                f"{where} holds {int(bad.sum())} non-finite value(s) (the first, {value}{at}); "
                f"expected finite numbers.{' ' + hint if hint else ''}"
            )


# -- Jacobians --------------------------------------------------------------------------------------
def _jacobians_one(system: System, with_inputs: bool, params: Any, states: jax.Array, inputs: jax.Array):
    f = system.analysed()

    def value_and_value(p: Any, s: jax.Array, u: jax.Array) -> tuple[jax.Array, jax.Array]:
        out = f(p, s, u)
        return out, out

    jac, value = jax.vmap(jax.jacfwd(value_and_value, argnums=1, has_aux=True), in_axes=(None, 0, 0))(
        params, states, inputs
    )
    # the residual F(s) − s that the stability tolerance needs comes with the Jacobian at no extra pass
    residual = system.alpha * value if system.continuous else value - states
    if not with_inputs:
        return jac, None, residual
    jac_in = jax.vmap(jax.jacfwd(f, argnums=2), in_axes=(None, 0, 0))(params, states, inputs)
    return jac, jac_in, residual


@functools.partial(jax.jit, static_argnames=("system", "with_inputs", "population"))
def _jacobians(
    system: System,
    params: Any,
    states: jax.Array,
    inputs: jax.Array,
    *,
    with_inputs: bool,
    population: bool,
):
    one = functools.partial(_jacobians_one, system, with_inputs)
    return jax.vmap(one)(params, states, inputs) if population else one(params, states, inputs)


def jacobians(
    system: System,
    params: Any,
    states: np.ndarray,
    inputs: np.ndarray,
    *,
    float64: bool,
    population: bool = False,
    with_inputs: bool = False,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Jacobians of the analysed function (map F, or flow f) at `states [(n,) P, S]` under `inputs [(n,) P, I]`.

    Returns host arrays `[(n,) P, S, S]`, with `with_inputs` the input Jacobians `[(n,) P, S, I]` (else
    None), and the residuals F(s) − s `[(n,) P, S]` of the map that runs (for a flow alpha·f(s)).
    The point axis is padded to a power of two for the compiled call, so few shapes are ever compiled.
    With `float64`, params and points are cast to float64 inside a `jax.enable_x64` scope.
    """
    axis = 1 if population else 0
    p = states.shape[axis]
    size = bucket(p)
    states_p, inputs_p = pad_rows(states, size, axis), pad_rows(inputs, size, axis)
    with x64_scope(float64):
        dtype = np.float64 if float64 else float_dtype(params, states)

        def run(prm: Any, s: np.ndarray, u: np.ndarray) -> tuple:
            jac, jac_in, res = _jacobians(
                system, cast(prm, dtype), jnp.asarray(s, dtype), jnp.asarray(u, dtype),
                with_inputs=with_inputs, population=population,
            )
            return np.asarray(jac), None if jac_in is None else np.asarray(jac_in), np.asarray(res)

        if population:
            n_state, n_in = states.shape[-1], inputs.shape[-1]
            chunk = chunk_networks(size * n_state * (n_state + (n_in if with_inputs else 0)))
            jac, jac_in, res = map_chunks(run, params, (states_p, inputs_p), chunk)
        else:
            jac, jac_in, res = run(params, states_p, inputs_p)
    index = (slice(None), slice(0, p)) if population else (slice(0, p),)
    return jac[index], None if jac_in is None else jac_in[index], res[index]
