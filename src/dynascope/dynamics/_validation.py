"""Checks of the arguments of the dynamics functions at their boundary: the step against the arrays passed,
finiteness, the model's own parameter check, and the population axis. Each raises a DynascopeError naming
the argument, the value received and the fix."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.dynamics._precision import float_dtype, is_floating, x64_scope
from dynascope.dynamics._system import System
from dynascope.errors import ConfigError, ShapeError


def one_network(params: Any) -> Any:
    """The shapes and dtypes (`jax.ShapeDtypeStruct`) of one network of stacked `params`: what the shape checks
    need, without indexing the arrays (on the host, each parameter shape would compile a program of its own)."""
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a)[1:], np.result_type(a)), params)


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


def population_size(stacked_params: Any) -> int:
    """The number of networks n, the leading axis every leaf of a population's params shares (ShapeError if not)."""
    sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in jax.tree.leaves(stacked_params)}
    if len(sizes) != 1 or None in sizes:
        raise ShapeError(
            "params of a population must hold arrays that all have the same leading network axis n, "
            f"got leading sizes {sorted(map(str, sizes))}; stack per-network params with "
            "jax.tree.map(lambda *a: jnp.stack(a), *networks)."
        )
    return int(sizes.pop())


def network_count(model: Any, system: System, params: Any, n_state: int, n_inputs: int) -> int | None:
    """None when `params` are one network's, else the number n of networks stacked on their leading axis.

    A model's `init` decides: a population's leaves have one axis more than the ones it makes. For a bare
    step function, params the step takes as they are are one network's; params it cannot take, whose
    leaves share a leading axis and whose first slice it takes, are a population (a step that takes both,
    e.g. one scalar per network with as many networks as state coordinates, reads them as one network's:
    the caller says "population" by passing one set of initial states per network). Params neither way
    raise the ShapeError of the step on the params as given."""
    init = getattr(model, "init", None)
    if callable(init) and not isinstance(model, type):
        try:
            ref = jax.tree.leaves(jax.eval_shape(init, jax.random.key(0)))
        except Exception:  # an init with another signature: fall back to trying the step
            ref = None
        if ref:
            got = [np.ndim(leaf) for leaf in jax.tree.leaves(params)]
            if len(got) == len(ref) and all(g == len(r.shape) + 1 for g, r in zip(got, ref)):
                return population_size(params)
            return None
    try:
        check_step(system, params, n_state, n_inputs)
        return None
    except ShapeError as err:
        as_given = err
    try:
        n = population_size(params)
        check_step(system, one_network(params), n_state, n_inputs)
    except ShapeError:
        raise as_given from None
    return n


def constant_input(system: System, inputs: Any) -> np.ndarray:
    """`inputs` as one constant input `[I]` (of the model's declared size), else ShapeError."""
    x = np.asarray(inputs)  # NumPy, not jnp: a float64 input must not be rounded to float32 before the x64 scope
    if x.ndim != 1 or (system.n_inputs is not None and x.shape != (system.n_inputs,)):
        expected = "[I]" if system.n_inputs is None else f"({system.n_inputs},)"
        raise ShapeError(
            f"inputs must be one constant input of shape {expected}, got shape {tuple(x.shape)}; "
            "pass a single input vector (use inputs[0] for one row of a batch)."
        )
    return x


def state_array(system: System, name: str, states: Any, ndim: int) -> np.ndarray:
    """`states` as `[K, S]` (ndim 2) or `[S]` (ndim 1) with the model's declared S, else ShapeError naming `name`."""
    states = np.asarray(states)
    want = "[K, S]" if ndim == 2 else "[S]"
    if states.ndim != ndim or (system.n_state is not None and states.shape[-1] != system.n_state):
        size = "S" if system.n_state is None else system.n_state
        hint = "; add a leading axis with states[None]" if states.ndim == ndim - 1 else ""
        raise ShapeError(
            f"{name} must have shape {want} with S = {size}, got shape {tuple(states.shape)}{hint}."
        )
    return states


def check_float64_step(
    system: System, params: Any, x: np.ndarray, state_name: str, states: np.ndarray
) -> None:
    """ConfigError for non-finite params, input or states; ShapeError unless the step maps a float64
    state `[S]` under a float64 input `[I]` to a float64 state `[S]` (what the compiled loops run)."""
    fix = "Pass finite values (a NaN here would make every orbit NaN)."
    for name, value in (("params", params), ("inputs", x), (state_name, states)):
        check_finite(name, value, fix)
    check_step(system, params, states.shape[-1], x.shape[0], names=(state_name, "inputs"), dtype=np.float64)


def start_state_vector(start_state: Any) -> np.ndarray:
    """`start_state` as one state `[S]`, else ShapeError."""
    start = np.asarray(start_state)
    if start.ndim != 1:
        raise ShapeError(f"start_state must be one state of shape [S], got shape {tuple(start.shape)}.")
    return start


def check_family(family: Callable, n_state: int) -> None:
    """ShapeError unless `family(state [S], p [])` maps a float64 state to a float64 state `[S]`."""
    if not callable(family):
        raise ConfigError(f"family must be a callable family(state [S], p) -> next state [S], got {type(family).__name__}.")
    state = jax.ShapeDtypeStruct((n_state,), jnp.float64)
    p = jax.ShapeDtypeStruct((), jnp.float64)
    try:
        with jax.enable_x64(True):
            out = jax.eval_shape(family, state, p)
    except Exception as err:  # re-raised with the shapes that were tried; never swallowed
        raise ShapeError(
            f"family(state [{n_state}], p []) failed: {err}. start_state has {n_state} entries: check that the "
            "family takes a state of that size and a scalar parameter."
        ) from err
    if getattr(out, "shape", None) != (n_state,):
        raise ShapeError(
            f"family(state [{n_state}], p []) must return the next state, of shape ({n_state},) like start_state, "
            f"got {getattr(out, 'shape', type(out).__name__)}."
        )
    if np.dtype(out.dtype) != np.float64:
        raise ShapeError(
            f"family(state [{n_state}] float64, p [] float64) returned its state as {np.dtype(out.dtype)}; it must "
            "keep float64 (continuation runs in float64): close over float64 or Python-number constants."
        )
