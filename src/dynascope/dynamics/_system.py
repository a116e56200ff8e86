"""The dynamical system a Model or a bare step function defines: its map, its vector field, their Jacobians."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.dynamics._precision import cast, float_dtype, is_floating, x64_scope
from dynascope.dynamics._scheduler import bucket, chunk_networks, map_chunks, pad_rows
from dynascope.errors import ConfigError, ShapeError
from dynascope.models._base import Model

StepFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class _EulerFlow:
    """The vector field (F(s) − s)/alpha of a bare step function F (hashable, so jit can key on it)."""

    step: StepFn
    alpha: float

    def __call__(self, params: Any, state: jax.Array, x: jax.Array) -> jax.Array:
        return (self.step(params, state, x) - state) / self.alpha


@dataclasses.dataclass(frozen=True)
class System:
    """A map `step` F and its vector field `flow`; `continuous` says which of the two is analysed.

    For maps `flow` is F(s) − s and alpha is 1. For flows F(s) = s + alpha·flow(s) is the Euler step.
    """

    step: StepFn
    flow: StepFn
    continuous: bool
    alpha: float

    def residual(self, params: Any, state: jax.Array, x: jax.Array) -> jax.Array:
        """F(s) − s `[S]`, computed as alpha·flow so that a continuous model keeps full precision."""
        return self.alpha * self.flow(params, state, x)

    def analysed(self) -> StepFn:
        """The function whose Jacobian is analysed: the flow of a flow, the map F of a map."""
        return self.flow if self.continuous else self.step


def as_system(model: Any, *, continuous: bool | None = None, alpha: float | None = None) -> System:
    """Resolve a dynascope Model, or a bare callable `step(params, state, x) -> state`, to a System.

    A Model brings its own `continuous` and `alpha`; for a bare callable they default to a map
    (`continuous=False`, `alpha=1`) and `continuous=True, alpha=a` declares it an Euler step of a flow.
    """
    if isinstance(model, Model):
        if continuous is not None or alpha is not None:
            raise ConfigError(
                f"continuous={continuous!r} and alpha={alpha!r} were given with the model {model.name!r}, "
                f"which defines its own (continuous={model.continuous}, alpha={model.alpha}); "
                "pass them only with a bare step function."
            )
        return System(model.step, model.flow, bool(model.continuous), float(model.alpha))
    if not callable(model):
        raise ConfigError(
            "model must be a dynascope Model or a callable step(params, state, x) -> state, "
            f"got {type(model).__name__} {model!r}."
        )
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
    return System(model, _EulerFlow(model, float(a)), cont, float(a))


def check_step(
    system: System,
    model: Any,
    params: Any,
    n_state: int,
    n_inputs: int,
    names: tuple[str, str] = ("initial_states", "inputs"),
    dtype: Any = None,
) -> None:
    """Raise ShapeError unless step(params, state [S], x [I]) returns a state `[S]` (checked abstractly).

    `names` are the caller's arguments that hold the states and the inputs, with their expected shapes,
    for the message. With `dtype`, params, state and input are given in that floating dtype (inside an
    x64 scope for float64) and the step must return its state in it too, as a compiled loop needs."""
    if isinstance(model, Model):
        for name, got, want in (("state", n_state, model.n_state), ("input", n_inputs, model.n_inputs)):
            if got != want:
                raise ShapeError(
                    f"the {model.name!r} model has {name} size {want}, but the arrays passed have {name} "
                    f"size {got}; pass {names[0]} with state size {model.n_state} and {names[1]} with input "
                    f"size {model.n_inputs}."
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
